"""Headless Chromium on the Webhooks page: add an endpoint, see its secret, ping, resend, remove."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from standardwebhooks import Webhook

from videos.tests.taskmanager.helpers import wait_for
from videos.tests.webhooks.receiver import Receiver
from videos.webhooks.models import WebhookDelivery, WebhookEndpoint

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_manage_an_endpoint_from_the_webhooks_page(page: Page, live_server, settings) -> None:  # noqa: ANN001, F811
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    page.goto(f"{live_server.url}/webhooks/")
    page.fill('input[name="url"]', "http://127.0.0.1:9/hook")
    page.click('#webhook-form button[type="submit"]')
    expect(page.locator('[data-field="form-error"]')).to_contain_text("loopback")  # the API's own sentence
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True  # the receiver is on loopback
    with Receiver() as receiver:
        page.fill('input[name="url"]', receiver.url)
        page.fill('input[name="description"]', "from the page")
        page.click('#webhook-form button[type="submit"]')
        card = page.locator(".endpoint")
        expect(card).to_contain_text(receiver.url)
        endpoint = WebhookEndpoint.objects.get()
        expect(card.locator('[data-field="secret"]')).to_have_text(endpoint.secret)
        assert endpoint.events == ["task.completed", "task.failed", "task.cancelled"]

        card.locator('[data-action="ping"]').click()
        assert wait_for(lambda: len(receiver.received) == 1, 10)
        first = receiver.received[0]
        assert Webhook(endpoint.secret).verify(first.body, first.headers)["type"] == "ping"
        assert wait_for(lambda: WebhookDelivery.objects.filter(status="succeeded").count() == 1, 10)
        page.reload()
        row = page.locator(f'tr[data-delivery="{first.headers["webhook-id"]}"]')
        expect(row.locator(".badge")).to_have_text("succeeded")

        row.locator('[data-action="resend"]').click()
        assert wait_for(lambda: len(receiver.received) == 2, 10)
        assert receiver.ids() == [first.headers["webhook-id"]] * 2

        page.reload()
        page.on("dialog", lambda dialog: dialog.accept())
        page.locator('.endpoint [data-action="delete"]').click()
        assert wait_for(lambda: not WebhookEndpoint.objects.exists(), 10)
        page.reload()
        expect(page.locator("#endpoints")).to_contain_text("No endpoints yet.")
