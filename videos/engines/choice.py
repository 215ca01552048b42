"""Which engine a name means: transcription and paragraphs choose the same way (auto, openai, a local one)."""

from __future__ import annotations

from django.conf import settings


def resolve_engine_name(what: str, name: str | None, configured: str, *, names: tuple[str, ...], local: str) -> str:
    """`name`, else the `configured` setting, else auto; auto is OpenAI when a key is set, else `local`.

    ValueError names `what` engine for a name not in `names`.
    """
    chosen = (name or configured or "auto").strip().lower()
    if chosen not in names:
        raise ValueError(f"unknown {what} engine {chosen!r}; choose one of {', '.join(names)}")
    if chosen == "auto":
        return "openai" if settings.OPENAI_API_KEY else local
    return chosen
