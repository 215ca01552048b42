"""Webhook tests reach only the local receiver on loopback, which the private-network switch allows."""

from collections.abc import Iterator

import pytest

from videos.tests.webhooks.receiver import Receiver


@pytest.fixture(autouse=True)
def _loopback_allowed(settings) -> None:  # noqa: ANN001
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    settings.WEBHOOK_RETRY_BASE_S = 0.2
    settings.WEBHOOK_TIMEOUT_S = 2.0
    settings.WEBHOOK_POLL_SECONDS = 0.1


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r
