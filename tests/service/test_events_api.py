"""The events and link-pause routes over real HTTP (uvicorn on 127.0.0.1): admin keys list and
replay events; a tenant key pauses and resumes only its own tenant's links."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from glue_runtime.jobs.model import JobRequest
from glue_runtime.jobs.records import LinkPaused, enqueue
from glue_runtime.service.delivery import Deliverer
from glue_runtime.service.keys import create_key
from glue_runtime.workspace.linkpause import link_health
from glue_runtime.workspace.outbox import emit
from service.conftest import serve_app
from service.conftest_events import EventsWorkspace, events_ws, receivers

FIXTURES = (events_ws, receivers)


@pytest.fixture
def api(events_ws: EventsWorkspace) -> Iterator[tuple[str, dict[str, str], dict[str, str]]]:
    """The URL, an admin key's headers and acme's tenant key's headers."""
    store = events_ws.opened.store
    _, admin = create_key(store, "admin")
    _, acme = create_key(store, "acme", tenant="acme")
    with serve_app(events_ws.ws.root) as running:
        yield (
            running.base,
            {"Authorization": f"Bearer {admin}"},
            {"Authorization": f"Bearer {acme}"},
        )


def _link_url(base: str, tenant: str, action: str) -> str:
    return f"{base}/v1/flows/shop/tenants/{tenant}/links/files/{action}"


def test_a_tenant_key_pauses_and_resumes_its_own_link_only(
    events_ws: EventsWorkspace, api: tuple[str, dict[str, str], dict[str, str]]
) -> None:
    url, _, acme = api
    store = events_ws.opened.store
    r = requests.post(
        _link_url(url, "acme", "pause"), json={"reason": "trial ended"}, headers=acme, timeout=10
    )
    assert r.status_code == 200, r.text
    assert r.json()["paused"] is True and r.json()["paused_reason"] == "trial ended"
    with pytest.raises(LinkPaused):
        enqueue(store, JobRequest("shop", "acme", "files", "api"))
    # another tenant's link: the same 404 as a link that does not exist; nothing changes
    theirs = requests.post(_link_url(url, "globex", "pause"), headers=acme, timeout=10)
    none = requests.post(_link_url(url, "nobody", "pause"), headers=acme, timeout=10)
    assert theirs.status_code == none.status_code == 404
    assert theirs.json()["error"]["code"] == "not_found"
    assert theirs.json()["error"]["message"].replace("globex", "X") == none.json()["error"][
        "message"
    ].replace("nobody", "X")  # the same answer: nothing says the link exists
    assert not link_health(store, "shop", "globex", "files").paused
    assert requests.post(_link_url(url, "acme", "resume"), timeout=10).status_code == 401
    r = requests.post(_link_url(url, "acme", "resume"), headers=acme, timeout=10)
    assert r.status_code == 200 and r.json()["paused"] is False
    assert enqueue(store, JobRequest("shop", "acme", "files", "api"))[1]


def test_events_are_listed_and_replayed_with_an_admin_key(
    events_ws: EventsWorkspace, api: tuple[str, dict[str, str], dict[str, str]]
) -> None:
    url, admin, acme = api
    ew = events_ws
    with ew.opened.store.write() as conn:
        event_id = emit(conn, "job.succeeded", {"tenant": "acme"}, tenant="acme")
    deliverer = Deliverer(ew.ctx())
    deliverer.deliver_due()
    r = requests.get(f"{url}/v1/events", params={"endpoint": "backend"}, headers=admin, timeout=10)
    assert r.status_code == 200, r.text
    (listed,) = r.json()["events"]
    assert listed["id"] == event_id and listed["deliveries"][0]["status"] == "delivered"
    assert requests.get(f"{url}/v1/events", headers=acme, timeout=10).status_code == 403
    assert requests.get(f"{url}/v1/events", timeout=10).status_code == 401
    bad = requests.get(f"{url}/v1/events", params={"type": "nope"}, headers=admin, timeout=10)
    assert bad.status_code == 400
    assert bad.json()["error"]["field"] == "type"
    assert "unknown event type 'nope'" in bad.json()["error"]["message"]

    r = requests.post(f"{url}/v1/events/{event_id}/replay", headers=admin, timeout=10)
    assert r.status_code == 202, r.text
    assert [d["endpoint"] for d in r.json()["deliveries"]] == ["backend"]
    assert (
        requests.post(f"{url}/v1/events/{event_id}/replay", headers=acme, timeout=10).status_code
        == 403
    )
    missing = requests.post(f"{url}/v1/events/evt_nope/replay", headers=admin, timeout=10)
    assert missing.status_code == 404
    deliverer.deliver_due()
    first, again = ew.backend.wait_for(2)
    assert first.headers["Glue-Event-Id"] == again.headers["Glue-Event-Id"] == event_id
    shown = requests.get(f"{url}/v1/events/{event_id}", headers=admin, timeout=10).json()
    assert len(shown["deliveries"]) == 2 and shown["deliveries"][0]["attempt_log"][0]["code"] == 200
