"""Browser pages: thin views over selectors and services."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from videos import selectors


@login_required
def home(request: HttpRequest) -> HttpResponse:
    tasks = selectors.task_list(owner=request.user)[:20]
    return render(request, "videos/home.html", {"tasks": tasks})
