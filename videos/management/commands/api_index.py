"""Rewrite docs/API.md's endpoint index from docs/openapi.yaml, so that part of the doc cannot drift."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from django.conf import settings
from django.core.management.base import BaseCommand

START, END = "<!-- endpoints:start -->", "<!-- endpoints:end -->"
METHODS = ("get", "post", "put", "patch", "delete")


def docs_dir() -> Path:
    return Path(settings.BASE_DIR) / "docs"


def endpoint_index(schema: dict[str, Any]) -> str:
    """One table row per operation: method, path, the view's one-line summary."""
    rows = ["| method | path | what it does |", "|---|---|---|"]
    for path, operations in schema["paths"].items():
        for method in METHODS:
            if method in operations:
                text = (operations[method].get("description") or "").strip().split("\n\n")[0]
                rows.append(f"| {method.upper()} | `{path}` | {' '.join(text.split())} |")
    return "\n".join(rows)


def with_index(document: str, schema: dict[str, Any]) -> str:
    head, rest = document.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{endpoint_index(schema)}\n{END}{tail}"


class Command(BaseCommand):
    help = "Rewrite the endpoint index in docs/API.md from docs/openapi.yaml."

    def handle(self, *args: Any, **options: Any) -> None:
        schema = yaml.safe_load((docs_dir() / "openapi.yaml").read_text())
        target = docs_dir() / "API.md"
        target.write_text(with_index(target.read_text(), schema))
        self.stdout.write(f"{target}: {len(endpoint_index(schema).splitlines()) - 2} endpoints")
