"""`both()`: one route answering with and without its trailing slash (no redirect: a 301 loses a POST)."""

from django.urls import URLPattern, path


def both(route: str, view, name: str | None = None) -> list[URLPattern]:  # noqa: ANN001 - any view callable
    route = route.rstrip("/")
    return [path(f"{route}/", view, name=name), path(route, view)]
