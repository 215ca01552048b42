"""The OpenAI chat paragraph engine against a real local server speaking chat completions."""

from __future__ import annotations

import json

from videos.engines.openai_client import RetryPolicy
from videos.engines.paragraphs import engine_used, get_paragraph_engine
from videos.engines.paragraphs.openai_chat import OpenAIChatParagraphEngine
from videos.engines.paragraphs.rules import RulesParagraphEngine
from videos.engines.subtitles import Cue
from videos.tests.fake_openai import FakeOpenAI, chat_reply, error_reply

FAST = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.02)

CUES = [
    Cue(1, 0.0, 1.0, "Welcome to the show."),
    Cue(2, 1.0, 2.0, "Today we talk about bread."),
    Cue(3, 5.0, 6.0, "First, flour."),
    Cue(4, 6.0, 7.0, "Then water."),
    Cue(5, 7.0, 8.0, "Then time."),
]


def engine() -> OpenAIChatParagraphEngine:
    return OpenAIChatParagraphEngine(retry=FAST)


def test_valid_answer_is_used(openai_settings: FakeOpenAI, settings) -> None:  # noqa: ANN001
    settings.OPENAI_CHAT_MODEL = "chat-model-x"
    openai_settings.script_chat(chat_reply(json.dumps({"paragraphs": [[1, 2], [3, 4, 5]]})))
    chat = engine()
    assert chat.group(CUES) == [[1, 2], [3, 4, 5]]
    assert chat.last_engine_used == "openai" and engine_used(chat) == "openai" and chat.last_error is None
    (request,) = openai_settings.chat_requests
    assert request.json["model"] == "chat-model-x"
    assert request.json["response_format"] == {"type": "json_object"}
    system, user = request.json["messages"]
    assert system["role"] == "system" and '"paragraphs"' in system["content"]
    sent = json.loads(user["content"][user["content"].index("{") :])["lines"]
    assert [(line["n"], line["text"]) for line in sent] == [(c.index, c.text) for c in CUES]


def test_invalid_json_then_repaired(openai_settings: FakeOpenAI) -> None:
    openai_settings.script_chat(
        chat_reply("Sure! Here are your paragraphs: [[1,2],[3,4,5]]"),
        chat_reply('{"paragraphs": [[1], [2, 3], [4, 5]]}'),
    )
    chat = engine()
    assert chat.group(CUES) == [[1], [2, 3], [4, 5]]
    assert chat.last_engine_used == "openai"
    first, repair = openai_settings.chat_requests
    messages = repair.json["messages"]
    assert messages[:2] == first.json["messages"]
    assert messages[2] == {"role": "assistant", "content": "Sure! Here are your paragraphs: [[1,2],[3,4,5]]"}
    assert messages[3]["role"] == "user" and "not valid JSON" in messages[3]["content"]


def test_invalid_groups_then_repaired_with_the_reason(openai_settings: FakeOpenAI) -> None:
    openai_settings.script_chat(
        chat_reply('{"paragraphs": [[1, 2], [4, 5]]}'), chat_reply('{"paragraphs": [[1, 2, 3, 4, 5]]}')
    )
    chat = engine()
    assert chat.group(CUES) == [[1, 2, 3, 4, 5]]
    repair = openai_settings.chat_requests[1].json["messages"][-1]["content"]
    assert "line 4 where line 3 was due" in repair


def test_invalid_twice_falls_back_to_rules(openai_settings: FakeOpenAI) -> None:
    openai_settings.script_chat(chat_reply("not json"), chat_reply('{"paragraphs": [[1, 2, 3]]}'))
    chat = engine()
    assert chat.group(CUES) == RulesParagraphEngine().group(CUES)
    assert chat.last_engine_used == "rules" and engine_used(chat) == "rules"
    assert "lines 4 to 5 are in no paragraph" in (chat.last_error or "")
    assert len(openai_settings.chat_requests) == 2  # one repair, no more


def test_server_failure_falls_back_to_rules_after_retries(openai_settings: FakeOpenAI) -> None:
    openai_settings.script_chat(*[error_reply(500, "The server had an error")] * 3)
    chat = engine()
    assert chat.group(CUES) == RulesParagraphEngine().group(CUES)
    assert chat.last_engine_used == "rules"
    assert chat.last_error == "OpenAI paragraph grouping failed after 3 attempts: HTTP 500: The server had an error"
    assert len(openai_settings.chat_requests) == 3


def test_rate_limit_then_success_is_retried(openai_settings: FakeOpenAI) -> None:
    openai_settings.script_chat(error_reply(429, "Slow down", "rate_limit_exceeded"))  # then the default: pairs
    chat = engine()
    assert chat.group(CUES) == [[1, 2], [3, 4], [5]]
    assert chat.last_engine_used == "openai"
    assert len(openai_settings.chat_requests) == 2


def test_rejected_request_falls_back_at_once(openai_settings: FakeOpenAI, settings) -> None:  # noqa: ANN001
    settings.OPENAI_API_KEY = "wrong-key"
    chat = get_paragraph_engine("openai")
    assert chat.group(CUES) == RulesParagraphEngine().group(CUES)
    assert engine_used(chat) == "rules"
    assert "HTTP 401: Incorrect API key provided." in (chat.last_error or "")
    assert len(openai_settings.chat_requests) == 1


def test_no_cues_need_no_request(openai_settings: FakeOpenAI) -> None:
    chat = engine()
    assert chat.group([]) == []
    assert openai_settings.chat_requests == []
