"""Paragraphing by an OpenAI chat model asked for JSON groups; one repair retry, then the rules engine."""

from __future__ import annotations

import json
import logging
from typing import Any

import openai
from django.conf import settings
from openai.types.chat import ChatCompletionMessageParam

from videos.engines.openai_client import (
    OpenAICallCancelled,
    OpenAICallError,
    RetryPolicy,
    call_with_retries,
    make_client,
)
from videos.engines.paragraphs.base import ParagraphEngine, validate_groups
from videos.engines.paragraphs.rules import RulesParagraphEngine
from videos.engines.subtitles import Cue

logger = logging.getLogger(__name__)

SYSTEM_PROMPT = (
    "You group the numbered lines of a transcript into readable paragraphs. "
    "A paragraph is a run of consecutive lines about one topic or thought. "
    'Answer with a JSON object only: {"paragraphs": [[1, 2, 3], [4, 5]]}, '
    "listing every line number exactly once, in increasing order, with no gaps, "
    "each inner list being one paragraph of consecutive line numbers."
)


class OpenAIChatParagraphEngine(ParagraphEngine):
    """Asks the chat model for groups; falls back to the rules engine when the model cannot deliver.

    After `group()`, `last_engine_used` is "openai" when the model's grouping was used and "rules"
    when the fallback produced it, and `last_error` says why the model's answer was not used.
    Instances are cheap; use one per call (get_paragraph_engine builds a new one) across threads.
    """

    name = "openai"

    def __init__(
        self,
        *,
        client: openai.OpenAI | None = None,
        model: str | None = None,
        fallback: ParagraphEngine | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 120.0,
    ) -> None:
        self._client = client
        self._timeout = timeout
        self.model = model or settings.OPENAI_CHAT_MODEL
        self.fallback = fallback or RulesParagraphEngine()
        self.retry = retry or RetryPolicy(attempts=3)
        self.last_engine_used: str | None = None
        self.last_error: str | None = None

    @property
    def client(self) -> openai.OpenAI:
        if self._client is None:
            self._client = make_client(timeout=self._timeout)
        return self._client

    def group(self, cues: list[Cue]) -> list[list[int]]:
        """Groups from the model, validated; invalid twice (or an API failure) -> the fallback's groups."""
        self.last_error = None
        if not cues:
            self.last_engine_used = self.name
            return []
        messages: list[ChatCompletionMessageParam] = [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": _lines_prompt(cues)},
        ]
        try:
            for attempt in range(2):
                answer = self._complete(messages)
                try:
                    groups = _parse_groups(answer)
                    validate_groups(cues, groups)
                except ValueError as exc:
                    self.last_error = f"invalid answer: {exc}"
                    if attempt == 0:  # one repair: show the model its answer and what is wrong with it
                        messages += [
                            {"role": "assistant", "content": answer},
                            {"role": "user", "content": _repair_prompt(exc, len(cues))},
                        ]
                    continue
                self.last_engine_used = self.name
                self.last_error = None
                return groups
        except (OpenAICallError, OpenAICallCancelled) as exc:
            self.last_error = str(exc)
        logger.warning("paragraphs: falling back to the %s engine (%s)", self.fallback.name, self.last_error)
        self.last_engine_used = self.fallback.name
        return self.fallback.group(cues)

    def _complete(self, messages: list[ChatCompletionMessageParam]) -> str:
        def call() -> Any:
            return self.client.chat.completions.create(
                model=self.model,
                messages=messages,
                response_format={"type": "json_object"},
            )

        response = call_with_retries(call, what="OpenAI paragraph grouping", policy=self.retry)
        choices = getattr(response, "choices", None) or []
        return (choices[0].message.content or "") if choices else ""


def _lines_prompt(cues: list[Cue]) -> str:
    lines = [{"n": cue.index, "start": round(cue.start, 2), "end": round(cue.end, 2), "text": cue.text} for cue in cues]
    return (
        f"Group these {len(cues)} lines (numbers {cues[0].index} to {cues[-1].index}) into paragraphs.\n"
        + json.dumps({"lines": lines}, ensure_ascii=False)
    )


def _repair_prompt(error: ValueError, count: int) -> str:
    return (
        f"That answer is not usable: {error}. Reply again with only the JSON object "
        f'{{"paragraphs": [[...], ...]}} covering all {count} line numbers exactly once, in order.'
    )


def _parse_groups(answer: str) -> Any:
    """The "paragraphs" list from the model's JSON answer; ValueError when it is not there."""
    try:
        data = json.loads(answer)
    except json.JSONDecodeError as exc:
        raise ValueError(f"the answer is not valid JSON ({exc.msg} at character {exc.pos})") from exc
    if not isinstance(data, dict) or "paragraphs" not in data:
        raise ValueError('the answer must be a JSON object with a "paragraphs" key')
    return data["paragraphs"]
