"""Admin: staff see every endpoint and delivery with its attempts, and can resend."""

from videos.tests.test_admin import staff  # noqa: F401 - the staff client fixture
from videos.webhooks.models import WebhookDelivery
from videos.webhooks.sender import send_due
from videos.webhooks.services import webhook_endpoint_create, webhook_ping


def test_deliveries_with_attempts_and_the_resend_action(staff, user, other_user, receiver, transactional_db):  # noqa: F811
    receiver.script = [(500, 0.0, b"nope")]
    mine = webhook_ping(endpoint=webhook_endpoint_create(owner=user, url=receiver.url))
    theirs = webhook_ping(endpoint=webhook_endpoint_create(owner=other_user, url=receiver.url + "?b"))
    send_due()
    listing = staff.get("/admin/videos/webhookdelivery/").content.decode()
    assert str(mine.pk) in listing and str(theirs.pk) in listing
    page = staff.get(f"/admin/videos/webhookdelivery/{mine.pk}/change/").content.decode()
    assert "nope" in page and "The receiver answered 500." in page  # the attempt, inline
    assert receiver.url in staff.get("/admin/videos/webhookendpoint/").content.decode()
    WebhookDelivery.objects.filter(pk=mine.pk).update(status="failed", next_attempt_at=None)
    response = staff.post(
        "/admin/videos/webhookdelivery/", {"action": "resend", "_selected_action": [str(mine.pk)]}, follow=True
    )
    assert response.status_code == 200
    mine.refresh_from_db()
    assert mine.status == "pending" and mine.next_attempt_at is not None
    assert staff.get("/admin/videos/idempotencykey/").status_code == 200
