"""glue.yml's triggers: typed settings with their defaults, and named errors for what the
schema cannot check; the body paths they use."""

from __future__ import annotations

from pathlib import Path

import pytest
from workspace.conftest_run import make_workspace

from glue_runtime.errors import ConfigError
from glue_runtime.service.triggers import paths
from glue_runtime.service.triggers.settings import trigger, triggers
from glue_runtime.workspace.config import load_workspace
from service.conftest_triggers import write_glue_yml


def load(tmp_path: Path, block: str):  # type: ignore[no-untyped-def]
    ws = make_workspace(tmp_path / "ws")
    write_glue_yml(ws.root, "    triggers:\n" + block)
    return load_workspace(ws.root)


def test_the_defaults_follow_the_scheme(tmp_path: Path) -> None:
    found = {t.name: t for t in triggers(load(tmp_path, _all_schemes()))}
    assert {n: t.secret for n, t in found.items()} == {
        "stripe": "stored",
        "github": "generated",
        "shopify": "stored",
        "slack": "stored",
        "hubspot": "stored",
        "glue": "generated",
    }
    assert found["stripe"].event_id_path == ("id",)
    assert found["slack"].event_id_path == ("event_id",)
    assert found["github"].event_id_path is None  # the body's SHA-256
    assert all(t.tenant_from_url and t.debounce_s == 5.0 for t in found.values())
    assert found["glue"].key == "shop.glue" and found["glue"].sync_type == "incremental"


def _all_schemes() -> str:
    return "".join(
        f"      {s}: {{connector: files, scheme: {s}}}\n"
        for s in ("stripe", "github", "shopify", "slack", "hubspot", "glue")
    )


def test_keys_override_the_defaults(tmp_path: Path) -> None:
    ws = load(
        tmp_path,
        "      t:\n"
        "        connector: files\n"
        "        scheme: github\n"
        "        secret: stored\n"
        "        tenant: {from: body, path: repository.owner.login}\n"
        "        event_id: {path: hook_id}\n"
        "        streams: [orders]\n"
        "        debounce: 2m\n"
        "        sync_type: full\n",
    )
    t = trigger(ws, "shop", "t")
    assert (t.secret, t.tenant_path, t.event_id_path) == (
        "stored",
        ("repository", "owner", "login"),
        ("hook_id",),
    )
    assert t.streams is not None and t.streams.fixed == ("orders",)
    assert (t.debounce_s, t.sync_type) == (120.0, "full")
    stripe = trigger(
        load(
            tmp_path / "b", "      s: {connector: files, scheme: stripe, event_id: {from: body}}\n"
        ),
        "shop",
        "s",
    )
    assert stripe.event_id_path is None


@pytest.mark.parametrize(
    ("block", "message"),
    [
        (
            "      t: {connector: db, scheme: github}\n",
            "flows.shop.triggers.t.connector: 'db' is not a source of flow 'shop'",
        ),
        (
            "      t: {connector: files, scheme: github, tenant: {from: body}}\n",
            "flows.shop.triggers.t.tenant: from: body needs the path",
        ),
        (
            "      t: {connector: files, scheme: github, debounce: soon}\n",
            "flows.shop.triggers.t.debounce",
        ),
    ],
)
def test_what_the_schema_cannot_check_is_a_named_error(
    tmp_path: Path, block: str, message: str
) -> None:
    with pytest.raises(ConfigError) as err:
        triggers(load(tmp_path, block))
    assert message in str(err.value)


@pytest.mark.parametrize(
    "block",
    [
        "      t: {connector: files, scheme: webhook}\n",
        "      t: {connector: files}\n",
        "      t: {connector: files, scheme: github, tenant: {from: header, path: x}}\n",
        "      t: {connector: files, scheme: github, secret: env}\n",
        "      t: {connector: files, scheme: github, extra: 1}\n",
        "      t: {connector: files, scheme: github, streams: {map: {a: [b]}}}\n",
        "      t: {connector: files, scheme: github, tenant: {from: body, path: 'a..b'}}\n",
    ],
)
def test_the_schema_refuses_a_malformed_trigger(tmp_path: Path, block: str) -> None:
    with pytest.raises(ConfigError) as err:
        load(tmp_path, block)
    assert "triggers" in str(err.value)


def test_an_unknown_trigger_names_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        trigger(load(tmp_path, _all_schemes()), "shop", "strip")
    assert "unknown trigger 'strip'" in str(err.value)
    assert "did you mean 'stripe'" in str(err.value)


def test_paths_pick_fields_list_elements_and_every_element() -> None:
    event = {"a": {"b": [{"c": 1}, {"c": 2}, {"c": 1}]}, "n": 0, "t": True, "e": ""}
    assert paths.pick(event, paths.parse("a.b.1.c")) == [2]
    assert paths.pick(event, paths.parse("a.b.*.c")) == [1, 2, 1]
    assert paths.scalars(paths.pick(event, paths.parse("a.b.*.c"))) == ["1", "2"]
    assert paths.pick(event, paths.parse("a.x.c")) == []
    assert paths.pick(event, paths.parse("a.b.9.c")) == []
    assert paths.scalars([True, "", None, {"x": 1}, 0]) == ["0"]  # no booleans, blanks, objects
    with pytest.raises(ValueError):
        paths.parse("a..b")
