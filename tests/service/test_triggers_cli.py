"""`glue triggers list|show|url|secret` as real processes: secrets shown once when made,
never after; provider-issued secrets only set, never generated."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from workspace.conftest_run import Workspace, make_workspace

from glue_runtime.service.triggers import records
from glue_runtime.service.triggers.settings import trigger
from glue_runtime.service.triggers.tables import trigger_secrets, trigger_tenant_tokens
from glue_runtime.workspace.config import load_workspace
from service.conftest_triggers import PUBLIC_URL, write_glue_yml

pytestmark = pytest.mark.slow  # a dozen CLI processes


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    made = make_workspace(tmp_path / "ws")
    write_glue_yml(made.root)
    return made


def secrets_of(ws: Workspace, name: str) -> list[str]:
    t = trigger(load_workspace(ws.root), "shop", name)
    return records.secrets_of(ws.store, t, 2e9)


def glue_stdin(ws: Workspace, text: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "glue_runtime", *args],
        cwd=ws.root,
        input=text,
        capture_output=True,
        text=True,
        env={**os.environ, **ws.env},
        timeout=120,
    )


def test_list_gives_each_trigger_its_url_under_the_public_url(ws: Workspace) -> None:
    got = ws.glue("triggers", "list", "shop", "--json")
    assert got.code == 0, got.stderr
    found = {t["trigger"]: t for t in json.loads(got.stdout)}
    assert set(found) == {
        f"shop.{n}" for n in ("stripe", "github", "glue", "shopify", "slack", "hubspot")
    }
    stripe, github = found["shop.stripe"], found["shop.github"]
    assert re.fullmatch(re.escape(PUBLIC_URL) + r"/v1/hooks/trg_[\w-]{22}", stripe["url"])
    assert github["url"].endswith("/{tenant_token}")
    assert (stripe["scheme"], stripe["tenant_from"], stripe["secret_set"]) == (
        "stripe",
        "body",
        False,
    )
    assert stripe["last_delivery"] is None
    again = json.loads(ws.glue("triggers", "list", "--json").stdout)
    assert {t["url"] for t in again} == {t["url"] for t in found.values()}  # ids are kept
    text = ws.glue("triggers", "list").stdout
    assert "NO SECRET" in text and stripe["url"] in text


def test_secret_new_shows_a_generated_secret_once(ws: Workspace) -> None:
    made = ws.glue("triggers", "secret", "new", "shop", "github")
    assert made.code == 0, made.stderr
    secret = made.stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", secret)
    assert "shown once" in made.stderr
    assert secrets_of(ws, "github") == [secret]
    for args in (
        ("list", "--json"),
        ("show", "shop", "github", "--json"),
        ("show", "shop", "github"),
    ):
        shown = ws.glue("triggers", *args)
        assert shown.code == 0, shown.stderr
        assert secret not in shown.stdout + shown.stderr
    assert (
        json.loads(ws.glue("triggers", "show", "shop", "github", "--json").stdout)["secret"][
            "origin"
        ]
        == "generated"
    )
    twice = ws.glue("triggers", "secret", "new", "shop", "github")
    assert twice.code != 0
    assert "already has a secret" in twice.stderr and "secret rotate" in twice.stderr
    assert secrets_of(ws, "github") == [secret]


def test_rotate_makes_a_new_secret_and_keeps_the_old_one_verifying(ws: Workspace) -> None:
    old = ws.glue("triggers", "secret", "new", "shop", "github").stdout.strip()
    rotated = ws.glue("triggers", "secret", "rotate", "shop", "github", "--keep-old", "1h")
    assert rotated.code == 0, rotated.stderr
    new = rotated.stdout.strip()
    assert new != old
    t = trigger(load_workspace(ws.root), "shop", "github")
    now = time.time()
    assert records.secrets_of(ws.store, t, now) == [new, old]
    assert records.secrets_of(ws.store, t, now + 3601) == [new]
    shown = json.loads(ws.glue("triggers", "show", "shop", "github", "--json").stdout)
    assert shown["secret"]["previous_valid_until"] == pytest.approx(now + 3600, abs=120)


def test_a_provider_issued_secret_is_set_from_stdin_never_generated(ws: Workspace) -> None:
    refused = ws.glue("triggers", "secret", "new", "shop", "stripe")
    assert refused.code != 0
    assert "stripe issues the signing secret" in refused.stderr
    assert "glue triggers secret set shop stripe" in refused.stderr
    assert secrets_of(ws, "stripe") == []
    done = glue_stdin(
        ws, "whsec_from_the_dashboard\n", "triggers", "secret", "set", "shop", "stripe"
    )
    assert done.returncode == 0, done.stderr
    assert "whsec_from_the_dashboard" not in done.stdout + done.stderr
    assert secrets_of(ws, "stripe") == ["whsec_from_the_dashboard"]
    empty = glue_stdin(ws, "\n", "triggers", "secret", "set", "shop", "stripe")
    assert empty.returncode != 0 and "empty" in empty.stderr
    assert secrets_of(ws, "stripe") == ["whsec_from_the_dashboard"]


def stored_text(ws: Workspace, table: sa.Table) -> str:
    """Every value of ``table``'s rows, as text (read through SQL: opening the database file
    in this process would drop SQLite's locks)."""
    with ws.store.engine.connect() as conn:
        return repr([tuple(r) for r in conn.execute(sa.select(table)).all()])


def test_the_secret_is_stored_encrypted(ws: Workspace) -> None:
    glue_stdin(ws, "whsec_plain_text_nowhere", "triggers", "secret", "set", "shop", "stripe")
    text = stored_text(ws, trigger_secrets)
    assert "shop" in text and "whsec_plain_text_nowhere" not in text


def test_url_makes_a_tenants_own_url_once_and_revokes_it(ws: Workspace) -> None:
    got = ws.glue("triggers", "url", "shop", "github", "--tenant", "acme")
    assert got.code == 0, got.stderr
    url = got.stdout.strip()
    assert re.fullmatch(re.escape(PUBLIC_URL) + r"/v1/hooks/trg_[\w-]+/[\w-]{32}", url)
    t = trigger(load_workspace(ws.root), "shop", "github")
    assert records.tenant_of_token(ws.store, t, url.rsplit("/", 1)[1]) == "acme"
    text = stored_text(ws, trigger_tenant_tokens)
    assert "acme" in text and url.rsplit("/", 1)[1] not in text  # stored hashed
    assert "acme" in ws.glue("triggers", "show", "shop", "github").stdout
    revoked = ws.glue("triggers", "url", "shop", "github", "--tenant", "acme", "--revoke")
    assert "revoked 1 URL" in revoked.stdout
    assert records.tenant_of_token(ws.store, t, url.rsplit("/", 1)[1]) is None


def test_url_is_refused_where_the_tenant_comes_from_the_body(ws: Workspace) -> None:
    got = ws.glue("triggers", "url", "shop", "stripe", "--tenant", "acme")
    assert got.code != 0
    assert "reads the tenant from the signed body" in got.stderr


def test_an_unknown_trigger_or_tenant_is_a_named_error(ws: Workspace) -> None:
    got = ws.glue("triggers", "show", "shop", "strip")
    assert got.code != 0
    assert "unknown trigger 'strip'" in got.stderr and "did you mean 'stripe'" in got.stderr
    got = ws.glue("triggers", "url", "shop", "github", "--tenant", "initech")
    assert got.code != 0 and "unknown tenant 'initech'" in got.stderr
