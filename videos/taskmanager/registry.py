"""Job kinds: a kind is a function of a JobContext plus its declared, weighted steps.

Filled by the app: its job modules register their kinds with @job when AppConfig.ready() imports them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class JobSpec:
    kind: str
    func: Callable[..., Any]
    steps: dict[str, float]  # step name -> weight; weights sum to 100, in running order
    description: str = ""
    # Kinds in one group never run at once on the same video (default: the kind alone).
    video_group: str = ""
    # Called with a purged task's args, to delete what the kind stored outside the task row.
    on_purge: Callable[[dict[str, Any]], None] | None = None


_REGISTRY: dict[str, JobSpec] = {}


def job(
    kind: str,
    *,
    steps: dict[str, float],
    description: str = "",
    video_group: str = "",
    on_purge: Callable[[dict[str, Any]], None] | None = None,
) -> Callable:
    """Register a job function under `kind`, with its steps and their weights (summing to 100).

    `video_group`: kinds sharing it exclude each other on a video (e.g. two writers of its segments).
    """
    total = sum(steps.values())
    if not steps or abs(total - 100) > 1e-9 or any(w <= 0 for w in steps.values()):
        raise ValueError(f"job {kind!r}: step weights must be positive and sum to 100, not {total}")

    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        _REGISTRY[kind] = JobSpec(
            kind=kind,
            func=func,
            steps=dict(steps),
            description=description or (func.__doc__ or "").strip(),
            video_group=video_group or kind,
            on_purge=on_purge,
        )
        return func

    return register


def get_job(kind: str) -> JobSpec:
    try:
        return _REGISTRY[kind]
    except KeyError:
        raise LookupError(f"no job kind {kind!r} is registered") from None


def kinds_in_group(group: str) -> list[str]:
    """The kinds that may not run beside each other on one video."""
    return sorted(kind for kind, spec in _REGISTRY.items() if spec.video_group == group)


def job_kinds() -> list[str]:
    return sorted(_REGISTRY)
