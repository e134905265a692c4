"""fresh_credentials against a real provider: refresh with compare-and-swap, rotation,
invalid_grant -> needs re-authorisation (one request only), 429 with Retry-After, a token URL
that is down, one refresh for 50 callers in 4 processes, and a refresher killed mid-way."""

# ruff: noqa: F401, F811  (pytest fixtures imported from conftest_oauth)

from __future__ import annotations

import hashlib
import json
import signal
import time
from pathlib import Path

import pytest
import requests

from glue_runtime.errors import CredentialError, NeedsReauthorisation
from glue_runtime.testing.oauth_provider import OAuthProvider
from glue_runtime.workspace.oauth import finish_link, link_client_credentials, start_link
from glue_runtime.workspace.open import Opened, open_workspace
from glue_runtime.workspace.store import Link
from glue_runtime.workspace.tokens import fresh_credentials
from workspace.conftest_oauth import (
    FLOW,
    KEYED,
    MACHINE,
    SOURCE,
    Sleeps,
    any_opened,
    any_ws_root,
    approve,
    opened,
    provider,
    quick,
    redirect_uri,
    start_worker,
    ws_root,
)

LATER = 2 * 3600.0  # past the provider's one-hour access tokens


def _link(opened: Opened, tenant: str = "acme") -> Link:
    back = approve(start_link(opened, FLOW, tenant, SOURCE).url)
    return finish_link(opened, back["state"], code=back["code"])


def _later() -> float:
    return time.time() + LATER


def _expire(opened: Opened, link: Link) -> None:
    """Make the stored access token look expired (as if an hour had passed)."""
    version, secrets = opened.store.credentials(link)
    past = time.time() - 1
    assert opened.store.swap_credentials(
        link, version, {**secrets, "expires_at": past}, expires_at=past
    )


def _api(provider: OAuthProvider, token: str) -> requests.Response:
    return requests.get(
        f"{provider.url}/api/contacts", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )


def test_link_expiry_refresh_cycle_rotates_and_commits_before_use(
    any_opened: Opened, provider: OAuthProvider
) -> None:
    link = _link(any_opened)
    version, first = any_opened.store.credentials(link)
    assert fresh_credentials(any_opened, link, policy=quick()) == first  # still fresh: no call
    assert provider.calls("refresh_token") == 0

    provider.expire_access_tokens()
    assert _api(provider, first["access_token"]).status_code == 401
    got = fresh_credentials(any_opened, link, now=_later, policy=quick())
    assert provider.calls("refresh_token") == 1
    stored_version, stored = any_opened.store.credentials(link)
    assert stored == got and stored_version == version + 1
    assert got["access_token"] != first["access_token"]
    assert got["refresh_token"] != first["refresh_token"]  # rotated
    assert got["expires_at"] == pytest.approx(_later() + 3600, abs=60)
    assert _api(provider, got["access_token"]).json()["data"][0]["id"] == "account-a-1"
    # the provider invalidated the old refresh token the moment it answered
    again = requests.post(
        f"{provider.url}/token",
        data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
        auth=("glue-test-client", "glue-test-client-secret"),
        timeout=10,
    )
    assert again.json() == {"error": "invalid_grant"}
    assert any_opened.store.find_link(FLOW, "acme", SOURCE).status == "ok"


def test_margin_refreshes_a_token_that_expires_within_it(
    opened: Opened, provider: OAuthProvider
) -> None:
    link = _link(opened)
    fresh_credentials(opened, link, margin_s=1800, policy=quick())
    assert provider.calls("refresh_token") == 0
    fresh_credentials(opened, link, margin_s=3700, policy=quick())  # 1 h tokens: inside it
    assert provider.calls("refresh_token") == 1


def test_invalid_grant_marks_needs_reauth_once_keeps_the_old_tokens_and_relinking_clears_it(
    opened: Opened, provider: OAuthProvider
) -> None:
    link = _link(opened)
    before = opened.store.credentials(link)
    provider.fail_next("invalid_grant")
    with pytest.raises(NeedsReauthorisation) as err:
        fresh_credentials(opened, link, now=_later, policy=quick())
    text = str(err.value)
    assert "tenant 'acme', flow 'crm', connector 'contacts'" in text
    assert f"glue link {FLOW} {SOURCE} --tenant acme" in text
    assert err.value.exit_code == 6
    assert before[1]["refresh_token"] not in text and before[1]["access_token"] not in text
    assert opened.store.credentials(link) == before  # old tokens kept for inspection
    assert opened.store.find_link(FLOW, "acme", SOURCE).status == "needs_reauth"
    for _ in range(3):  # no retry loop: nobody asks the provider again
        with pytest.raises(NeedsReauthorisation):
            fresh_credentials(opened, link, now=_later, policy=quick())
    assert provider.calls("refresh_token") == 1

    relinked = _link(opened)
    assert relinked.status == "ok" and relinked.last_error is None
    assert fresh_credentials(opened, relinked, policy=quick())["access_token"]


def test_429_with_retry_after_then_success(opened: Opened, provider: OAuthProvider) -> None:
    link = _link(opened)
    provider.fail_next("429", retry_after=7)
    provider.fail_next("503")
    sleeps = Sleeps()
    got = fresh_credentials(opened, link, now=_later, policy=quick(sleeps))
    assert provider.calls("refresh_token") == 3
    assert sleeps == [7.0, 0.02]  # Retry-After honoured, then backoff (base 0.01 * 2)
    assert opened.store.credentials(link)[1] == got


def test_token_url_down_is_a_credential_error_after_retries_then_a_cooldown(
    opened: Opened, provider: OAuthProvider
) -> None:
    link = _link(opened)
    provider.fail_next("503", times=3)
    sleeps = Sleeps()
    with pytest.raises(
        CredentialError, match=f"token URL {provider.url}/token did not answer after 3 tries"
    ) as err:
        fresh_credentials(opened, link, now=_later, policy=quick(sleeps))
    assert not isinstance(err.value, NeedsReauthorisation)
    assert len(sleeps) == 2 and provider.calls("refresh_token") == 3
    with pytest.raises(CredentialError, match="no new request for"):
        fresh_credentials(opened, link, now=_later, policy=quick(sleeps))
    assert provider.calls("refresh_token") == 3  # the cool-down held
    assert opened.store.find_link(FLOW, "acme", SOURCE).status == "ok"
    # after the cool-down the provider is asked again (and answers)
    got = fresh_credentials(opened, link, now=_later, policy=quick(sleeps, cooldown_s=0))
    assert provider.calls("refresh_token") == 4 and got["access_token"]
    assert opened.store.find_link(FLOW, "acme", SOURCE).last_error is None


def test_unreachable_token_url_names_it(opened: Opened, provider: OAuthProvider) -> None:
    link = _link(opened)
    url = provider.url
    provider.stop()
    with pytest.raises(CredentialError, match=f"the token URL {url}/token did not answer"):
        fresh_credentials(opened, link, now=_later, policy=quick())


def test_client_credentials_links_refresh_by_fetching_again(
    opened: Opened, provider: OAuthProvider
) -> None:
    link = link_client_credentials(opened, FLOW, "acme", MACHINE)
    _, first = opened.store.credentials(link)
    got = fresh_credentials(opened, link, now=_later, policy=quick())
    assert got["access_token"] != first["access_token"]
    assert provider.calls("client_credentials") == 2 and provider.calls("refresh_token") == 0


def test_api_key_links_get_their_secrets_as_they_are(opened: Opened) -> None:
    link = opened.store.save_link(
        flow=FLOW,
        tenant="acme",
        connector=KEYED,
        direction="read",
        auth="api_key",
        settings={},
        secrets={"api_key": "k-123456"},
    )
    assert fresh_credentials(opened, link, now=_later) == {"api_key": "k-123456"}


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _run_workers(ws_root: Path, threads: list[int], lease_ttl: float) -> list[dict[str, str]]:
    procs = [start_worker(ws_root, FLOW, "acme", SOURCE, str(n), str(lease_ttl)) for n in threads]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready", p.stderr
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    lines: list[dict[str, str]] = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        lines += [json.loads(line) for line in out.splitlines() if line.strip()]
    return lines


def test_50_callers_in_4_processes_make_one_refresh(
    any_ws_root: Path, any_opened: Opened, provider: OAuthProvider
) -> None:
    link = _link(any_opened)
    _expire(any_opened, link)
    lines = _run_workers(any_ws_root, [13, 13, 12, 12], lease_ttl=30)  # 4 processes, 50 calls
    assert len(lines) == 50
    assert provider.calls("refresh_token") == 1
    _, stored = any_opened.store.credentials(link)
    want = _digest(stored["access_token"])
    assert {line.get("token") for line in lines} == {want}
    slowest = max(float(line["s"]) for line in lines)
    print(f"50 callers in 4 processes: all had the new token {slowest:.2f} s after go")


def test_a_refresher_killed_mid_refresh_ends_in_needs_reauth_without_a_loop(
    any_ws_root: Path, any_opened: Opened, provider: OAuthProvider
) -> None:
    link = _link(any_opened)
    _expire(any_opened, link)
    provider.hold()  # the provider rotates, then holds its answer
    victim = start_worker(any_ws_root, FLOW, "acme", SOURCE, "1", "0.5")
    assert victim.stdout is not None and victim.stdin is not None
    assert victim.stdout.readline().strip() == "ready"
    victim.stdin.write("go\n")
    victim.stdin.flush()
    assert provider.held.wait(30)
    victim.send_signal(signal.SIGKILL)
    victim.wait(30)
    provider.release()  # the new pair goes nowhere: the old refresh token is already invalid

    # the next caller waits out the dead holder's lease, tries once, is refused
    with pytest.raises(NeedsReauthorisation):
        fresh_credentials(any_opened, link, policy=quick(lease_ttl_s=0.5))
    assert provider.calls("refresh_token") == 2
    for _ in range(3):
        with pytest.raises(NeedsReauthorisation):
            fresh_credentials(any_opened, link, policy=quick())
    assert provider.calls("refresh_token") == 2  # never a loop of rejected refreshes
    assert any_opened.store.find_link(FLOW, "acme", SOURCE).status == "needs_reauth"


def test_a_refresher_whose_lease_lapsed_while_waiting_to_retry_uses_the_new_holders_tokens(
    ws_root: Path, opened: Opened, provider: OAuthProvider
) -> None:
    link = _link(opened)
    _expire(opened, link)
    provider.fail_next("429", retry_after=0)
    other: list[dict[str, str]] = []

    def slow_sleep(_seconds: float) -> None:
        # while this caller waits to retry, its 0.05 s lease lapses and another process
        # takes it and refreshes
        other.extend(_run_workers(ws_root, [1], lease_ttl=30))

    got = fresh_credentials(opened, link, policy=quick(slow_sleep, lease_ttl_s=0.05))
    assert other == [{"token": _digest(got["access_token"]), "s": other[0]["s"]}]
    assert got == opened.store.credentials(link)[1]
    assert provider.calls("refresh_token") == 2  # the 429 and the other process's refresh
    assert opened.store.find_link(FLOW, "acme", SOURCE).status == "ok"


def test_a_wrong_client_secret_is_the_apps_problem_not_the_tenants(
    ws_root: Path, opened: Opened, provider: OAuthProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    link = _link(opened)
    monkeypatch.setenv("GLUE_TEST_OAUTH_CLIENT_SECRET", "not-the-secret")
    with open_workspace(ws_root) as wrong:
        with pytest.raises(CredentialError, match="invalid_client") as err:
            fresh_credentials(wrong, link, now=_later, policy=quick())
        assert not isinstance(err.value, NeedsReauthorisation)
        assert "not-the-secret" not in str(err.value)
        assert wrong.store.find_link(FLOW, "acme", SOURCE).status == "ok"  # relinking won't help
        with pytest.raises(CredentialError, match="no new request for"):
            fresh_credentials(wrong, link, now=_later, policy=quick())
    assert provider.calls("refresh_token") == 1
