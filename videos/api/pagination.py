"""Page-number pagination that takes only what its schema says: `?page=` is a page number or absent."""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import NotFound
from rest_framework.pagination import PageNumberPagination


class StrictPageNumberPagination(PageNumberPagination):
    """DRF's, except that an empty `?page=` is "Invalid page." (404) like `?page=abc`, not page 1."""

    def paginate_queryset(self, queryset: Any, request: Any, view: Any = None) -> list[Any] | None:
        if request.query_params.get(self.page_query_param, None) == "":
            raise NotFound(self.invalid_page_message)
        return super().paginate_queryset(queryset, request, view)
