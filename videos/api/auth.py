"""Token login. DRF's view turns throttling off; ours keeps the anonymous rate (slows password guessing)."""

from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.throttling import AnonRateThrottle


class TokenCreateApi(ObtainAuthToken):
    throttle_classes = [AnonRateThrottle]
