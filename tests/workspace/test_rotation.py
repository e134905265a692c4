"""Key rotation: every sealed value re-encrypted with the new key, old keys kept until dropped,
on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from glue_runtime.errors import SecretKeyError
from glue_runtime.workspace.appsecrets import app_secret, set_app_secret
from glue_runtime.workspace.crypto import (
    ENV_KEY,
    Keyring,
    create_key_file,
    envelope_key_id,
    new_key,
    read_key_file,
)
from glue_runtime.workspace.open import Opened, open_workspace
from glue_runtime.workspace.rekey import key_usage, reencrypt
from glue_runtime.workspace.rotation import drop_old_keys, key_id_of, rotate_key
from glue_runtime.workspace.store import Store, app_secrets, links, oauth_states
from workspace.conftest_secrets import *  # noqa: F403
from workspace.conftest_secrets import write_workspace
from workspace.secret_sweep import assert_no_secrets

SECRETS = {
    "acme": "acme-api-key-31b7c0de",
    "globex": "globex-api-key-9e04aa12",
    "app": "crm-client-secret-6f2d",
    "verifier": "pkce-verifier-0aa9c3e1f5",
}
STATE_HASH = hashlib.sha256(b"some-state").hexdigest()


@pytest.fixture
def keyed_root(tmp_path: Path, clean_env: pytest.MonkeyPatch, store_url: str) -> tuple[Path, str]:
    """A workspace whose key is in .glue/secret.key, with a store holding every kind of secret."""
    root = write_workspace(tmp_path / "ws")
    clean_env.setenv("GLUE_STORE_URL", store_url)
    old = new_key()
    create_key_file(root / ".glue" / "secret.key", old)
    with open_workspace(root, check=False) as opened:
        Store(opened.workspace.store_url, opened.keyring).create()
        _fill(opened)
    return root, old


def _fill(opened: Opened) -> None:
    store = opened.store
    for tenant in ("acme", "globex"):
        store.add_tenant(tenant)
        store.save_link(
            flow="shop",
            tenant=tenant,
            connector="crm",
            direction="read",
            auth="api_key",
            settings={},
            secrets={"api_key": SECRETS[tenant]},
        )
    set_app_secret(opened, "shop", "crm", "client_secret", SECRETS["app"])
    with store.write() as conn:
        conn.execute(
            sa.insert(oauth_states).values(
                state_hash=STATE_HASH,
                flow="shop",
                tenant="acme",
                connector="crm",
                redirect_uri="http://127.0.0.1:8765/callback",
                verifier=store.seal({"verifier": SECRETS["verifier"]}, f"oauth_state:{STATE_HASH}"),
                expires_at=0.0,
            )
        )


def _envelopes(store: Store) -> list[str]:
    with store.engine.connect() as conn:
        values = [
            *conn.execute(sa.select(links.c.secrets)).scalars(),
            *conn.execute(sa.select(app_secrets.c.value)).scalars(),
            *conn.execute(sa.select(oauth_states.c.verifier)).scalars(),
        ]
    return [str(v) for v in values]


def _plaintexts(opened: Opened) -> dict[str, str]:
    store = opened.store
    got = {
        t: store.credentials(store.link("shop", t, "crm"))[1]["api_key"] for t in ("acme", "globex")
    }
    got["app"] = app_secret(opened, "shop", "crm", "client_secret") or ""
    with store.engine.connect() as conn:
        sealed = conn.execute(sa.select(oauth_states.c.verifier)).scalar_one()
    got["verifier"] = store.unseal(sealed, f"oauth_state:{STATE_HASH}")["verifier"]
    return got


def test_rotation_re_encrypts_every_value_and_keeps_the_old_key(
    keyed_root: tuple[Path, str],
) -> None:
    root, old = keyed_root
    with open_workspace(root) as opened:
        assert _plaintexts(opened) == SECRETS
        old_id = key_id_of(old)
        assert {envelope_key_id(e) for e in _envelopes(opened.store)} == {old_id}
        versions = [lk.credential_version for lk in opened.store.links()]
        done = rotate_key(opened)
    assert done.previous == [old_id] and done.current != old_id
    assert done.reencrypted == {"link credentials": 2, "app secrets": 1, "OAuth verifiers": 1}
    keys = read_key_file(root / ".glue" / "secret.key")
    assert keys[1:] == [old] and key_id_of(keys[0]) == done.current
    with open_workspace(root) as opened:
        assert {envelope_key_id(e) for e in _envelopes(opened.store)} == {done.current}
        assert _plaintexts(opened) == SECRETS
        assert [lk.credential_version for lk in opened.store.links()] == versions
        assert key_usage(opened.store) == {done.current: 4}
        # only the new key is needed now: a keyring of it alone reads everything
        opened.store.keyring = Keyring.from_texts([keys[0]], "new key only")
        assert _plaintexts(opened) == SECRETS
    assert_no_secrets(SECRETS.values(), folders=[root])


def test_drop_old_is_refused_while_a_value_needs_an_old_key(keyed_root: tuple[Path, str]) -> None:
    root, old = keyed_root
    with open_workspace(root) as opened:
        rotate_key(opened)
        keys = read_key_file(root / ".glue" / "secret.key")
        # a process that opened the workspace before the rotation writes with the old key
        stale = Store(opened.store.url, Keyring.from_texts([old], "old process"))
        stale.add_tenant("initech")
        stale.save_link(
            flow="shop",
            tenant="initech",
            connector="crm",
            direction="read",
            auth="api_key",
            settings={},
            secrets={"api_key": "initech-key-55e1"},
        )
        stale.close()
        with pytest.raises(SecretKeyError, match=rf"1 value\(s\) under key {key_id_of(old)}"):
            drop_old_keys(opened, keys, False, lambda _v: None)
        assert read_key_file(root / ".glue" / "secret.key") == keys
        done = rotate_key(opened, generate=False, drop_old=True)
    assert done.reencrypted["link credentials"] == 1 and done.dropped == [key_id_of(old)]
    assert read_key_file(root / ".glue" / "secret.key") == keys[:1]
    with open_workspace(root) as opened:
        assert _plaintexts(opened) == SECRETS
        assert opened.store.credentials(opened.store.link("shop", "initech", "crm"))[1] == {
            "api_key": "initech-key-55e1"
        }
        old_only = Store(opened.store.url, Keyring.from_texts([old], "the old key"))
        with pytest.raises(SecretKeyError, match=f"encrypted with key {done.current}"):
            old_only.credentials(old_only.link("shop", "acme", "crm"))
        old_only.close()
        with opened.store.engine.connect() as conn:
            audit = conn.exec_driver_sql("select action, subject from audit").all()
    rotations = [subject for action, subject in audit if action == "key-rotated"]
    assert len(rotations) == 2 and f"dropped {key_id_of(old)}" in rotations[1]
    assert not any(s in str(audit) for s in SECRETS.values())


def test_with_the_env_key_the_new_value_is_shown_before_anything_is_re_encrypted(
    keyed_root: tuple[Path, str], clean_env: pytest.MonkeyPatch
) -> None:
    root, old = keyed_root
    clean_env.setenv(ENV_KEY, old)
    (root / ".glue" / "secret.key").unlink()
    shown: list[tuple[str, list[str]]] = []
    with open_workspace(root) as opened:

        def show(value: str) -> None:  # what the store holds when the user is told
            shown.append((value, sorted(key_usage(opened.store))))

        done = rotate_key(opened, show=show)
    new = shown[0][0].split(",")[0]
    assert shown == [(f"{new},{old}", [key_id_of(old)])]
    assert done.env_value == f"{new},{old}" and key_id_of(new) == done.current
    assert not (root / ".glue" / "secret.key").exists()
    clean_env.setenv(ENV_KEY, new)
    with open_workspace(root) as opened:
        assert _plaintexts(opened) == SECRETS


def test_re_encryption_pages_through_more_rows_than_a_batch(keyed_root: tuple[Path, str]) -> None:
    root, old = keyed_root
    with open_workspace(root) as opened:
        for n in range(5):
            opened.store.add_tenant(f"t{n}")
            opened.store.save_link(
                flow="shop",
                tenant=f"t{n}",
                connector="crm",
                direction="read",
                auth="api_key",
                settings={},
                secrets={"api_key": f"key-number-{n}"},
            )
        ring = Keyring.from_texts([new_key(), old], "test")
        assert reencrypt(opened.store, ring, batch=2)["link credentials"] == 7
        assert set(key_usage(opened.store)) == {ring.current_id}
        assert reencrypt(opened.store, ring, batch=2)["link credentials"] == 0


def test_a_value_no_key_decrypts_stops_rotation_with_its_row_named(
    keyed_root: tuple[Path, str],
) -> None:
    root, _old = keyed_root
    foreign = Keyring.from_texts([new_key()], "elsewhere")
    with open_workspace(root) as opened:
        acme = opened.store.link("shop", "acme", "crm")
        with opened.store.write() as conn:
            conn.execute(
                sa.update(links)
                .where(links.c.id == acme.id)
                .values(secrets=foreign.encrypt(b"{}", f"link:{acme.id}:secrets"))
            )
        with pytest.raises(SecretKeyError, match=f"link:{acme.id}:secrets was encrypted with key"):
            rotate_key(opened, drop_old=True)
    assert len(read_key_file(root / ".glue" / "secret.key")) == 2  # nothing dropped


def test_a_value_rewritten_during_re_encryption_is_never_set_back(tmp_path: Path) -> None:
    """A token refresh racing the rotation: the refresher always reads back what it wrote
    (re-encryption swaps only the envelope it read), on real concurrent SQLite writers."""
    old, new = new_key(), new_key()
    url = f"sqlite:///{tmp_path / 'store.db'}"
    setup = Store(url, Keyring.from_texts([old], "setup"))
    setup.create()
    tenants = [f"t{n}" for n in range(12)]
    for t in tenants:
        setup.add_tenant(t)
        setup.save_link(
            flow="shop",
            tenant=t,
            connector="crm",
            direction="read",
            auth="api_key",
            settings={},
            secrets={"api_key": f"{t}-value-0"},
        )
    setup.close()
    stop = threading.Event()
    regressions: list[str] = []
    rounds: list[int] = []
    errors: list[BaseException] = []

    def refresher() -> None:  # an old process: encrypts with the old key, reads both
        store = Store(url, Keyring.from_texts([old, new], "refresher"))
        written = {t: f"{t}-value-0" for t in tenants}
        try:
            while not stop.is_set():
                rounds.append(len(rounds) + 1)
                for t in tenants:
                    link = store.link("shop", t, "crm")
                    version, secrets = store.credentials(link)
                    if secrets["api_key"] != written[t]:
                        regressions.append(f"{t}: wrote {written[t]}, read {secrets['api_key']}")
                    value = f"{t}-value-{len(rounds)}"
                    if store.swap_credentials(link, version, {"api_key": value}) is not None:
                        written[t] = value
        except BaseException as exc:
            errors.append(exc)
        finally:
            store.close()

    thread = threading.Thread(target=refresher)
    thread.start()
    ring = Keyring.from_texts([new, old], "rotation")
    rotation = Store(url, ring)
    passes: list[int] = []
    try:  # until both sides have done enough work side by side
        while (len(passes) < 40 or len(rounds) < 40) and thread.is_alive():
            passes.append(sum(reencrypt(rotation, ring, batch=3).values()))
    finally:
        stop.set()
        thread.join()
        rotation.close()
    assert errors == []
    assert sum(passes) > len(tenants)  # it re-encrypted values the refresher kept rewriting
    assert regressions == []
