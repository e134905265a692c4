"""POST /v1/hooks over real HTTP: what a signed webhook queues, and every way one is refused
without a job or a dedupe record."""

# ruff: noqa: F401, F811  (pytest fixtures imported from conftest_triggers)

from __future__ import annotations

import json
from contextlib import ExitStack
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from store_test_helpers import fresh_pg_url

from glue_runtime.service import metrics
from glue_runtime.service.triggers import records
from glue_runtime.service.triggers.settings import trigger
from glue_runtime.service.triggers.tables import trigger_deliveries
from service.conftest_triggers import (
    PUBLIC_URL,
    T0,
    Hooks,
    any_hooks,
    hooks,
    hooks_workspace,
    sign,
)


def stripe_event(
    tenant: str = "acme", event_id: str = "evt_1", type_: str = "order.created"
) -> dict:
    return {"id": event_id, "type": type_, "data": {"object": {"metadata": {"tenant": tenant}}}}


def deliveries(h: Hooks) -> list[sa.Row]:
    with h.ws.store.engine.connect() as conn:
        return list(conn.execute(sa.select(trigger_deliveries)).all())


def outcome(name: str) -> float:
    return metrics.REGISTRY.get_sample_value("glue_webhooks_total", {"outcome": name}) or 0.0


def assert_nothing_written(h: Hooks) -> None:
    assert h.jobs() == []
    assert deliveries(h) == []


def test_a_signed_stripe_webhook_queues_a_job_for_the_tenant_in_its_body(hooks: Hooks) -> None:
    before = outcome("accepted")
    got = hooks.send("stripe", stripe_event())
    assert got.status_code == 202, got.text
    [job] = hooks.jobs()
    assert got.json() == {"job": job.id, "coalesced": False}
    assert (job.flow, job.tenant, job.connector, job.status) == ("shop", "acme", "files", "queued")
    assert (job.started_by, job.started_ref) == ("trigger", "shop.stripe")
    assert job.streams == ["orders"]  # from the event's type through streams.map
    assert job.not_before == T0 + 5  # debounce: 5s
    assert outcome("accepted") == before + 1
    [seen] = deliveries(hooks)
    assert (seen.tenant, seen.outcome, seen.job_id) == ("acme", "accepted", job.id)


def test_a_replayed_event_id_starts_nothing_even_after_its_job_ended(hooks: Hooks) -> None:
    first = hooks.send("stripe", stripe_event(event_id="evt_same"))
    assert first.status_code == 202
    end_jobs(hooks)
    hooks.clock.now += 60  # a new signature, a new timestamp: the event id dedupes it
    again = hooks.send("stripe", stripe_event(event_id="evt_same"))
    assert (again.status_code, again.json()) == (200, {"duplicate": True})
    assert [j.status for j in hooks.jobs()] == ["succeeded"]


def test_the_dedupe_window_is_24_hours(hooks: Hooks) -> None:
    assert hooks.send("stripe", stripe_event(event_id="evt_day")).status_code == 202
    end_jobs(hooks)
    hooks.clock.now += 24 * 3600 + 61
    assert hooks.send("stripe", stripe_event(event_id="evt_day")).status_code == 202
    assert len(hooks.jobs()) == 2
    assert len(deliveries(hooks)) == 1  # the old record was purged


def end_jobs(h: Hooks) -> None:
    """Mark every job ended (the executor's part; here only the record matters)."""
    from glue_runtime.jobs.tables import jobs

    with h.ws.store.write() as conn:
        conn.execute(sa.update(jobs).values(status="succeeded", ended_at=h.clock.now))


def test_a_bad_signature_is_401_and_starts_nothing(hooks: Hooks) -> None:
    body = json.dumps(stripe_event()).encode()
    before = outcome("bad_signature")
    wrong = {"Stripe-Signature": f"t={int(T0)},v1={'0' * 64}"}
    for headers in (wrong, {}, {"Stripe-Signature": "nonsense"}):
        got = hooks.post("stripe", body, headers)
        assert got.status_code == 401, got.text
        assert got.json()["error"]["code"] in ("mismatch", "missing", "malformed")
    assert outcome("bad_signature") == before + 3
    assert_nothing_written(hooks)


def test_a_timestamp_outside_the_window_is_401(hooks: Hooks) -> None:
    body = json.dumps(stripe_event()).encode()
    headers = sign("stripe", hooks.secrets["stripe"], body, T0, "")
    for skew in (-301, 301):  # the server's clock before or after the signed time
        hooks.clock.now = T0 + skew
        got = hooks.post("stripe", body, headers)
        assert (got.status_code, got.json()["error"]["code"]) == (401, "stale")
    assert_nothing_written(hooks)


def test_a_signature_by_another_triggers_secret_is_refused(hooks: Hooks) -> None:
    hooks.secrets["stripe"] = hooks.secrets["glue"]
    assert hooks.send("stripe", stripe_event()).status_code == 401
    assert_nothing_written(hooks)


def test_malformed_json_with_a_good_signature_is_400(hooks: Hooks) -> None:
    got = hooks.send("stripe", b'{"id": "evt_1", "type": ')
    assert got.status_code == 400
    assert got.json()["error"]["code"] == "malformed_json"
    assert_nothing_written(hooks)


def test_an_oversized_body_is_413_declared_or_streamed(hooks: Hooks) -> None:
    big = json.dumps({**stripe_event(), "pad": "x" * 5000}).encode()  # server.max_body: 4KB
    assert hooks.send("stripe", big).status_code == 413

    def chunks():  # no Content-Length: the server counts as it reads
        for _ in range(10):
            yield b"x" * 1000

    got = hooks.http.post(hooks.base + hooks.url("stripe"), data=chunks())
    assert got.status_code == 413
    assert got.json()["error"]["code"] == "too_large"
    assert_nothing_written(hooks)


def test_an_unknown_trigger_is_the_404_of_a_path_that_does_not_exist(hooks: Hooks) -> None:
    nowhere = requests.post(hooks.base + "/v1/nothing-here", data=b"{}")
    for path in ("/v1/hooks/trg_unknown", "/v1/hooks/shop.stripe", hooks.url("stripe", "tok")):
        got = requests.post(hooks.base + path, data=b"{}")
        assert (got.status_code, got.content) == (404, nowhere.content)
    assert_nothing_written(hooks)


def test_the_tenant_comes_only_from_the_signed_body(hooks: Hooks) -> None:
    """An unsigned header or query naming a tenant is ignored: no tenant in the body, no job."""
    event = {"id": "evt_x", "type": "order.created", "data": {"object": {"metadata": {}}}}
    got = hooks.send("stripe", event, headers={"X-Tenant": "acme", "X-Shopify-Shop-Domain": "acme"})
    assert (got.status_code, got.json()["ignored"]) == (202, "no_tenant")
    assert hooks.jobs() == []
    signed_for_globex = hooks.send(
        "stripe", stripe_event("globex", "evt_g"), headers={"X-Tenant": "acme"}
    )
    assert signed_for_globex.status_code == 202
    assert [j.tenant for j in hooks.jobs()] == ["globex"]


def test_an_unknown_tenant_or_one_without_a_link_is_ignored_with_a_reason(hooks: Hooks) -> None:
    before = outcome("ignored_no_link")
    got = hooks.send("stripe", stripe_event("initech", "evt_i"))
    assert got.status_code == 202
    assert got.json()["ignored"] == "no_link"
    assert outcome("ignored_no_link") == before + 1
    assert hooks.jobs() == []


def test_an_event_the_map_does_not_name_is_ignored_when_unmapped_is_ignore(hooks: Hooks) -> None:
    got = hooks.send("stripe", stripe_event(type_="customer.deleted"))
    assert (got.status_code, got.json()["ignored"]) == (202, "unmapped_event")
    assert hooks.jobs() == []


def test_a_github_webhook_on_a_tenants_url_starts_that_tenants_job(hooks: Hooks) -> None:
    t = trigger(hooks.ctx.opened.workspace, "shop", "github")
    token = records.new_tenant_token(hooks.ws.store, t, "globex")
    body = {"action": "opened", "number": 7}
    got = hooks.send("github", body, token=token)
    assert got.status_code == 202, got.text
    [job] = hooks.jobs()
    assert (job.tenant, job.streams, job.not_before) == ("globex", None, T0 + 5)
    # GitHub signs no id nor time: the same body again is a replay
    assert hooks.send("github", body, token=token).json() == {"duplicate": True}
    # the trigger's URL without the tenant's token, or with another, is no URL at all
    assert hooks.send("github", {"other": 1}).status_code == 404
    assert hooks.send("github", {"other": 1}, token=token[:-2] + "xx").status_code == 404
    assert records.revoke_tenant_tokens(hooks.ws.store, t, "globex") == 1
    hooks.clock.now += 11  # a server may know a revoked token for 10 s more
    assert hooks.send("github", {"other": 2}, token=token).status_code == 404
    assert len(hooks.jobs()) == 1


def test_each_provider_scheme_queues_a_job(hooks: Hooks) -> None:
    coalesced = outcome("coalesced")
    assert hooks.send("glue", {"id": "evt_g", "tenant": "acme"}).status_code == 202
    assert hooks.send("shopify", {"id": 1, "tenant": "globex"}).status_code == 202
    slack = {"type": "event_callback", "event_id": "Ev1", "team_id": "acme"}
    assert hooks.send("slack", slack).json()["coalesced"] is True  # acme's job is queued
    hubspot = [
        {"eventId": 1, "portalId": "globex", "subscriptionType": "contact.creation"},
        {"eventId": 2, "portalId": "globex", "subscriptionType": "contact.creation"},
    ]
    got = hooks.send("hubspot", hubspot)
    assert got.status_code == 202, got.text
    assert got.json()["coalesced"] is True
    assert outcome("coalesced") == coalesced + 2
    jobs = {j.tenant: j for j in hooks.jobs()}
    assert set(jobs) == {"acme", "globex"}
    assert jobs["acme"].folded == 1
    assert jobs["globex"].started_ref == "shop.shopify"
    assert jobs["acme"].not_before == T0  # glue's trigger has debounce: 0


def test_hubspot_signs_the_public_url(hooks: Hooks) -> None:
    """Signed for the server's own address instead of server.public_url: refused."""
    body = json.dumps([{"eventId": 1, "portalId": "acme"}]).encode()
    headers = sign("hubspot", hooks.secrets["hubspot"], body, T0, hooks.base + hooks.url("hubspot"))
    assert hooks.post("hubspot", body, headers).status_code == 401
    headers = sign("hubspot", hooks.secrets["hubspot"], body, T0, PUBLIC_URL + hooks.url("hubspot"))
    assert hooks.post("hubspot", body, headers).status_code == 202


def test_slacks_url_verification_challenge_is_echoed(hooks: Hooks) -> None:
    got = hooks.send(
        "slack",
        {
            "type": "url_verification",
            "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
        },
    )
    assert (got.status_code, got.json()["challenge"][:6]) == (200, "3eZbrw")
    assert_nothing_written(hooks)


def test_slacks_form_encoded_payload_is_read(hooks: Hooks) -> None:
    from urllib.parse import urlencode

    payload = json.dumps({"type": "block_actions", "team_id": "globex"})
    body = urlencode({"payload": payload}).encode()
    got = hooks.send("slack", body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert got.status_code == 202, got.text
    assert [j.tenant for j in hooks.jobs()] == ["globex"]


def test_a_trigger_without_a_secret_verifies_nothing(hooks: Hooks) -> None:
    from glue_runtime.service.triggers.tables import trigger_secrets

    with hooks.ws.store.write() as conn:
        conn.execute(sa.delete(trigger_secrets))
    hooks.clock.now += 60  # past the secrets' cache
    got = hooks.send("stripe", stripe_event())
    assert (got.status_code, got.json()["error"]["code"]) == (401, "no_secret")
    assert_nothing_written(hooks)


def test_a_new_secret_verifies_at_once_and_a_rotated_one_until_its_window_ends(
    hooks: Hooks,
) -> None:
    t = trigger(hooks.ctx.opened.workspace, "shop", "stripe")
    old = hooks.secrets["stripe"]
    assert hooks.send("stripe", stripe_event(event_id="evt_a")).status_code == 202  # caches it
    records.put_secret(hooks.ws.store, t, "whsec_new_one", origin="set", keep_old_s=3600, now=T0)
    hooks.secrets["stripe"] = "whsec_new_one"
    assert hooks.send("stripe", stripe_event(event_id="evt_b")).status_code == 202
    hooks.secrets["stripe"] = old
    assert hooks.send("stripe", stripe_event(event_id="evt_c")).status_code == 202
    hooks.clock.now = T0 + 3601
    assert hooks.send("stripe", stripe_event(event_id="evt_d")).status_code == 401


def claim(h: Hooks, job_id: str) -> None:
    """Start the job as an executor does (the record moves to running)."""
    from glue_runtime.jobs.lifecycle import claim as claim_job

    assert claim_job(h.ws.store, job_id, worker="test", now=h.clock.now) is not None


def burst(h: Hooks, n: int) -> list[requests.Response]:
    """``n`` distinct events for acme at once, from 16 threads."""
    from concurrent.futures import ThreadPoolExecutor

    url = h.base + h.url("glue")

    def one(i: int) -> requests.Response:
        body = json.dumps({"id": f"evt_{i}", "tenant": "acme"}).encode()
        return requests.post(url, data=body, headers=sign("glue", h.secrets["glue"], body, T0, ""))

    with ThreadPoolExecutor(16) as pool:
        return list(pool.map(one, range(n)))


def test_a_burst_of_50_webhooks_gives_one_running_and_one_queued_job(any_hooks: Hooks) -> None:
    h = any_hooks
    first = h.send("glue", {"id": "evt_first", "tenant": "acme"})
    claim(h, first.json()["job"])
    answers = burst(h, 50)
    assert [a.status_code for a in answers] == [202] * 50
    assert sorted(a.json()["coalesced"] for a in answers) == [False] + [True] * 49
    jobs = {j.status: j for j in h.jobs("acme")}
    assert sorted(jobs) == ["queued", "running"]
    assert {a.json()["job"] for a in answers} == {jobs["queued"].id}
    assert len(deliveries(h)) == 51


@pytest.mark.parametrize(
    "kind",
    [
        "sqlite",
        pytest.param(
            "postgresql",
            marks=[pytest.mark.postgres],
        ),
    ],
)
def test_every_event_of_a_burst_is_counted_in_the_job_it_folded_into(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ExitStack() as stack:
        url = None if kind == "sqlite" else stack.enter_context(fresh_pg_url())
        h = stack.enter_context(hooks_workspace(tmp_path / "ws", monkeypatch, url))
        burst(h, 30)
        [job] = h.jobs("acme")
        assert job.folded == 29


def test_removing_a_tenant_removes_its_trigger_urls_and_deliveries(hooks: Hooks) -> None:
    from glue_runtime.service.triggers.tables import trigger_tenant_tokens

    t = trigger(hooks.ctx.opened.workspace, "shop", "github")
    token = records.new_tenant_token(hooks.ws.store, t, "globex")
    records.new_tenant_token(hooks.ws.store, t, "acme")
    assert hooks.send("github", {"n": 1}, token=token).status_code == 202
    assert hooks.send("stripe", stripe_event("acme")).status_code == 202
    removed = hooks.ws.store.remove_tenant("globex")
    assert removed["trigger_tenant_tokens"] == 1
    assert removed["trigger_deliveries"] == 1
    assert [d.tenant for d in deliveries(hooks)] == ["acme"]
    with hooks.ws.store.engine.connect() as conn:
        left = conn.execute(sa.select(trigger_tenant_tokens.c.tenant)).scalars().all()
    assert left == ["acme"]


def test_twins_of_one_event_at_once_start_one_job_and_fold_nothing(any_hooks: Hooks) -> None:
    """The delivery record and the job commit together: a twin that loses the race on the
    record rolls its fold back too."""
    from concurrent.futures import ThreadPoolExecutor

    h = any_hooks
    body = json.dumps({"id": "evt_twin", "tenant": "acme"}).encode()
    headers = sign("glue", h.secrets["glue"], body, T0, "")
    url = h.base + h.url("glue")
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: requests.post(url, data=body, headers=headers), range(8)))
    assert sorted(a.status_code for a in answers) == [200] * 7 + [202]
    [job] = h.jobs("acme")
    assert job.folded == 0
    assert [d.job_id for d in deliveries(h)] == [job.id]


def test_the_openapi_document_gives_the_hooks_answers_and_no_key() -> None:
    from glue_runtime.service.apidoc import openapi_document

    paths = openapi_document()["paths"]
    for path in ("/v1/hooks/{endpoint}", "/v1/hooks/{endpoint}/{token}"):
        op = paths[path]["post"]
        assert not op.get("security")  # the signature is the authentication
        assert {"200", "202", "400", "401", "404", "413"} <= set(op["responses"])
        assert "application/json" in op["requestBody"]["content"]
