"""Declarative maps: singer-sdk stream-map syntax (compared with singer-sdk's own mapper),
glue's typed fields and renames, and config errors."""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any

import pytest
import yaml
from singer_sdk.mapper import PluginMapper, RemoveRecordTransform

from glue_runtime.errors import ConfigError, TransformError
from glue_runtime.etl import FAST_RECORD, Context
from glue_runtime.stages.maps import load_maps, mask
from glue_runtime.stages.transform import make_transform

STR = {"type": ["string", "null"]}


def prop(*types: str, **extra: Any) -> dict[str, Any]:
    return {"type": list(types), **extra}


CUSTOMERS_SCHEMA = {
    "type": "object",
    "properties": {
        "id": prop("integer"),
        "name": prop("string", "null"),
        "email": prop("string", "null"),
        "country": prop("string", "null"),
        "score": prop("number", "null"),
        "created_at": prop("string", "null", format="date-time"),
        "tags": prop("array", "null", items={"type": "string"}),
    },
    "required": ["id"],
}


def tap_output() -> list[dict[str, Any]]:
    msgs: list[dict[str, Any]] = [
        {
            "type": "SCHEMA",
            "stream": "customers",
            "schema": CUSTOMERS_SCHEMA,
            "key_properties": ["id"],
        },
    ]
    for i in range(6):
        msgs.append(
            {
                "type": "RECORD",
                "stream": "customers",
                "record": {
                    "id": i,
                    "name": f"n{i}",
                    "email": f"u{i}@x.org",
                    "country": ["NL", "DE", "US"][i % 3],
                    "score": i * 1.5,
                    "created_at": f"2024-01-0{i + 1}T08:00:00Z",
                    "tags": ["a"] * i,
                },
            }
        )
        if i == 2:
            msgs.append({"type": "STATE", "value": {"bookmarks": {"customers": {"id": i}}}})
    msgs.append(
        {
            "type": "SCHEMA",
            "stream": "audit_log",
            "schema": {"type": "object", "properties": {"id": prop("integer")}},
            "key_properties": ["id"],
        }
    )
    msgs.append({"type": "RECORD", "stream": "audit_log", "record": {"id": 1}})
    msgs.append(
        {
            "type": "SCHEMA",
            "stream": "products",
            "schema": {"type": "object", "properties": {"sku": STR}},
            "key_properties": [],
        }
    )
    msgs.append({"type": "RECORD", "stream": "products", "record": {"sku": "p1"}})
    return msgs


# A Meltano project's mapper config, as written in meltano.yml (plain singer-sdk syntax).
MELTANO_YML = """
mappers:
- name: meltano-map-transformer
  mappings:
  - name: clean-customers
    config:
      stream_map_config:
        salt: pepper
      stream_maps:
        customers:
          __alias__: clients
          __filter__: "country != 'US'"
          email_hash: "sha256(email + config['salt'])"
          email_md5: md5(email)
          email: null
          score_int: int(score)
          name: self.upper()
          created_day: datetime.datetime.fromisoformat(created_at[:19]).date().isoformat()
          origin: __original_stream_name__
          label: "'customer'"
        customers_ids:
          __source__: customers
          __else__: null
          __key_properties__: [id]
          id: id
          first: "tags[0] if tags else None"
        "audit_*": null
"""


def sdk_map(config: dict[str, Any], messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What a singer-sdk tap with these stream maps writes (streams/core.py's use of the
    mapper: a SCHEMA per stream map, then each record through every stream map)."""
    mapper = PluginMapper(plugin_config=copy.deepcopy(config), logger=logging.getLogger("sdk"))
    out: list[dict[str, Any]] = []
    for msg in messages:
        if msg["type"] == "SCHEMA":
            mapper.register_raw_stream_schema(
                msg["stream"], copy.deepcopy(msg["schema"]), msg.get("key_properties")
            )
            for m in mapper.stream_maps[msg["stream"]]:
                if not isinstance(m, RemoveRecordTransform):
                    out.append(
                        {
                            "type": "SCHEMA",
                            "stream": m.stream_alias,
                            "schema": m.transformed_schema,
                            "key_properties": list(m.transformed_key_properties or []),
                        }
                    )
        elif msg["type"] == "RECORD":
            for m in mapper.stream_maps[msg["stream"]]:
                record = m.transform(copy.deepcopy(msg["record"]))
                if record is not None:
                    out.append({"type": "RECORD", "stream": m.stream_alias, "record": record})
        else:
            out.append(msg)
    return out


def normalise(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {k: (list(v or []) if k == "key_properties" else v) for k, v in m.items()} for m in messages
    ]


def glue_map(config: Any, messages: list[dict[str, Any]], **kw: Any) -> list[dict[str, Any]]:
    return list(make_transform(config, **kw)(iter(copy.deepcopy(messages))))


def test_meltano_map_file_gives_the_same_output_as_singer_sdk(tmp_path: Path) -> None:
    meltano = yaml.safe_load(MELTANO_YML)
    config = meltano["mappers"][0]["mappings"][0]["config"]
    path = tmp_path / "mapping.yml"
    path.write_text(yaml.safe_dump(meltano["mappers"][0]["mappings"][0]))  # the config: block

    expected = sdk_map(config, tap_output())
    got = glue_map(load_maps(path), tap_output())
    assert normalise(got) == normalise(expected)
    # the comparison is not vacuous: streams renamed, split, dropped, and records filtered
    streams = {m["stream"] for m in got if "stream" in m}
    assert streams == {"clients", "customers_ids", "products"}
    assert len([m for m in got if m.get("stream") == "clients" and m["type"] == "RECORD"]) == 4


@pytest.mark.parametrize(
    "stream_maps",
    [
        {"__else__": None, "customers": {"id": "id", "__else__": None}},
        {"*": {"__alias__": "__stream_name__ + '_v2'"}},
        {"customers": {"__key_properties__": ["email"], "id": None, "new_id": "id"}},
        {
            "customers": {
                "score": "float(score) * 2",
                "flag": "bool(score)",
                "d": "'x'",
                "whole": "record",
                "j": "json.dumps(tags)",
                "c": "country",
            }
        },
    ],
)
def test_more_sdk_configs_match_singer_sdk(stream_maps: dict[str, Any]) -> None:
    config = {"stream_maps": stream_maps, "stream_map_config": {}}
    expected = sdk_map(config, tap_output())
    got = glue_map(config, tap_output(), validate="off")
    assert normalise(got) == normalise(expected)


def test_state_keeps_its_place() -> None:
    got = glue_map(yaml.safe_load(MELTANO_YML)["mappers"][0]["mappings"][0]["config"], tap_output())
    kinds = [(m["type"], m.get("record", {}).get("id")) for m in got]
    state_at = kinds.index(("STATE", None))
    # every record of id <= 2 is before the STATE, every later one after it
    assert all(i <= 2 for _, i in kinds[:state_at] if i is not None)
    assert all(i > 2 for t, i in kinds[state_at:] if t == "RECORD" and i is not None)


# -- glue extensions -----------------------------------------------------------------------


def test_typed_computed_field_has_the_stated_type() -> None:
    config = {
        "stream_maps": {
            "customers": {
                "score_x2": {"expr": "score * 2", "type": "number"},
                "seen": {"expr": "created_at[:10]", "type": "date"},
                "raw": {"expr": "len(tags)", "type": {"type": "integer"}},
            }
        }
    }
    out = glue_map(config, tap_output())
    props = out[0]["schema"]["properties"]
    assert props["score_x2"] == {"type": ["number", "null"]}
    assert props["seen"] == {"type": ["string", "null"], "format": "date"}
    assert props["raw"] == {"type": "integer"}
    first = next(m["record"] for m in out if m["type"] == "RECORD")
    assert first["score_x2"] == 0.0 and first["seen"] == "2024-01-01" and first["raw"] == 0


def test_sdk_guess_of_string_is_caught_by_validation_with_a_hint() -> None:
    config = {"stream_maps": {"customers": {"double": "score * 2"}}}
    with pytest.raises(TransformError, match="field 'double' is number") as err:
        glue_map(config, tap_output())
    assert "type" in (err.value.hint or "")


def test_rename_with_from_moves_value_schema_and_key() -> None:
    config = {"stream_maps": {"customers": {"customer_id": {"from": "id"}}}}
    out = glue_map(config, tap_output())
    schema = out[0]
    assert schema["key_properties"] == ["customer_id"]
    assert "id" not in schema["schema"]["properties"]
    assert schema["schema"]["properties"]["customer_id"] == prop("integer")
    assert schema["schema"]["required"] == ["customer_id"]
    first = next(m["record"] for m in out if m["type"] == "RECORD")
    assert first["customer_id"] == 0 and "id" not in first


def test_unmapped_streams_pass_as_the_same_messages() -> None:
    msgs = tap_output()
    out = list(make_transform({"stream_maps": {"customers": {"email": None}}})(iter(msgs)))
    products = [m for m in msgs if m.get("stream") == "products"]
    assert all(any(o is m for o in out) for m in products)


def test_expression_failure_names_stream_record_and_property() -> None:
    config = {"stream_maps": {"customers": {"x": {"expr": "1 / (id - 3)", "type": "number"}}}}
    with pytest.raises(TransformError, match=r"stream 'customers'.*record 4: x = '1 / \(id - 3\)'"):
        glue_map(config, tap_output())


def test_mask_helper() -> None:
    assert mask("0612345678") == "******5678"
    assert mask("ab", keep=4) == "ab"
    assert mask(None) is None
    assert mask(12345, keep=2, char="#") == "###45"


# -- config errors (before any data moves) -------------------------------------------------


@pytest.mark.parametrize(
    ("stream_maps", "match"),
    [
        ({"customers": {"x": "1 +"}}, "cannot parse the expression"),
        ({"customers": {"__filter__": "id >"}}, "cannot parse"),
        ({"customers": "nope"}, "not the string"),
        ({"customers": {"__else__": "keep"}}, "only value allowed is null"),
        ({"__else__": "keep"}, "only value allowed is null"),
        ({"__weird__": None}, "not expected at this level"),
        ({"customers": {"x": {"expr": "id"}}}, "type must be one of"),
        ({"customers": {"x": {"expr": "id", "from": "id"}}}, "typed property is"),
        ({"customers": {"x": 3}}, "expected an expression"),
    ],
)
def test_config_errors(stream_maps: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        make_transform({"stream_maps": stream_maps})


def test_dropping_a_key_property_is_a_config_error() -> None:
    stage = make_transform({"stream_maps": {"customers": {"id": None}}})
    with pytest.raises(ConfigError, match="removing the key property 'id'"):
        list(stage(iter(tap_output())))


def test_rename_from_unknown_field_lists_the_fields() -> None:
    stage = make_transform({"stream_maps": {"customers": {"x": {"from": "nope"}}}})
    with pytest.raises(ConfigError, match="does not have") as err:
        list(stage(iter(tap_output())))
    assert "email" in (err.value.hint or "")


def test_flattening_is_refused_clearly() -> None:
    with pytest.raises(ConfigError, match="flattening"):
        make_transform({"stream_maps": {}, "flattening_enabled": True, "flattening_max_depth": 1})


def test_maps_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_maps(tmp_path / "none.yml")
    bad = tmp_path / "bad.yml"
    bad.write_text("other: 1\n")
    with pytest.raises(ConfigError, match="no stream_maps key"):
        load_maps(bad)
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(ConfigError, match="cannot be parsed"):
        load_maps(broken)


def test_the_maps_example_in_docs_compiles_and_runs() -> None:
    doc = (Path(__file__).resolve().parent.parent / "docs" / "etl.md").read_text()
    block = doc.split("```yaml\n", 1)[1].split("```", 1)[0]
    config = yaml.safe_load(block)
    msgs = tap_output()
    msgs[0] = {**msgs[0], "schema": copy.deepcopy(CUSTOMERS_SCHEMA)}
    msgs[0]["schema"]["properties"].update(
        price={"type": ["number", "null"]}, qty={"type": ["integer", "null"]}, phone=STR
    )
    for m in msgs:
        if m["type"] == "RECORD" and m["stream"] == "customers":
            m["record"].update(price=2.0, qty=3, phone="0612345678")
    out = glue_map(config, msgs)
    clients = [m["record"] for m in out if m.get("stream") == "clients" and m["type"] == "RECORD"]
    assert clients[0]["customer_id"] == 0 and clients[0]["total"] == 6.0
    assert clients[0]["phone"] == "******5678" and "email" not in clients[0]
    assert {m.get("stream") for m in out} >= {"clients", "customers_ids", "products"}


# -- compiled expressions ------------------------------------------------------------------------


def _one(expr: str, record: dict[str, Any]) -> Any:
    schema = {"type": "object", "properties": {k: {} for k in record}}
    stage = make_transform(
        {"stream_maps": {"s": {"out": {"expr": expr, "type": {}}}}}, validate="off"
    )
    msgs = [
        {"type": "SCHEMA", "stream": "s", "schema": schema, "key_properties": []},
        {"type": "RECORD", "stream": "s", "record": record},
    ]
    return next(m for m in stage(iter(msgs)) if m["type"] == "RECORD")["record"]["out"]


def test_simple_expressions_compile_and_complex_ones_use_simpleeval():
    import ast

    from glue_runtime.stages.maps import compile_fast, functions

    fns = functions()
    assert compile_fast(ast.parse("a * b + 1 if a else md5(c)").body[0], fns) is not None
    assert compile_fast(ast.parse("email.lower()").body[0], fns) is None  # attribute
    assert compile_fast(ast.parse("[x for x in y]").body[0], fns) is None
    assert compile_fast(ast.parse("2 ** 3").body[0], fns) is None
    assert compile_fast(ast.parse("open('/etc/passwd')").body[0], fns) is None


@pytest.mark.parametrize(
    ("expr", "record", "expected"),
    [
        ("quantity * unit_price", {"quantity": 3, "unit_price": 2.5}, 7.5),
        ("a + b if a > 1 else -b", {"a": 2, "b": 3}, 5),
        ("name[0:2] + '!'", {"name": "glue"}, "gl!"),
        ("md5(md5)", {"md5": "x"}, "9dd4e461268c8034f5c8564e155c67a6"),  # a field named md5
        ("email.lower()", {"email": "A@B.IO"}, "a@b.io"),  # simpleeval path
        ("__stream_name__", {"x": 1}, "s"),
    ],
)
def test_compiled_and_simpleeval_results_match_python(expr, record, expected):
    assert _one(expr, record) == expected


@pytest.mark.parametrize("expr", ["'x' * 10000000000", "().__class__", "x.__class__"])
def test_guards_hold_on_both_paths(expr):
    with pytest.raises(TransformError):
        _one(expr, {"x": "a"})


# -- the fast path: a plain function per stream, falling back to the general path -----------


def load_maps_config(stream_maps: dict[str, Any]) -> Any:
    from glue_runtime.stages.maps import Maps

    return Maps({"stream_maps": stream_maps}).script()


def _with_and_without_fast_path(stream_maps: dict[str, Any]) -> tuple[list, list]:
    """The map's output, and the same map's output with the fast path ruled out.

    A `__filter__` that keeps every record makes the general path run every record (filters
    need the per-record names), so the two runs differ only in the path taken.
    """
    general = copy.deepcopy(stream_maps)
    for spec in general.values():
        if isinstance(spec, dict):
            spec["__filter__"] = "True"
    fast = glue_map({"stream_maps": stream_maps}, tap_output())
    slow = glue_map({"stream_maps": general}, tap_output())
    return fast, slow


@pytest.mark.parametrize(
    "stream_maps",
    [
        {"customers": {"email": None, "score2": {"expr": "score * 2", "type": "number"}}},
        {"customers": {"cid": {"from": "id"}, "h": {"expr": "sha256(email)", "type": "string"}}},
        {"customers": {"id": "id", "e": {"expr": "email", "type": "string"}, "__else__": None}},
        {"customers": {"__alias__": "clients", "country": None}},
    ],
)
def test_fast_path_gives_the_general_paths_output(stream_maps: dict[str, Any]) -> None:
    script = load_maps_config(stream_maps)
    ctx = Context("customers", tap_output()[0]["schema"], ["id"])
    script.schema("customers", ctx.schema, ctx)
    assert FAST_RECORD in ctx.state  # these maps do take the fast path
    fast, slow = _with_and_without_fast_path(stream_maps)
    assert fast == slow
    assert any(m["type"] == "RECORD" for m in fast)


def test_maps_needing_per_record_names_take_the_general_path() -> None:
    for spec in ({"x": "record['id']"}, {"x": "__stream_name__"}, {"x": "config.get('a')"}):
        script = load_maps_config({"customers": spec})
        ctx = Context("customers", tap_output()[0]["schema"], ["id"])
        script.schema("customers", ctx.schema, ctx)
        assert FAST_RECORD not in ctx.state, spec


def test_fast_path_errors_are_the_general_paths_errors() -> None:
    # validation failure on the fast path: reported by the general path, naming the field
    config = {"stream_maps": {"customers": {"n": {"expr": "score + 0.25", "type": "integer"}}}}
    with pytest.raises(TransformError, match="field 'n' is number"):
        glue_map(config, tap_output())
    # a field missing from a record: the NameError is reported with the record's position
    msgs = tap_output()
    rec = next(m for m in msgs if m["type"] == "RECORD" and m["stream"] == "customers")
    del rec["record"]["score"]
    config = {"stream_maps": {"customers": {"s": {"expr": "score", "type": "number"}}}}
    with pytest.raises(TransformError, match=r"record 1: s = 'score' failed: NameError"):
        glue_map(config, msgs)


def test_fast_path_type_checks_agree_with_the_validator() -> None:
    # whole floats are integers to the validator: the quick type check must not refuse them
    maps = {"customers": {"n": {"expr": "id * 1.0", "type": "integer"}}}
    fast, slow = _with_and_without_fast_path(maps)
    assert fast == slow and any(m.get("record", {}).get("n") == 3.0 for m in fast)
    # a boolean is not a number, though Python's bool is an int
    config = {"stream_maps": {"customers": {"b": {"expr": "id > 2", "type": "number"}}}}
    with pytest.raises(TransformError, match="field 'b' is boolean"):
        glue_map(config, tap_output())
