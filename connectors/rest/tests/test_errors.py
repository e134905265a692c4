"""429 and 5xx are retried with backoff (Retry-After honoured); other 4xx fail at once."""

from __future__ import annotations

import pytest
from glue_rest.tap import TapRest
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError

SPEC = {
    "name": "items",
    "path": "/plain/items",
    "records_path": "$.data[*]",
    "primary_keys": ["id"],
    # A declared schema: no discovery request, so every request below is the sync's.
    "schema": {"type": "object", "properties": {"id": {"type": "integer"}}},
}
PATH = "/v1/plain/items"


def test_429_waits_for_retry_after_then_succeeds(api, run_tap, h) -> None:
    api.faults[PATH] = [(429, "1")]
    messages = run_tap(h.config(api, SPEC, backoff_factor=0.001))
    assert len(h.records(messages)) == 25
    first, second = api.hits(PATH)
    # backoff_factor alone would wait 1 ms; the server asked for 1 s.
    assert second.at - first.at >= 0.95


def test_500_then_success(api, run_tap, h) -> None:
    api.faults[PATH] = [(500, None), (503, None)]
    messages = run_tap(h.config(api, SPEC))
    assert len(h.records(messages)) == 25
    assert len(api.hits(PATH)) == 3


def test_retries_are_bounded_by_max_retries(api, h) -> None:
    api.faults[PATH] = [(502, None)] * 10
    with pytest.raises(RetriableAPIError) as err:
        TapRest(config=h.config(api, SPEC, max_retries=2)).sync_all()
    assert len(api.hits(PATH)) == 3  # the first try and 2 retries
    msg = str(err.value)
    assert "HTTP 502" in msg and "gave up after 3 tries" in msg and "Injected failure" in msg


def test_404_fails_fast_with_a_clear_message(api, h) -> None:
    spec = {**SPEC, "path": "/nowhere", "params": {"q": "x"}}
    auth = {"type": "api_key", "query": "api_key", "value": "key-secret-000"}
    with pytest.raises(FatalAPIError) as err:
        TapRest(config=h.config(api, spec, auth=auth)).sync_all()
    msg = str(err.value)
    assert msg == (
        "stream 'items': HTTP 404 Not Found for GET /v1/nowhere?q=x&api_key=***: "
        "No such endpoint: /v1/nowhere"
    )
    assert len(api.hits("/v1/nowhere")) == 1


def test_connection_refused_is_retried_then_reported_without_secrets(h) -> None:
    from rest_fake_api import start

    server, api = start()
    server.shutdown()
    server.server_close()  # nothing listens on this port any more
    auth = {"type": "api_key", "query": "api_key", "value": "key-secret-000"}
    with pytest.raises(FatalAPIError) as err:
        TapRest(config=h.config(api, SPEC, auth=auth, max_retries=1)).sync_all()
    msg = str(err.value)
    assert "ConnectionError after 2 tries" in msg
    assert "key-secret-000" not in msg
