"""App secrets: kept encrypted in the store, resolved into the OAuth app, never in clear."""

from __future__ import annotations

import sqlite3

import pytest

from glue_runtime.errors import ConfigError, SecretKeyError, UsageError
from glue_runtime.workspace.appsecrets import (
    app_secret,
    app_secret_names,
    resolve_oauth_app,
    set_app_secret,
    unset_app_secret,
)
from glue_runtime.workspace.open import Opened
from workspace.conftest_secrets import *  # noqa: F403

SECRET = "crm-client-secret-5d1e9b"


def test_an_app_secret_round_trips_and_is_encrypted_at_rest(opened: Opened) -> None:
    assert app_secret(opened, "shop", "crm", "client_secret") is None
    assert set_app_secret(opened, "shop", "crm", "client_secret", SECRET) is False
    assert app_secret(opened, "shop", "crm", "client_secret") == SECRET
    assert set_app_secret(opened, "shop", "crm", "client_secret", SECRET + "2") is True
    assert app_secret(opened, "shop", "crm", "client_secret") == SECRET + "2"
    db = opened.workspace.data_dir / "store.db"
    raw = sqlite3.connect(db).execute("select value from app_secrets").fetchall()
    assert len(raw) == 1 and raw[0][0].startswith("g1:") and SECRET not in raw[0][0]
    assert app_secret_names(opened) == [("shop", "crm", "client_secret")]


def test_an_app_secret_copied_to_another_connector_does_not_decrypt(opened: Opened) -> None:
    set_app_secret(opened, "shop", "crm", "client_secret", SECRET)
    with opened.store.write() as conn:
        conn.exec_driver_sql(
            "insert into app_secrets (flow, connector, name, value) "
            "select flow, 'ledger', name, value from app_secrets"
        )
    with pytest.raises(SecretKeyError, match="copied from another row") as err:
        app_secret(opened, "shop", "ledger", "client_secret")
    assert SECRET not in str(err.value)


def test_setting_a_secret_for_an_unknown_connector_is_refused_with_close_matches(
    opened: Opened,
) -> None:
    with pytest.raises(ConfigError, match="unknown connector 'crmm'") as err:
        set_app_secret(opened, "shop", "crmm", "client_secret", SECRET)
    assert "'crm'" in str(err.value)
    with pytest.raises(ConfigError, match="unknown flow 'shp'"):
        set_app_secret(opened, "shp", "crm", "client_secret", SECRET)
    with pytest.raises(UsageError, match="empty"):
        set_app_secret(opened, "shop", "crm", "client_secret", "")
    assert app_secret_names(opened) == []


def test_unset_removes_it_and_names_what_exists_when_it_is_not_there(opened: Opened) -> None:
    set_app_secret(opened, "shop", "crm", "client_secret", SECRET)
    with pytest.raises(ConfigError, match="unknown app secret 'client_secre'") as err:
        unset_app_secret(opened, "shop", "crm", "client_secre")
    assert "did you mean 'client_secret'" in str(err.value)
    unset_app_secret(opened, "shop", "crm", "client_secret")
    assert app_secret(opened, "shop", "crm", "client_secret") is None
    with opened.store.engine.connect() as conn:
        actions = [r[0] for r in conn.exec_driver_sql("select action from audit order by id")]
    assert actions == ["app-secret-set", "app-secret-unset"]


def test_resolve_oauth_app_takes_the_stored_client_secret(opened: Opened) -> None:
    crm = opened.workspace.flow("shop").connector("crm")
    assert crm.oauth is not None and crm.oauth.client_secret is None
    set_app_secret(opened, "shop", "crm", "client_secret", SECRET)
    app = resolve_oauth_app(opened, "shop", crm)
    assert app.client_secret == SECRET
    assert (app.client_id, app.token_url) == ("shop-app", crm.oauth.token_url)


def test_resolve_oauth_app_prefers_glue_yml_from_the_environment(opened: Opened) -> None:
    ledger = opened.workspace.flow("shop").connector("ledger")
    set_app_secret(opened, "shop", "ledger", "client_secret", SECRET)
    assert resolve_oauth_app(opened, "shop", ledger).client_secret == "ledger-secret-from-env-7f3a"


def test_resolve_oauth_app_without_a_secret_says_how_to_set_one(opened: Opened) -> None:
    crm = opened.workspace.flow("shop").connector("crm")
    with pytest.raises(ConfigError, match="has no client secret") as err:
        resolve_oauth_app(opened, "shop", crm)
    assert "glue secrets set shop crm client_secret" in str(err.value)
    with pytest.raises(ConfigError, match="no oauth: block"):
        resolve_oauth_app(opened, "shop", opened.workspace.flow("shop").connector("files"))
