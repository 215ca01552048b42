"""Webhook endpoints API: register, list, show, change, remove, ping, the delivery log, resend."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from videos.api.pagination import StrictPageNumberPagination
from videos.webhooks import selectors
from videos.webhooks.models import EVENTS, WebhookDelivery, WebhookEndpoint
from videos.webhooks.services import (
    webhook_delivery_resend,
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_update,
    webhook_ping,
)


class EndpointSerializer(serializers.ModelSerializer):
    events = serializers.ListField(child=serializers.ChoiceField(choices=EVENTS))

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "url", "events", "description", "enabled", "secret", "created_at"]


class DeliverySerializer(serializers.ModelSerializer):
    task_id = serializers.UUIDField(allow_null=True)
    endpoint_id = serializers.UUIDField()

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "endpoint_id",
            "event",
            "task_id",
            "status",
            "attempts",
            "response_status",
            "error",
            "next_attempt_at",
            "created_at",
            "delivered_at",
        ]


class EndpointCreateSerializer(serializers.Serializer):
    # A plain CharField: our address check gives the clearer message than URLField's "Enter a valid URL".
    url = serializers.CharField(max_length=2000)
    events = serializers.ListField(child=serializers.CharField(max_length=32), required=False)
    description = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")


class EndpointUpdateSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=2000, required=False)
    events = serializers.ListField(child=serializers.CharField(max_length=32), required=False)
    description = serializers.CharField(max_length=255, required=False, allow_blank=True)
    enabled = serializers.BooleanField(required=False)


def _paginated(request: Request, view: APIView, queryset: Any, serializer: type[serializers.Serializer]) -> Response:
    paginator = view.pagination_class()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer(page, many=True).data)


class WebhookListApi(APIView):
    pagination_class = StrictPageNumberPagination  # named on the view so that the schema documents the page shape

    @extend_schema(responses=EndpointSerializer(many=True))
    def get(self, request: Request) -> Response:
        """Your webhook endpoints, newest first, paginated."""
        return _paginated(request, self, selectors.endpoint_list(owner=request.user), EndpointSerializer)

    @extend_schema(request=EndpointCreateSerializer, responses={201: EndpointSerializer})
    def post(self, request: Request) -> Response:
        """Register an endpoint (http/https, public address); the answer holds its signing secret."""
        data = EndpointCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        endpoint = webhook_endpoint_create(owner=request.user, **data.validated_data)
        return Response(EndpointSerializer(endpoint).data, status=status.HTTP_201_CREATED)


class WebhookDetailApi(APIView):
    @extend_schema(responses=EndpointSerializer)
    def get(self, request: Request, pk: str) -> Response:
        """One of your endpoints."""
        return Response(EndpointSerializer(selectors.endpoint_get(owner=request.user, endpoint_id=pk)).data)

    @extend_schema(request=EndpointUpdateSerializer, responses=EndpointSerializer)
    def patch(self, request: Request, pk: str) -> Response:
        """Change url, events, description or enabled."""
        endpoint = selectors.endpoint_get(owner=request.user, endpoint_id=pk)
        data = EndpointUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        endpoint = webhook_endpoint_update(endpoint=endpoint, **data.validated_data)
        return Response(EndpointSerializer(endpoint).data)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request, pk: str) -> Response:
        """Remove the endpoint and its delivery log."""
        webhook_endpoint_delete(endpoint=selectors.endpoint_get(owner=request.user, endpoint_id=pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookPingApi(APIView):
    @extend_schema(request=None, responses={202: DeliverySerializer})
    def post(self, request: Request, pk: str) -> Response:
        """Send a signed `ping` event to the endpoint."""
        delivery = webhook_ping(endpoint=selectors.endpoint_get(owner=request.user, endpoint_id=pk))
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


class WebhookDeliveryListApi(APIView):
    pagination_class = StrictPageNumberPagination

    @extend_schema(responses=DeliverySerializer(many=True))
    def get(self, request: Request, pk: str) -> Response:
        """The endpoint's deliveries, newest first, paginated."""
        endpoint = selectors.endpoint_get(owner=request.user, endpoint_id=pk)
        return _paginated(request, self, selectors.delivery_list(endpoint=endpoint), DeliverySerializer)


class WebhookDeliveryResendApi(APIView):
    @extend_schema(request=None, responses={202: DeliverySerializer})
    def post(self, request: Request, pk: str) -> Response:
        """Send one of your deliveries again now (same webhook-id and body)."""
        delivery = webhook_delivery_resend(delivery=selectors.delivery_get(owner=request.user, delivery_id=pk))
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)
