"""The real URLs plus bare DRF views doing one insert / one select: the reference for the API figures."""

import uuid

from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.urls import urlpatterns as real_urlpatterns
from videos.models import ProcessingTask


class BareInsertApi(APIView):
    def post(self, request: Request) -> Response:
        task = ProcessingTask.objects.create(owner=request.user, kind="test_noop", status="cancelled")
        return Response({"task_id": str(task.pk)}, status=201)


class BareSelectApi(APIView):
    def get(self, request: Request, pk: uuid.UUID) -> Response:
        task = ProcessingTask.objects.get(pk=pk, owner=request.user)
        return Response({"task_id": str(task.pk), "status": task.status, "progress": task.progress})


urlpatterns = [
    path("bench/insert", BareInsertApi.as_view()),
    path("bench/select/<uuid:pk>", BareSelectApi.as_view()),
    *real_urlpatterns,
]
