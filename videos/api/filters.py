"""Query filters of the lists (django-filter): comma-separated names, checked against what exists."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import django_filters
from django import forms
from django.db.models import QuerySet

from videos.models import ProcessingTask
from videos.taskmanager.registry import job_kinds


class NamesField(forms.CharField):
    """`a,b,c` -> {"a", "b", "c"}: distinct, non-empty, each one of `allowed()` (else a message naming it)."""

    def __init__(self, *, allowed: Callable[[], list[str]], noun: str, **kwargs: Any) -> None:
        self.allowed, self.noun = allowed, noun
        super().__init__(**kwargs)

    def clean(self, value: Any) -> set[str]:
        # Distinct non-empty names only: "?status=,,,..." once became 100,000 SQL parameters (a 500 on SQLite).
        names = [name for name in (super().clean(value) or "").split(",") if name]
        allowed = self.allowed()
        unknown = [name for name in names if name not in allowed]
        if unknown:
            raise forms.ValidationError(
                f"Unknown {self.noun} {unknown[0]!r}; use one of {', '.join(allowed)} (comma-separated)."
            )
        return set(names)


class NamesFilter(django_filters.Filter):
    field_class = NamesField

    def filter(self, qs: QuerySet, value: set[str]) -> QuerySet:
        return qs.filter(**{f"{self.field_name}__in": value}) if value else qs


class TaskFilter(django_filters.FilterSet):
    """GET /api/v1/tasks/?status=&kind= (a name that does not exist is a 400, not an empty page)."""

    status = NamesFilter(field_name="status", allowed=lambda: list(ProcessingTask.Status.values), noun="status")
    kind = NamesFilter(field_name="kind", allowed=job_kinds, noun="kind")

    class Meta:
        model = ProcessingTask
        fields: list[str] = []
