"""Token login, and who may see operational details. DRF's token view turns throttling off; ours keeps
the anonymous rate (slows password guessing)."""

from django.http import HttpRequest
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.settings import api_settings
from rest_framework.throttling import AnonRateThrottle

from videos.api.authentication import TokenAuthentication


class TokenCreateApi(ObtainAuthToken):
    throttle_classes = [AnonRateThrottle]
    parser_classes = api_settings.DEFAULT_PARSER_CLASSES  # DRF's view pins the unbounded JSON parser


def is_staff_caller(request: HttpRequest) -> bool:
    """A staff session or staff token on a plain Django view; a bad token counts as anonymous."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return bool(user.is_staff)
    try:
        found = TokenAuthentication().authenticate(request)  # reads only the Authorization header
    except AuthenticationFailed:
        return False
    return found is not None and bool(found[0].is_staff)
