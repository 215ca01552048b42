"""Paragraph engines behind one interface, chosen by name or settings.PARAGRAPH_ENGINE."""

from __future__ import annotations

from django.conf import settings

from videos.engines.choice import resolve_engine_name
from videos.engines.paragraphs.base import Paragraph, ParagraphEngine, build_paragraphs, validate_groups
from videos.engines.paragraphs.rules import RuleLimits, RulesParagraphEngine

__all__ = [
    "ENGINE_NAMES",
    "Paragraph",
    "ParagraphEngine",
    "RuleLimits",
    "RulesParagraphEngine",
    "build_paragraphs",
    "engine_used",
    "get_paragraph_engine",
    "resolve_paragraph_engine_name",
    "validate_groups",
]

ENGINE_NAMES = ("auto", "openai", "rules")


def resolve_paragraph_engine_name(name: str | None = None) -> str:
    """'openai' or 'rules' for a name or the setting; auto is OpenAI when a key is set."""
    return resolve_engine_name("paragraph", name, settings.PARAGRAPH_ENGINE, names=ENGINE_NAMES, local="rules")


def get_paragraph_engine(name: str | None = None) -> ParagraphEngine:
    """A new engine for a name or settings.PARAGRAPH_ENGINE (auto | openai | rules).

    Raises ValueError for an unknown name, or for openai without OPENAI_API_KEY. Which engine
    really produced a grouping is `engine.last_engine_used` on the OpenAI engine (it falls back to
    rules) and `engine.name` otherwise; `engine_used(engine)` reads either.
    """
    if resolve_paragraph_engine_name(name) == "openai":
        if not settings.OPENAI_API_KEY:
            raise ValueError("the OpenAI paragraph engine needs OPENAI_API_KEY to be set")
        from videos.engines.paragraphs.openai_chat import OpenAIChatParagraphEngine

        return OpenAIChatParagraphEngine()
    return RulesParagraphEngine()


def engine_used(engine: ParagraphEngine) -> str:
    """The engine that produced the last grouping (the fallback's name when the OpenAI engine fell back)."""
    return getattr(engine, "last_engine_used", None) or engine.name
