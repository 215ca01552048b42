"""The README's receiver example verifies a real delivery (and refuses a forged one)."""

import re

from videos.tests.conftest import ROOT
from videos.webhooks.sender import send_due
from videos.webhooks.services import webhook_endpoint_create, webhook_ping
from videos.webhooks.signing import new_secret


def readme_verify():  # noqa: ANN201
    text = (ROOT / "README.md").read_text()
    block = re.search(r"A receiver that checks the signature.*?```python\n(.*?)```", text, re.S).group(1)
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102 - our own documentation
    return namespace["verify"]


def test_the_readme_receiver_verifies_a_real_delivery(transactional_db, user, receiver):
    verify = readme_verify()
    endpoint = webhook_endpoint_create(owner=user, url=receiver.url)
    webhook_ping(endpoint=endpoint)
    send_due()
    [request] = receiver.received
    assert verify(endpoint.secret, request.headers, request.body)
    assert not verify(new_secret(), request.headers, request.body)
    assert not verify(endpoint.secret, request.headers, request.body + b" ")
    stale = {**request.headers, "webhook-timestamp": str(int(request.headers["webhook-timestamp"]) - 3600)}
    assert not verify(endpoint.secret, stale, request.body)
