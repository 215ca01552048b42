"""A small hostile-input corpus for every input-taking endpoint: each case must answer a 4xx JSON error
({"detail", "code"}) in under a second, and leave stored data as it was. Used by test_hostile_corpus.py;
imports nothing but the test client, so the same cases also run against an older checkout (RELIABILITY.md).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile

# Places a case fills in from the fixture's data: {video} {audio} {long} {task} {foreign}.
Ids = dict[str, str]
BUDGET_S = 1.0


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    path: str
    body: Any = None  # str/bytes: sent raw with content_type; dict: multipart; callable: built per run
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    status: int | None = None  # a specific status; else any 4xx

    def send(self, client: Any, ids: Ids) -> Any:
        path = self.path.format(**ids)
        body = self.body(ids) if callable(self.body) else self.body
        if {"HTTP_AUTHORIZATION", "HTTP_COOKIE"} & set(self.headers):  # its own credentials, not the user's token
            client = type(client)()
        if isinstance(body, dict):
            return getattr(client, self.method)(path, body, format="multipart", **self.headers)
        if body is None:
            return getattr(client, self.method)(path, **self.headers)
        return getattr(client, self.method)(path, body, content_type=self.content_type, **self.headers)


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def srt(text: str | bytes, name: str = "subs.srt") -> Callable[[Ids], dict[str, Any]]:
    data = text.encode() if isinstance(text, str) else text
    return lambda ids: {"srt_file": SimpleUploadedFile(name, data, content_type="application/x-subrip")}


def upload(data: bytes, name: str = "clip.mp4", **fields: str) -> Callable[[Ids], dict[str, Any]]:
    return lambda ids: {"file": SimpleUploadedFile(name, data), **fields}


def compose(**body: Any) -> Callable[[Ids], str]:
    """A composition body; strings like "{video}" in `videos` become the fixture's ids."""

    def build(ids: Ids) -> str:
        videos = body.get("videos")
        if isinstance(videos, list):
            videos = [v.format(**ids) if isinstance(v, str) else v for v in videos]
        return json.dumps({**body, "videos": videos}) if "videos" in body else json.dumps(body)

    return build


GOOD_CUE = "1\n00:00:01,000 --> 00:00:02,000\nHello\n\n"
LONG_LINE = "1:" * 100_000  # 200 KB: ~10 s of regex backtracking per request before the fix
BIG = "9" * 5_000  # over int()'s 4,300-digit limit
SRT_ENDPOINTS = ("/api/v1/process/srt_media/", "/api/v1/process/srt_media/sync/")
IMPORT_ENDPOINT = "/api/v1/videos/import/"
START_ENDPOINTS = ("reprocess", "run_sync", "retranscribe")


def corpus() -> list[Case]:
    cases: list[Case] = []
    # Nested JSON and malformed JSON, on every endpoint that reads JSON.
    json_posts = [
        "/api/v1/auth/token/",
        "/api/v1/compositions/",
        *SRT_ENDPOINTS,
        *(f"/api/v1/videos/{{video}}/{name}/" for name in START_ENDPOINTS),
        IMPORT_ENDPOINT,
    ]
    raw_bodies = {
        "brackets-100k": "[" * 100_000,
        "nested-100k": nested(100_000),
        "nested-object-3k": '{"a": ' * 3_000 + "1" + "}" * 3_000,
        "big-integer": '{"videos": [' + BIG + '], "force": ' + BIG + "}",
        "nan": '{"videos": [NaN, Infinity], "force": NaN}',
        "bad-utf8": b'{"title": "\xff\xfe"}',
        "escaped-quotes": '"' + '\\"' * 200_000,
        "unterminated": '{"videos": ["' + "a" * 100_000,
        "not-an-object": "[1, 2, 3]",
        "over-1mb": json.dumps({"title": "x" * 1_100_000}),
    }
    for path in json_posts:
        for name, body in raw_bodies.items():
            cases.append(Case(f"POST {path} {name}", "post", path, body))
        cases.append(Case(f"POST {path} xml", "post", path, "<a/>", content_type="application/xml", status=415))
    cases.append(
        Case("POST compositions nested videos", "post", "/api/v1/compositions/", '{"videos": ' + nested(5_000) + "}")
    )
    # Bounded work: compositions.
    many = ["{video}"] * 10_000
    cases += [
        Case("compose 10,000 clips", "post", "/api/v1/compositions/", compose(videos=many), status=400),
        Case("compose 201 clips", "post", "/api/v1/compositions/", compose(videos=["{video}"] * 201), status=400),
        Case("compose 10,000 bad ids", "post", "/api/v1/compositions/", compose(videos=["x"] * 10_000), status=400),
        Case("compose too long", "post", "/api/v1/compositions/", compose(videos=["{long}", "{long}"]), status=400),
        Case("compose audio only", "post", "/api/v1/compositions/", compose(videos=["{video}", "{audio}"]), status=400),
        Case("compose foreign", "post", "/api/v1/compositions/", compose(videos=["{video}", "{foreign}"]), status=400),
        Case(
            "compose huge size",
            "post",
            "/api/v1/compositions/",
            compose(videos=["{video}"] * 2, width=10**40, height=2),
        ),
        Case("compose inf size", "post", "/api/v1/compositions/", '{"videos": [], "width": 1e999, "height": 1e999}'),
        Case("compose NUL title", "post", "/api/v1/compositions/", compose(videos=["{video}"] * 2, title="a\u0000b")),
        Case("compose surrogate title", "post", "/api/v1/compositions/", '{"videos": [], "title": "\\ud800"}'),
        Case(
            "compose long title", "post", "/api/v1/compositions/", compose(videos=["{video}"] * 2, title="t" * 10_000)
        ),
        Case("compose videos not a list", "post", "/api/v1/compositions/", compose(videos={"a": 1})),
        Case(
            "compose engine controls",
            "post",
            "/api/v1/compositions/",
            compose(videos=["{video}"] * 2, engine="\x1b[2J"),
        ),
    ]
    # Pathological SRT files, on both srt_media endpoints.
    srt_bodies = {
        "colon-line": LONG_LINE,
        "colon-line-after-cue": GOOD_CUE + LONG_LINE,
        "colon-arrow": "1\n" + "1:1-->" * 40_000,
        "huge-hours": "1\n99999999999999999999:00:01,000 --> 99999999999999999999:00:02,000\nx\n",
        "5000-digit-hours": "1\n" + BIG + ":00:01,000 --> 00:00:02,000\nx\n",
        "huge-index": BIG + "\n00:00:01,000 --> 00:00:02,000\nx\n",
        "nul-text": "1\n00:00:01,000 --> 00:00:02,000\nnul\x00here\n",
        "escape-text": "1\n00:00:01,000 --> 00:00:02,000\n\x1b]0;pwned\x07\n",
        "bad-utf8": b"1\n00:00:01,000 --> 00:00:02,000\n\xff\xfe\n",
        "empty": "",
        "bom-only": "\ufeff",
        "reversed": "1\n00:00:05,000 --> 00:00:01,000\nx\n",
        "arrows-only": "-->" * 50_000,
    }
    for path in SRT_ENDPOINTS:
        for name, text in srt_bodies.items():
            cases.append(Case(f"POST {path} srt {name}", "post", path, srt(text)))
        cases += [
            Case(f"POST {path} over 10 MB", "post", path, srt(GOOD_CUE + "x" * (10 * 1024 * 1024)), status=413),
            Case(f"POST {path} bad video_id", "post", path, lambda ids: {"video_id": "nope"}),
            Case(f"POST {path} foreign video", "post", path, lambda ids: {"video_id": ids["foreign"]}),
            Case(
                f"POST {path} both media",
                "post",
                path,
                lambda ids: {
                    **srt(GOOD_CUE)(ids),
                    "video_id": ids["video"],
                    "media_file": SimpleUploadedFile("m.mp4", b"x"),
                },
            ),
            Case(f"POST {path} engine", "post", path, lambda ids: {**srt(GOOD_CUE)(ids), "engine": "e" * 10_000}),
            Case(f"POST {path} force", "post", path, lambda ids: {**srt(GOOD_CUE)(ids), "force": "maybe"}),
            Case(
                f"POST {path} garbage media",
                "post",
                path,
                lambda ids: {"media_file": SimpleUploadedFile("m.mp4", b"\0" * 4096)},
            ),
            Case(f"POST {path} nothing", "post", path, lambda ids: {}),
        ]
    # Uploads.
    cases += [
        Case("upload garbage", "post", "/api/v1/videos/", upload(b"not a video at all" * 100), status=400),
        Case("upload empty", "post", "/api/v1/videos/", upload(b""), status=400),
        Case("upload no file", "post", "/api/v1/videos/", lambda ids: {"title": "x"}, status=400),
        Case("upload long title", "post", "/api/v1/videos/", upload(b"x" * 100, title="t" * 10_000), status=400),
        Case("upload NUL title", "post", "/api/v1/videos/", upload(b"x" * 100, title="a\x00b"), status=400),
        Case("upload srt as video", "post", "/api/v1/videos/", upload(GOOD_CUE.encode(), name="a.srt"), status=400),
        Case("upload json", "post", "/api/v1/videos/", '{"file": "x"}', status=415),
    ]
    # Starting work on a video: force/engine in the query and the body.
    for name in START_ENDPOINTS:
        path = f"/api/v1/videos/{{video}}/{name}/"
        cases += [
            Case(f"POST {name} ?force=maybe", "post", path + "?force=maybe"),
            Case(f"POST {name} ?engine=NUL", "post", path + "?engine=%00"),
            Case(f"POST {name} engine long", "post", path, json.dumps({"engine": "e" * 100_000})),
            Case(f"POST {name} force object", "post", path, json.dumps({"force": {"a": [1]}})),
            Case(f"POST {name} unknown video", "post", f"/api/v1/videos/{{foreign}}/{name}/", status=404),
        ]
    # Imports: URLs refused before any connection or DNS lookup (no name here needs resolving).
    cases += [
        Case(f"POST import {name}", "post", IMPORT_ENDPOINT, json.dumps(body), status=400)
        for name, body in {
            "no url": {"title": "x"},
            "url list": {"url": ["http://127.0.0.1/a.mp4"]},
            "url object": {"url": {"a": 1}},
            "url NUL": {"url": "http://127.0.0.1/\x00.mp4"},
            "url huge": {"url": "http://127.0.0.1/" + "a" * 100_000},
            "file scheme": {"url": "file:///etc/passwd"},
            "gopher": {"url": "gopher://127.0.0.1:70/_x"},
            "javascript": {"url": "javascript:alert(1)"},
            "loopback": {"url": "http://127.0.0.1:8000/admin/"},
            "metadata": {"url": "http://169.254.169.254/latest/meta-data/"},
            "mapped loopback": {"url": "http://[::ffff:127.0.0.1]/"},
            "decimal loopback": {"url": "http://2130706433/"},
            "credentials": {"url": "http://user:pw@127.0.0.1/"},
            "port out of range": {"url": "http://127.0.0.1:99999/"},
            "bad ipv6": {"url": "http://[::1/"},
            "transcribe maybe": {"url": "http://127.0.0.1/a.mp4", "transcribe": "maybe"},
            "language junk": {"url": "http://127.0.0.1/a.mp4", "language": "x" * 1000},
            "title huge": {"url": "http://127.0.0.1/a.mp4", "title": "t" * 10_000},
        }.items()
    ]
    # Query strings, paths and headers.
    cases += [
        Case("tasks status long", "get", "/api/v1/tasks/?status=" + "x" * 10_000, status=400),
        Case("tasks status commas", "get", "/api/v1/tasks/?status=" + "," * 100_000 + "nope", status=400),
        Case("tasks kind NUL", "get", "/api/v1/tasks/?kind=%00", status=400),
        Case("tasks page huge", "get", "/api/v1/tasks/?page=" + BIG, status=404),
        Case("tasks page negative", "get", "/api/v1/tasks/?page=-1", status=404),
        Case("tasks page empty", "get", "/api/v1/tasks/?page=", status=404),
        Case("videos page huge", "get", "/api/v1/videos/?page=99999999999999999999999", status=404),
        Case("include_completed=null", "get", "/api/v1/users/me/tasks?include_completed=null", status=400),
        Case("include_completed=2", "get", "/api/v1/users/me/tasks?include_completed=" + "2" * 1000, status=400),
        Case("segments format xml", "get", "/api/v1/videos/{video}/segments?format=xml", status=404),
        Case(
            "segments accept junk", "get", "/api/v1/videos/{video}/segments", headers={"HTTP_ACCEPT": "x/y"}, status=406
        ),
        Case("range huge", "get", "/api/v1/videos/{video}/file", headers={"HTTP_RANGE": f"bytes={BIG}-"}, status=416),
        Case("long path", "get", "/api/v1/videos/" + "a" * 10_000, status=404),
        Case("NUL path", "get", "/api/v1/tasks/%00/", status=404),
        Case("dot-dot path", "get", "/api/v1/videos/{video}/../../../etc/passwd", status=404),
        Case("unknown POST", "post", "/api/v1/nope", "{}", status=404),
        Case("unknown DELETE", "delete", "/api/v1/videos/not-a-uuid/", status=404),
        Case("foreign DELETE", "delete", "/api/v1/videos/{foreign}/", status=404),
        Case("retry completed", "post", "/api/v1/tasks/{done}/retry", status=409),
        Case("cancel finished", "post", "/api/v1/tasks/{task}/cancel", status=409),
        Case("result of failed", "get", "/api/v1/tasks/{task}/result", status=409),
        Case(
            "token header huge",
            "get",
            "/api/v1/tasks/",
            headers={"HTTP_AUTHORIZATION": "Token " + "a" * 100_000},
            status=401,
        ),
        Case(
            "token header controls",
            "get",
            "/api/v1/tasks/",
            headers={"HTTP_AUTHORIZATION": "Token \x00\x1b"},
            status=401,
        ),
        Case("token not hex", "get", "/api/v1/tasks/", headers={"HTTP_AUTHORIZATION": "Token " + "Z" * 40}, status=401),
        Case("session NUL", "get", "/api/v1/tasks/", headers={"HTTP_COOKIE": "sessionid=abcdefgh\x00ij"}, status=401),
        Case(
            "session long", "get", "/api/v1/tasks/", headers={"HTTP_COOKIE": "sessionid=" + "a" * 100_000}, status=401
        ),
    ]
    return cases


@dataclass
class Outcome:
    case: Case
    status: int
    seconds: float
    problem: str | None


def run(client: Any, ids: Ids, cases: list[Case], budget_s: float = BUDGET_S) -> list[Outcome]:
    """Send every case; an outcome's `problem` says what was wrong with the answer (None when right)."""
    outcomes = []
    for case in cases:
        started = time.perf_counter()
        try:
            response = case.send(client, ids)
        except Exception as exc:  # an exception escaping the handler is the 500 a server would send
            outcomes.append(Outcome(case, 500, time.perf_counter() - started, f"raised {exc.__class__.__name__}"))
            continue
        seconds = time.perf_counter() - started
        outcomes.append(Outcome(case, response.status_code, seconds, _problem(case, response, seconds, budget_s)))
    return outcomes


def _problem(case: Case, response: Any, seconds: float, budget_s: float) -> str | None:
    status = response.status_code
    if case.status is not None and status != case.status:
        return f"answered {status}, expected {case.status}"
    if not 400 <= status < 500:
        return f"answered {status}, expected a 4xx"
    try:
        body = json.loads(response.content)
    except ValueError:
        return f"{status} body is not JSON ({response.get('Content-Type')})"
    if not (isinstance(body, dict) and isinstance(body.get("detail"), str) and isinstance(body.get("code"), str)):
        return f"{status} body lacks detail/code: {str(body)[:120]}"
    if seconds > budget_s:
        return f"took {seconds:.2f} s"
    return None
