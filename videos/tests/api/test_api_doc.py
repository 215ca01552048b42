"""docs/API.md's endpoint index is the OpenAPI document's (manage.py api_index rewrites it)."""

import yaml

from videos.management.commands.api_index import docs_dir, with_index


def test_the_endpoint_index_in_docs_api_md_matches_openapi_yaml():
    schema = yaml.safe_load((docs_dir() / "openapi.yaml").read_text())
    document = (docs_dir() / "API.md").read_text()
    assert document == with_index(document, schema), "stale: run manage.py api_index"
    assert "`/api/v1/tasks/{id}/`" in document and "`/api/v1/webhooks/deliveries/{id}/resend/`" in document
