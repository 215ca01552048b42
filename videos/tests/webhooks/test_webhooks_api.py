"""Webhook endpoints API: register, list, show, change, remove, ping, deliveries; the address rule."""

import json

import pytest
from standardwebhooks import Webhook

from videos.net import url_guard
from videos.webhooks.models import WebhookDelivery
from videos.webhooks.sender import claim_batch, send_batch, send_due
from videos.webhooks.transport import Connections


def create(api, url, **body):  # noqa: ANN001, ANN003, ANN201
    return api.post("/api/v1/webhooks/", {"url": url, **body}, format="json")


def test_create_answers_201_with_a_secret_and_the_default_events(api, receiver):
    response = create(api, receiver.url, description="ci")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) >= {"id", "url", "events", "description", "enabled", "secret", "created_at"}
    assert body["events"] == ["task.completed", "task.failed", "task.cancelled"]
    assert body["secret"].startswith("whsec_") and body["enabled"] is True
    assert create(api, receiver.url, events=["task.progress"]).json()["events"] == ["task.progress"]


def test_list_get_patch_delete_and_another_users_endpoint_is_404(api, other_api, receiver):
    endpoint = create(api, receiver.url).json()
    path = f"/api/v1/webhooks/{endpoint['id']}/"
    listed = api.get("/api/v1/webhooks/").json()
    assert listed["count"] == 1 and listed["results"][0]["id"] == endpoint["id"]
    assert api.get(path).json()["secret"] == endpoint["secret"]
    changed = api.patch(path, {"enabled": False, "events": ["task.failed"]}, format="json").json()
    assert changed["enabled"] is False and changed["events"] == ["task.failed"]
    for method in ("get", "patch", "delete"):
        response = getattr(other_api, method)(path)
        assert response.status_code == 404 and response.json()["code"] == "not_found"
    assert other_api.get("/api/v1/webhooks/").json()["count"] == 0
    assert other_api.post(path + "ping").status_code == 404
    assert other_api.get(path + "deliveries").status_code == 404
    assert api.delete(path).status_code == 204
    assert api.get(path).status_code == 404


def test_unknown_event_is_400_invalid(api, receiver):
    response = create(api, receiver.url, events=["task.completed", "video.exploded"])
    assert response.status_code == 400
    assert response.json()["code"] == "invalid" and "video.exploded" in response.json()["detail"]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/x",
        "http://[::1]/x",
        "http://10.0.0.5/x",
        "http://169.254.169.254/latest/meta-data",
        "http://[fd00::1]/",
        "ftp://example.com/x",
        "not a url",
    ],
)
def test_non_public_or_non_http_urls_are_400_without_the_switch(api, settings, url):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    response = create(api, url)
    assert response.status_code == 400, response.json()
    assert response.json()["code"] == "invalid" and "url" in response.json()["errors"]


def test_a_name_resolving_to_a_private_address_is_refused(api, settings, monkeypatch):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    monkeypatch.setattr(url_guard, "system_resolver", lambda host, port: ["192.168.10.7"])  # no real DNS
    response = create(api, "https://hooks.example.com/in")
    assert response.status_code == 400 and "192.168.10.7" in response.json()["detail"]
    monkeypatch.setattr(url_guard, "system_resolver", lambda host, port: ["93.184.216.34"])
    assert create(api, "https://hooks.example.com/in").status_code == 201
    response = api.patch(
        f"/api/v1/webhooks/{api.get('/api/v1/webhooks/').json()['results'][0]['id']}/",
        {"url": "http://127.0.0.1/x"},
        format="json",
    )
    assert response.status_code == 400 and "loopback" in response.json()["detail"]


def test_ping_is_202_and_delivers_a_signed_ping(api, receiver, transactional_db):
    endpoint = create(api, receiver.url).json()
    response = api.post(f"/api/v1/webhooks/{endpoint['id']}/ping")
    assert response.status_code == 202 and response.json()["event"] == "ping"
    assert send_due() == 1
    [request] = receiver.received
    body = Webhook(endpoint["secret"]).verify(request.body, request.headers)
    assert body["type"] == "ping" and body["data"] == {"endpoint_id": endpoint["id"]}
    assert request.headers["webhook-id"] == response.json()["id"]
    log = api.get(f"/api/v1/webhooks/{endpoint['id']}/deliveries").json()
    assert log["count"] == 1
    row = log["results"][0]
    assert row["status"] == "succeeded" and row["attempts"] == 1 and row["response_status"] == 200
    assert row["delivered_at"] and row["next_attempt_at"] is None and row["error"] is None
    assert set(row) >= {"id", "event", "task_id", "created_at"}


def test_deliveries_are_newest_first_and_resend_keeps_the_webhook_id(api, other_api, receiver, transactional_db):
    endpoint = create(api, receiver.url).json()
    first = api.post(f"/api/v1/webhooks/{endpoint['id']}/ping").json()
    second = api.post(f"/api/v1/webhooks/{endpoint['id']}/ping").json()
    send_due()
    ids = [row["id"] for row in api.get(f"/api/v1/webhooks/{endpoint['id']}/deliveries").json()["results"]]
    assert ids == [second["id"], first["id"]]
    assert other_api.post(f"/api/v1/webhooks/deliveries/{first['id']}/resend").status_code == 404
    response = api.post(f"/api/v1/webhooks/deliveries/{first['id']}/resend")
    assert response.status_code == 202 and response.json()["status"] == "pending"
    send_due()
    assert receiver.ids().count(first["id"]) == 2
    assert json.loads(receiver.received[-1].body)["data"]["endpoint_id"] == endpoint["id"]
    assert WebhookDelivery.objects.get(pk=first["id"]).attempts == 2


def test_a_resend_while_the_delivery_is_being_sent_leaves_it_to_that_send(api, receiver, transactional_db):
    endpoint = create(api, receiver.url).json()
    ping = api.post(f"/api/v1/webhooks/{endpoint['id']}/ping").json()
    batch = claim_batch("hostA:1:aaaa", endpoint["id"])  # a sender holds it: its POST is under way
    assert [str(d.pk) for d in batch] == [ping["id"]]

    assert api.post(f"/api/v1/webhooks/deliveries/{ping['id']}/resend").status_code == 202

    assert claim_batch("hostB:2:bbbb", endpoint["id"]) == []  # no second sender sends it alongside
    with Connections() as pool:
        send_batch(pool, batch)
    assert receiver.ids() == [ping["id"]]
    delivery = WebhookDelivery.objects.get(pk=ping["id"])
    assert delivery.status == "succeeded" and delivery.attempts == 1 and delivery.attempt_log.count() == 1


def test_purge_tasks_also_deletes_old_finished_deliveries(db, user, receiver):
    from datetime import timedelta
    from io import StringIO

    from django.core.management import call_command
    from django.utils import timezone

    from videos.webhooks.services import webhook_endpoint_create, webhook_ping

    endpoint = webhook_endpoint_create(owner=user, url=receiver.url)
    old_done, old_pending, recent = (webhook_ping(endpoint=endpoint) for _ in range(3))
    WebhookDelivery.objects.filter(pk__in=[old_done.pk, old_pending.pk]).update(
        created_at=timezone.now() - timedelta(days=40)
    )
    WebhookDelivery.objects.filter(pk__in=[old_done.pk, recent.pk]).update(status="succeeded")
    out = StringIO()
    call_command("purge_tasks", "--older-than", "30", stdout=out)
    assert "Deleted 1 finished webhook deliveries" in out.getvalue()
    assert set(WebhookDelivery.objects.values_list("pk", flat=True)) == {old_pending.pk, recent.pk}
