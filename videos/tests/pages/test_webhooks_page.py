"""The Webhooks page: login required, only my endpoints (with their secrets) and my deliveries."""

from __future__ import annotations

import pytest
from django.test import Client

from videos.webhooks.models import WebhookDelivery
from videos.webhooks.services import webhook_endpoint_create, webhook_ping


@pytest.fixture(autouse=True)
def _loopback(settings) -> None:  # noqa: ANN001
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True


@pytest.mark.django_db
def test_the_page_asks_an_anonymous_visitor_to_log_in(client) -> None:  # noqa: ANN001
    response = client.get("/webhooks/")
    assert response.status_code == 302 and response["Location"] == "/accounts/login/?next=/webhooks/"


def test_the_page_lists_my_endpoints_secrets_and_deliveries_only(user, other_user) -> None:  # noqa: ANN001
    mine = webhook_endpoint_create(owner=user, url="http://127.0.0.1:9/mine", description="build bot")
    theirs = webhook_endpoint_create(owner=other_user, url="http://127.0.0.1:9/theirs")
    delivery = webhook_ping(endpoint=mine)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status="failed", attempts=8, response_status=500)
    webhook_ping(endpoint=theirs)
    browser = Client()
    browser.force_login(user)
    html = browser.get("/webhooks/").content.decode()
    assert "http://127.0.0.1:9/mine" in html and mine.secret in html and "build bot" in html
    assert "theirs" not in html and theirs.secret not in html
    assert f'data-delivery="{delivery.pk}"' in html and "status-failed" in html and ">500<" in html
    assert html.count('data-action="resend"') == 1
    assert 'href="/webhooks/" aria-current="page"' in html
    assert 'value="task.progress">' in html  # offered, not ticked by default
    assert 'value="task.completed" checked' in html
