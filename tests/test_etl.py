"""The ETL script contract: loading scripts, the Context helpers, and the docs' cookbook."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from glue_runtime.errors import ConfigError, TransformError
from glue_runtime.etl import (
    Context,
    Out,
    load_script,
    load_transform,
    reshape,
    script_from_functions,
)
from glue_runtime.stages.transform import make_transform

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples" / "etl"

S = {"type": ["string", "null"]}
INT = {"type": ["integer", "null"]}
N = {"type": ["number", "null"]}


def schema_msg(stream: str, props: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    return {
        "type": "SCHEMA",
        "stream": stream,
        "schema": {"type": "object", "properties": props},
        "key_properties": keys,
    }


def rec(stream: str, **record: Any) -> dict[str, Any]:
    return {"type": "RECORD", "stream": stream, "record": record}


CUSTOMERS = schema_msg(
    "customers",
    {"id": {"type": "integer"}, "name": S, "email": S, "phone": S},
    ["id"],
)
ORDERS = schema_msg(
    "orders",
    {
        "id": {"type": "integer"},
        "country": S,
        "status": S,
        "price": N,
        "qty": INT,
        "internal_note": S,
        "lines": {"type": ["array", "null"], "items": {"type": "object"}},
    },
    ["id"],
)


def sample() -> list[dict[str, Any]]:
    """customers and orders, with STATE between them (what a tap would send)."""
    return [
        CUSTOMERS,
        rec("customers", id=1, name="Ada", email="Ada@x.org", phone="0612345678"),
        rec("customers", id=2, name="Bob", email=None, phone=None),
        {"type": "STATE", "value": {"bookmarks": {"customers": {"id": 2}}}},
        ORDERS,
        rec(
            "orders",
            id=10,
            country="NL",
            status="paid",
            price=2.5,
            qty=4,
            internal_note="vip",
            lines=[{"sku": "a", "qty": 1}, {"sku": "b", "qty": 3}],
        ),
        rec(
            "orders",
            id=11,
            country="DE",
            status="cancelled",
            price=9.0,
            qty=1,
            internal_note=None,
            lines=[],
        ),
        rec(
            "orders",
            id=12,
            country="NL",
            status="paid",
            price=1.0,
            qty=2,
            internal_note=None,
            lines=[{"sku": "c", "qty": 2}],
        ),
        {"type": "STATE", "value": {"bookmarks": {"orders": {"id": 12}}}},
    ]


def run(script: Any, messages: list[dict[str, Any]] | None = None, **kw: Any) -> list[dict]:
    return list(make_transform(script, **kw)(iter(sample() if messages is None else messages)))


def records(out: list[dict], stream: str) -> list[dict]:
    return [m["record"] for m in out if m["type"] == "RECORD" and m["stream"] == stream]


def schemas(out: list[dict]) -> dict[str, dict]:
    return {m["stream"]: m for m in out if m["type"] == "SCHEMA"}


# -- loading -----------------------------------------------------------------------------


def test_missing_script_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.py does not exist"):
        load_script(tmp_path / "nope.py")


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.py"
    path.write_text("def transform(record, ctx):\n    return {\n\nx = = 1\n")
    with pytest.raises(ConfigError, match=r"bad\.py:\d+: syntax error") as err:
        load_script(path)
    assert err.value.exit_code == 2


def test_import_time_exception_shows_the_scripts_frame(tmp_path: Path) -> None:
    path = tmp_path / "boom.py"
    path.write_text("import os\n\nLOOKUP = {}['missing']\n")
    with pytest.raises(ConfigError, match="failed while being imported: KeyError") as err:
        load_script(path)
    assert 'boom.py", line 3' in str(err.value)


def test_script_without_hooks_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "empty.py"
    path.write_text("def helper(x):\n    return x\n")
    with pytest.raises(ConfigError, match="defines none of the ETL functions"):
        load_script(path)


def test_hook_that_is_not_a_function_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "notfn.py"
    path.write_text("transform = 3\n")
    with pytest.raises(ConfigError, match="transform must be a function"):
        load_script(path)


def test_script_imports_a_helper_next_to_it(tmp_path: Path) -> None:
    (tmp_path / "etl_helper_mod.py").write_text("def shout(s):\n    return s.upper()\n")
    path = tmp_path / "etl.py"
    path.write_text(
        "from etl_helper_mod import shout\n\n"
        "def transform(record, ctx):\n    return {**record, 'name': shout(record['name'])}\n"
    )
    script = load_script(path)
    out = run(script, [CUSTOMERS, rec("customers", id=1, name="ada", email=None, phone=None)])
    assert records(out, "customers") == [{"id": 1, "name": "ADA", "email": None, "phone": None}]


def test_load_transform_picks_maps_for_yaml_and_scripts_for_py() -> None:
    assert load_transform(EXAMPLES / "maps.yml").trusted
    script = load_transform(EXAMPLES / "filter.py")
    assert not script.trusted and script.transform is not None


def test_unknown_hook_name_in_script_from_functions() -> None:
    with pytest.raises(ConfigError, match="unknown ETL hook"):
        script_from_functions(transfrom=lambda r, c: r)


# -- Context helpers ---------------------------------------------------------------------


def test_reshape_renames_drops_adds_and_keys_follow() -> None:
    schema = {
        "type": "object",
        "properties": {"id": {"type": "integer"}, "pw": S, "name": S},
        "required": ["id", "pw"],
    }
    out, keys = reshape(
        schema, drop=["pw"], rename={"id": "uid"}, add={"n": INT}, key_properties=["id"]
    )
    assert list(out["properties"]) == ["uid", "name", "n"]
    assert out["required"] == ["uid"]
    assert keys == ["uid"]
    assert "pw" in schema["properties"]  # the input schema is not changed


def test_reshape_unknown_field_is_an_error() -> None:
    with pytest.raises(TransformError, match="field 'nope' is not in the schema"):
        reshape({"type": "object", "properties": {"a": S}}, drop=["nope"])


def test_context_reshape_refuses_to_drop_a_key() -> None:
    ctx = Context("users", {"type": "object", "properties": {"id": INT, "a": S}}, ["id"])
    with pytest.raises(TransformError, match="drops key property 'id'"):
        ctx.reshape(drop=["id"])
    ctx.key_properties = ["a"]
    assert list(ctx.reshape(drop=["id"])["properties"]) == ["a"]


def test_context_carries_job_ids_and_a_per_stream_state() -> None:
    seen: list[tuple] = []

    def transform(record: Any, ctx: Context) -> Any:
        ctx.state["n"] = ctx.state.get("n", 0) + 1
        seen.append((ctx.stream, ctx.position, ctx.state["n"], ctx.flow, ctx.tenant, ctx.job_id))
        return record

    run(
        script_from_functions(transform=transform),
        job_context={"flow": "f1", "tenant": "t1", "job_id": "j1"},
    )
    assert seen[:2] == [
        ("customers", 1, 1, "f1", "t1", "j1"),
        ("customers", 2, 2, "f1", "t1", "j1"),
    ]
    assert seen[2] == ("orders", 1, 1, "f1", "t1", "j1")


# -- the cookbook (docs/examples/etl) ----------------------------------------------------


def test_cookbook_rename() -> None:
    out = run(load_script(EXAMPLES / "rename.py"))
    sch = schemas(out)
    assert "customers" not in sch
    assert sch["clients"]["key_properties"] == ["customer_id"]
    assert list(sch["clients"]["schema"]["properties"]) == [
        "customer_id",
        "full_name",
        "email",
        "phone",
    ]
    assert records(out, "clients")[0] == {
        "customer_id": 1,
        "full_name": "Ada",
        "email": "Ada@x.org",
        "phone": "0612345678",
    }
    # orders are untouched: the very same message objects go out
    assert sch["orders"] is ORDERS


def test_cookbook_compute() -> None:
    out = run(load_script(EXAMPLES / "compute.py"))
    orders = records(out, "orders")
    assert [o["total"] for o in orders] == [10.0, 9.0, 2.0]
    assert all("internal_note" not in o for o in orders)
    assert "total" in schemas(out)["orders"]["schema"]["properties"]


def test_cookbook_mask() -> None:
    out = run(load_script(EXAMPLES / "mask.py"))
    ada, bob = records(out, "customers")
    assert len(ada["email"]) == 64 and "@" not in ada["email"]
    assert ada["phone"] == "******5678"
    assert bob["email"] is None and bob["phone"] is None


def test_cookbook_filter() -> None:
    out = run(load_script(EXAMPLES / "filter.py"))
    assert [o["id"] for o in records(out, "orders")] == [10, 12]


def test_cookbook_split() -> None:
    out = run(load_script(EXAMPLES / "split.py"))
    assert records(out, "order_lines") == [
        {"order_id": 10, "line_no": 1, "sku": "a", "qty": 1},
        {"order_id": 10, "line_no": 2, "sku": "b", "qty": 3},
        {"order_id": 12, "line_no": 1, "sku": "c", "qty": 2},
    ]
    assert all("lines" not in o for o in records(out, "orders"))
    types = [(m["type"], m.get("stream")) for m in out]
    # each SCHEMA comes before the first record of its stream
    assert types.index(("SCHEMA", "order_lines")) < types.index(("RECORD", "order_lines"))
    assert schemas(out)["order_lines"]["key_properties"] == ["order_id", "line_no"]


def test_cookbook_aggregate_holds_state_until_the_totals_are_out() -> None:
    out = run(load_script(EXAMPLES / "aggregate.py"))
    assert records(out, "sales_by_country") == [
        {"country": "DE", "orders": 1, "revenue": 9.0},
        {"country": "NL", "orders": 2, "revenue": 12.0},
    ]
    assert len(records(out, "orders")) == 3
    # one STATE (the latest), after the aggregates
    states = [i for i, m in enumerate(out) if m["type"] == "STATE"]
    assert len(states) == 1 and states[0] == len(out) - 1
    assert out[-1]["value"] == {"bookmarks": {"orders": {"id": 12}}}


def test_cookbook_merge() -> None:
    eu = schema_msg("customers_eu", {"id": {"type": "integer"}, "name": S}, ["id"])
    us = schema_msg("customers_us", {"id": {"type": "integer"}, "name": S}, ["id"])
    out = run(
        load_script(EXAMPLES / "merge.py"),
        [eu, rec("customers_eu", id=1, name="a"), us, rec("customers_us", id=2, name="b")],
    )
    assert [m["stream"] for m in out if m["type"] == "SCHEMA"] == ["customers"]
    assert records(out, "customers") == [
        {"id": 1, "name": "a", "region": "eu"},
        {"id": 2, "name": "b", "region": "us"},
    ]


def test_cookbook_maps_file() -> None:
    out = run(EXAMPLES / "maps.yml")
    sch = schemas(out)
    assert sch["clients"]["key_properties"] == ["customer_id"]
    ada = records(out, "clients")[0]
    assert ada["customer_id"] == 1 and "id" not in ada
    assert ada["phone"] == "******5678" and len(ada["email"]) == 64
    assert [o["total"] for o in records(out, "orders")] == [10.0, 2.0]
    assert sch["orders"]["schema"]["properties"]["total"] == N


def test_out_is_a_named_pair() -> None:
    o = Out("s", {"a": 1})
    assert o.stream == "s" and o.record == {"a": 1}
