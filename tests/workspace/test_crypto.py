"""Secrets at rest: the key file, a wrong key, no key, a value copied to another row."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import sqlalchemy as sa

from glue_runtime.errors import SecretKeyError
from glue_runtime.workspace.crypto import (
    ENV_KEY,
    Keyring,
    create_key_file,
    envelope_key_id,
    load_keyring,
    new_key,
    read_key_file,
    replace_key_file,
)
from glue_runtime.workspace.store import Store, links
from workspace.secret_sweep import assert_no_secrets

TOKEN = "tenant-api-key-0c93f1e2"


def _store(tmp_path: Path, keyring: Keyring | None) -> Store:
    store = Store(f"sqlite:///{tmp_path / 'store.db'}", keyring)
    store.create()
    return store


def _keyring(*keys: str) -> Keyring:
    return Keyring.from_texts(list(keys), "test keys")


def test_the_key_file_is_0600_even_with_an_open_umask_and_never_overwritten(
    tmp_path: Path,
) -> None:
    path = tmp_path / ".glue" / "secret.key"
    key = new_key()
    old_umask = os.umask(0)
    try:
        create_key_file(path, key)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_key_file(path) == [key]
    with pytest.raises(SecretKeyError, match="already exists; it is never overwritten"):
        create_key_file(path, new_key())
    assert read_key_file(path) == [key]


def test_replacing_the_key_file_keeps_0600_and_the_order(tmp_path: Path) -> None:
    path = tmp_path / "secret.key"
    first, second = new_key(), new_key()
    create_key_file(path, first)
    replace_key_file(path, [second, first])
    assert read_key_file(path) == [second, first]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = load_keyring(path, {})
    assert loaded is not None and loaded.current_id == _keyring(second).current_id
    assert [p.name for p in tmp_path.iterdir()] == ["secret.key"]  # no temp file left
    with pytest.raises(SecretKeyError, match="256-bit key"):
        replace_key_file(path, ["not-a-key"])
    assert read_key_file(path) == [second, first]


def test_glue_secret_key_wins_over_the_key_file_and_a_bad_one_is_named(tmp_path: Path) -> None:
    path = tmp_path / "secret.key"
    create_key_file(path, new_key())
    env_key = new_key()
    got = load_keyring(path, {ENV_KEY: env_key})
    assert got is not None and got.current_id == _keyring(env_key).current_id
    assert got.source == ENV_KEY
    with pytest.raises(SecretKeyError, match=f"{ENV_KEY} does not hold a 256-bit key") as err:
        load_keyring(path, {ENV_KEY: "hunter2-not-base64!"})
    assert "hunter2" not in str(err.value)
    assert load_keyring(tmp_path / "missing.key", {}) is None


def _link(store: Store, secrets: dict[str, str] | None, tenant: str = "acme") -> str:
    if tenant not in [t.id for t in store.tenants()]:
        store.add_tenant(tenant)
    link = store.save_link(
        flow="shop",
        tenant=tenant,
        connector="crm",
        direction="read",
        auth="api_key",
        settings={},
        secrets=secrets,
    )
    return link.id


def test_a_wrong_key_is_a_clear_error_naming_both_key_ids_never_garbage(tmp_path: Path) -> None:
    right, wrong = _keyring(new_key()), _keyring(new_key())
    store = _store(tmp_path, right)
    _link(store, {"api_key": TOKEN})
    store.close()
    other = Store(store.url, wrong)
    link = other.link("shop", "acme", "crm")
    with pytest.raises(SecretKeyError) as err:
        other.credentials(link)
    message = str(err.value)
    assert right.current_id in message and wrong.current_id in message
    assert "does not hold" in message and TOKEN not in message
    assert_no_secrets([TOKEN], folders=[tmp_path])  # the store holds ciphertext only


def test_without_a_key_secrets_are_neither_stored_nor_read(tmp_path: Path) -> None:
    keyed = _store(tmp_path, _keyring(new_key()))
    _link(keyed, {"api_key": TOKEN})
    keyless = Store(keyed.url, None)
    with pytest.raises(SecretKeyError, match="no secret key"):
        keyless.credentials(keyless.link("shop", "acme", "crm"))
    with pytest.raises(SecretKeyError, match="no secret key"):
        _link(keyless, {"api_key": TOKEN + "-new"}, tenant="globex")
    with keyless.engine.connect() as conn:
        rows = conn.execute(sa.select(links.c.tenant, links.c.secrets)).all()
    assert [r.tenant for r in rows] == ["acme"]  # nothing stored for globex
    assert all(r.secrets.startswith("g1:") for r in rows)
    assert_no_secrets([TOKEN, TOKEN + "-new"], folders=[tmp_path])


def test_a_value_copied_to_another_row_does_not_decrypt(tmp_path: Path) -> None:
    store = _store(tmp_path, _keyring(new_key()))
    acme = _link(store, {"api_key": TOKEN}, tenant="acme")
    _link(store, {"api_key": "globex-key-77a1"}, tenant="globex")
    with store.write() as conn:
        sealed = conn.execute(sa.select(links.c.secrets).where(links.c.id == acme)).scalar()
        conn.execute(sa.update(links).where(links.c.tenant == "globex").values(secrets=sealed))
    with pytest.raises(SecretKeyError, match="copied from another row") as err:
        store.credentials(store.link("shop", "globex", "crm"))
    assert TOKEN not in str(err.value)


def test_a_changed_value_does_not_decrypt(tmp_path: Path) -> None:
    ring = _keyring(new_key())
    envelope = ring.encrypt(b'{"api_key": "x"}', "link:1:secrets")
    assert envelope_key_id(envelope) == ring.current_id
    flipped = envelope[:-6] + ("A" if envelope[-6] != "A" else "B") + envelope[-5:]
    with pytest.raises(SecretKeyError, match="was changed, or copied"):
        ring.decrypt(flipped, "link:1:secrets")
    with pytest.raises(SecretKeyError, match="not an encrypted value"):
        ring.decrypt('{"api_key": "x"}', "link:1:secrets")


def test_old_keys_decrypt_the_current_one_encrypts() -> None:
    old, new = new_key(), new_key()
    envelope = _keyring(old).encrypt(b"v", "row")
    both = _keyring(new, old)
    assert both.decrypt(envelope, "row") == b"v"
    assert both.needs_rotation(envelope)
    again = both.reencrypt(envelope, "row")
    assert envelope_key_id(again) == both.current_id and not both.needs_rotation(again)
    assert _keyring(new).decrypt(again, "row") == b"v"


def test_a_key_file_others_can_read_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "secret.key"
    key = new_key()
    create_key_file(path, key)
    with caplog.at_level("WARNING", logger="glue_runtime.workspace"):
        load_keyring(path, {})
    assert caplog.records == []
    path.chmod(0o644)
    with caplog.at_level("WARNING", logger="glue_runtime.workspace"):
        load_keyring(path, {})
    assert [r.getMessage() for r in caplog.records] == [
        f"the key file {path} can be read by other users (mode 0o644); run `chmod 600 {path}`"
    ]
    assert key not in caplog.text


def test_a_key_file_that_cannot_be_replaced_is_a_named_error_and_left_as_it_was(
    tmp_path: Path,
) -> None:
    path = tmp_path / "secret.key"
    key = new_key()
    create_key_file(path, key)
    (tmp_path / f".secret.key.{os.getpid()}.new").mkdir()  # the temp file's name is taken
    with pytest.raises(SecretKeyError, match=r"cannot write the key file .*nothing was changed"):
        replace_key_file(path, [new_key(), key])
    assert read_key_file(path) == [key]


def test_a_symlinked_key_file_has_its_target_replaced_and_stays_a_link(tmp_path: Path) -> None:
    real = tmp_path / "vault" / "shop.key"
    first, second = new_key(), new_key()
    create_key_file(real, first)
    link = tmp_path / "ws" / "secret.key"
    link.parent.mkdir()
    link.symlink_to(real)
    replace_key_file(link, [second, first])
    assert link.is_symlink() and read_key_file(real) == [second, first]
    assert stat.S_IMODE(real.stat().st_mode) == 0o600
