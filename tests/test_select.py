"""The selector stage: streams, fields (nested, arrays), SCHEMA pruning and changes, policies."""

from __future__ import annotations

import copy
import logging
import random
import zlib
from typing import Any

import pytest

from glue_runtime.catalog import selection_from_catalog
from glue_runtime.errors import ConfigError, DataError
from glue_runtime.fieldmap import parse_field_map, resolve
from glue_runtime.stages.select import SelectStats, make_selector

SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "notes"],
    "properties": {
        "id": {"type": "integer"},
        "updated_at": {"type": "string"},
        "amount": {"type": "number"},
        "notes": {"type": "string"},
        "customer": {
            "type": "object",
            "properties": {
                "email": {"type": "string"},
                "phone": {"type": "string"},
                "address": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}, "zip": {"type": "string"}},
                },
            },
        },
        "lines": {
            "type": ["array", "null"],
            "items": {
                "type": "object",
                "properties": {"sku": {"type": "string"}, "cost": {"type": "number"}},
            },
        },
        "extra": {"type": "object"},
    },
}

CATALOG: dict[str, Any] = {
    "streams": [
        {
            "tap_stream_id": "orders",
            "stream": "orders",
            "key_properties": ["id"],
            "replication_key": "updated_at",
            "schema": SCHEMA,
            "metadata": [{"breadcrumb": [], "metadata": {"selected-by-default": True}}],
        },
        {
            "tap_stream_id": "customers",
            "schema": {"type": "object", "properties": {"id": {}, "name": {}}},
            "metadata": [{"breadcrumb": [], "metadata": {"selected-by-default": True}}],
        },
    ]
}


def record(**over: Any) -> dict[str, Any]:
    rec = {
        "id": 1,
        "updated_at": "2024-01-01",
        "amount": 9.5,
        "notes": "n",
        "customer": {"email": "e", "phone": "p", "address": {"city": "c", "zip": "z"}},
        "lines": [{"sku": "a", "cost": 1.0}, {"sku": "b", "cost": 2.0}],
        "extra": {"anything": [1, 2]},
    }
    rec.update(over)
    return rec


def schema_msg(schema: dict[str, Any] = SCHEMA, stream: str = "orders") -> dict[str, Any]:
    return {"type": "SCHEMA", "stream": stream, "schema": schema, "key_properties": ["id"]}


def rec_msg(rec: dict[str, Any], stream: str = "orders") -> dict[str, Any]:
    return {"type": "RECORD", "stream": stream, "record": rec}


def selector(fmap: dict[str, Any], **kw: Any):
    return make_selector(resolve(parse_field_map(fmap), CATALOG), **kw)


def run(stage, msgs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return list(stage(iter(msgs)))


NESTED = {
    "streams": {
        "orders": {"exclude": ["notes", "customer.phone", "customer.address.zip", "lines.cost"]}
    }
}


def test_nested_objects_and_arrays_of_objects_are_projected() -> None:
    msgs = [schema_msg(), rec_msg(record())]
    before = copy.deepcopy(msgs)
    out = run(selector(NESTED), msgs)
    assert out[1]["record"] == {
        "id": 1,
        "updated_at": "2024-01-01",
        "amount": 9.5,
        "customer": {"email": "e", "address": {"city": "c"}},
        "lines": [{"sku": "a"}, {"sku": "b"}],
        "extra": {"anything": [1, 2]},  # free-form object: passed whole
    }
    assert msgs == before  # nothing mutated in place
    props = out[0]["schema"]["properties"]
    assert set(props) == {"id", "updated_at", "amount", "customer", "lines", "extra"}
    assert set(props["customer"]["properties"]) == {"email", "address"}
    assert set(props["customer"]["properties"]["address"]["properties"]) == {"city"}
    assert set(props["lines"]["items"]["properties"]) == {"sku"}
    assert out[0]["schema"]["required"] == ["id"]
    assert out[0]["key_properties"] == ["id"]


def test_allow_list_keeps_keys_and_only_the_named_subfields() -> None:
    out = run(
        selector({"streams": {"orders": ["customer.email", "lines.sku"]}}),
        [schema_msg(), rec_msg(record())],
    )
    assert out[1]["record"] == {
        "id": 1,  # key property
        "updated_at": "2024-01-01",  # replication key
        "customer": {"email": "e"},
        "lines": [{"sku": "a"}, {"sku": "b"}],
    }


def test_unchanged_messages_are_the_same_objects() -> None:
    stage = selector({"streams": {"orders": "on"}})
    msgs = [
        {"type": "STATE", "value": {"bookmarks": {}}},
        schema_msg(),
        rec_msg(record()),
        {"type": "ACTIVATE_VERSION", "stream": "orders", "version": 3},
        {"type": "SOMETHING_NEW", "x": 1},
    ]
    out = run(stage, msgs)
    assert len(out) == len(msgs)
    assert all(a is b for a, b in zip(out, msgs, strict=True))


def test_record_without_deselected_fields_passes_unchanged() -> None:
    stage = selector({"streams": {"orders": {"exclude": ["notes"]}}})
    rec = record()
    del rec["notes"]
    msgs = [schema_msg(), rec_msg(rec)]
    out = run(stage, msgs)
    assert out[1] is msgs[1]


def test_unselected_streams_are_dropped_state_and_unknown_types_pass() -> None:
    stats = SelectStats()
    stage = selector({"streams": {"orders": "on"}}, stats=stats)
    state = {"type": "STATE", "value": {"bookmarks": {"customers": {"x": 1}}}}
    msgs = [
        schema_msg({"type": "object", "properties": {"id": {}, "name": {}}}, "customers"),
        rec_msg({"id": 1, "name": "n"}, "customers"),
        {"type": "ACTIVATE_VERSION", "stream": "customers", "version": 1},
        {
            "type": "BATCH",
            "stream": "customers",
            "encoding": {"format": "jsonl"},
            "manifest": ["file:///x"],
        },
        state,
        {"type": "FUTURE", "stream": "customers"},
        rec_msg({"id": 2, "updated_at": "t"}),
    ]
    out = run(stage, msgs)
    assert out[0] is state
    assert out[1] is msgs[5]
    assert out[2]["stream"] == "orders"
    assert len(out) == 3
    assert stats.dropped_messages == {"customers": 4}
    assert "stream customers: not selected, 4 message(s) dropped" in stats.summary_lines()


def test_a_tap_that_ignores_the_catalog_is_still_filtered(caplog) -> None:
    """The tap emits every stream, every field, and a stream the catalog never had."""
    stage = selector({"streams": {"orders": ["amount"]}})
    msgs = [
        schema_msg(),
        rec_msg(record()),
        schema_msg({"type": "object", "properties": {"id": {}, "name": {}}}, "customers"),
        rec_msg({"id": 1, "name": "n"}, "customers"),
        rec_msg({"id": 9}, "secret_stream"),
        rec_msg(record(id=2)),
    ]
    with caplog.at_level(logging.WARNING, logger="glue_runtime.select"):
        out = run(stage, msgs)
    assert [m["stream"] for m in out] == ["orders", "orders", "orders"]
    assert out[1]["record"] == {"id": 1, "updated_at": "2024-01-01", "amount": 9.5}
    assert out[2]["record"]["id"] == 2 and "notes" not in out[2]["record"]
    assert "stream secret_stream is not in the catalog" in caplog.text


def test_schema_change_mid_stream_is_replanned(caplog) -> None:
    stats = SelectStats()
    stage = selector({"streams": {"orders": {"exclude": ["notes"]}}}, stats=stats)
    v2 = copy.deepcopy(SCHEMA)
    v2["properties"]["discount"] = {"type": "number"}  # appeared at the source
    del v2["properties"]["amount"]  # disappeared
    msgs = [
        schema_msg(),
        rec_msg(record()),
        schema_msg(v2),
        rec_msg({**record(), "discount": 1.5}),
    ]
    del msgs[3]["record"]["amount"]
    with caplog.at_level(logging.WARNING, logger="glue_runtime.select"):
        out = run(stage, msgs)
    assert "amount" in out[1]["record"] and "discount" not in out[1]["record"]
    assert out[3]["record"]["discount"] == 1.5  # an exclude-style stream pulls new fields
    assert "notes" not in out[3]["record"]
    assert "discount" in out[2]["schema"]["properties"]
    assert stats.new_fields == {"orders": ["discount"]}
    assert stats.missing_fields == {"orders": ["amount"]}
    assert not stats.unknown_fields  # discount was in the new SCHEMA, so not unknown
    assert "fields the catalog does not (new at the source" in caplog.text
    assert "selected fields are not in the tap's SCHEMA" in caplog.text


def test_new_field_in_schema_not_pulled_by_an_allow_list() -> None:
    stage = selector({"streams": {"orders": ["amount"]}})
    v2 = copy.deepcopy(SCHEMA)
    v2["properties"]["discount"] = {"type": "number"}
    out = run(stage, [schema_msg(v2), rec_msg({**record(), "discount": 1})])
    assert "discount" not in out[0]["schema"]["properties"]
    assert out[1]["record"] == {"id": 1, "updated_at": "2024-01-01", "amount": 9.5}


def test_unknown_fields_dropped_by_default_and_counted() -> None:
    stats = SelectStats()
    stage = selector({"streams": {"orders": "on"}}, stats=stats)
    rec = record(surprise=1)
    rec["customer"] = {**rec["customer"], "nickname": "x"}
    rec["lines"] = [{"sku": "a", "cost": 1, "secret": 2}, None, "odd"]
    out = run(stage, [schema_msg(), rec_msg(rec), rec_msg(record(surprise=2))])
    first = out[1]["record"]
    assert "surprise" not in first and "nickname" not in first["customer"]
    assert first["lines"] == [{"sku": "a", "cost": 1}, None, "odd"]
    assert out[2]["record"] == record()
    assert stats.unknown_fields == {"orders": 4}
    assert stats.unknown_field_names["orders"] == {
        "surprise",
        "customer.nickname",
        "lines.secret",
    }
    assert stats.summary_lines()[0].startswith(
        "stream orders: 4 value(s) of fields not in its schema dropped"
    )


def test_unknown_fields_keep_policy() -> None:
    stats = SelectStats()
    stage = selector(NESTED, unknown_fields="keep", stats=stats)
    rec = record(surprise=1)
    out = run(stage, [schema_msg(), rec_msg(rec)])
    assert out[1]["record"]["surprise"] == 1
    assert "notes" not in out[1]["record"]
    assert stats.unknown_fields == {"orders": 1}


def test_unknown_fields_error_policy_names_stream_field_and_record() -> None:
    stage = selector({"streams": {"orders": "on"}}, unknown_fields="error")
    with pytest.raises(DataError) as exc:
        run(stage, [schema_msg(), rec_msg(record(surprise=1))])
    assert "stream 'orders'" in exc.value.message
    assert "{'id': 1}" in exc.value.message and "surprise" in exc.value.message
    with pytest.raises(ConfigError, match="unknown_fields is 'ignore'"):
        selector({"streams": {}}, unknown_fields="ignore")


def test_additional_properties_allow_extra_keys() -> None:
    stats = SelectStats()
    open_schema = {**SCHEMA, "additionalProperties": True}
    stage = selector({"streams": {"orders": "on"}}, stats=stats)
    msgs = [schema_msg(open_schema), rec_msg(record(surprise=1))]
    out = run(stage, msgs)
    assert out[1] is msgs[1]
    assert not stats.unknown_fields


def test_record_before_any_schema_uses_the_catalog_fields() -> None:
    stage = selector(NESTED)
    out = run(stage, [rec_msg(record(surprise=1))])
    assert out[0]["record"]["customer"] == {"email": "e", "address": {"city": "c"}}
    assert "notes" not in out[0]["record"] and "surprise" not in out[0]["record"]


def test_selection_from_catalog_only_and_stream_name_lookup() -> None:
    """No field map: the catalog's own metadata decides; messages may use the stream name."""
    raw = copy.deepcopy(CATALOG)
    raw["streams"][0]["tap_stream_id"] = "public-orders"
    raw["streams"][0]["metadata"].append(
        {"breadcrumb": ["properties", "notes"], "metadata": {"selected": False}}
    )
    stage = make_selector(selection_from_catalog(raw))
    out = run(stage, [schema_msg(), rec_msg(record())])
    assert "notes" not in out[1]["record"] and out[1]["record"]["id"] == 1


def test_unselected_field_values_of_other_types_do_not_crash() -> None:
    stage = selector(NESTED)
    rec = record(customer=None, lines=None)
    out = run(stage, [schema_msg(), rec_msg(rec), rec_msg(record(lines=[None, 3]))])
    assert out[1]["record"]["customer"] is None and out[1]["record"]["lines"] is None
    assert out[2]["record"]["lines"] == [None, 3]


# ----------------------------------------------------------------------------- fast path vs a model


def model_project(
    value: dict[str, Any], schema: dict[str, Any], path: tuple[str, ...], sel, policy: str
) -> tuple[dict[str, Any], list[str]]:
    """A plain recursive statement of the selector's rules, to check the compiled paths against.

    Returns the projected value and the dotted names of the unknown fields it met.
    """
    props = schema["properties"]
    open_ = schema.get("additionalProperties", False) is not False
    out: dict[str, Any] = {}
    unknown: list[str] = []
    for k, v in value.items():
        p = (*path, k)
        if k not in props:
            if not open_:
                unknown.append(".".join(p))
            if open_ or policy == "keep":
                out[k] = v
            continue
        if not sel.field_selected(p):
            continue
        sub = props[k]
        if "properties" not in sub and isinstance(sub.get("items"), dict):
            sub = sub["items"]
        if not sub.get("properties"):
            out[k] = v
        elif type(v) is dict:
            out[k], u = model_project(v, sub, p, sel, policy)
            unknown += u
        elif type(v) is list:
            items = []
            for x in v:
                if type(x) is dict:
                    x, u = model_project(x, sub, p, sel, policy)
                    unknown += u
                items.append(x)
            out[k] = items
        else:
            out[k] = v
    return out, unknown


def mutated_records(rng, n: int) -> list[dict[str, Any]]:
    """Records as a tap might send them: keys missing, unknown keys at any level, odd values."""
    out = []
    for i in range(n):
        rec = copy.deepcopy(record(id=i))
        roll = rng.random()
        if roll < 0.3:
            for k in rng.sample(sorted(rec), rng.randint(1, 3)):
                del rec[k]
        if rng.random() < 0.2:
            rec[f"surprise{rng.randint(0, 2)}"] = 1
        if rng.random() < 0.2 and type(rec.get("customer")) is dict:
            rec["customer"]["nickname"] = "x"
        if rng.random() < 0.2 and type(rec.get("customer")) is dict:
            rec["customer"]["address"] = rng.choice([None, "str", {"city": "c", "floor": 2}])
        if rng.random() < 0.2 and "customer" in rec:
            rec["customer"] = rng.choice([None, 5, [{"email": "e", "phone": "p"}], "x"])
        if rng.random() < 0.2 and "lines" in rec:
            rec["lines"] = rng.choice(
                [None, [], [None, 3], [{"sku": "s", "cost": 1, "secret": 1}], {"sku": "s"}]
            )
        if rng.random() < 0.1:
            rec.pop("notes", None)
        out.append(rec)
    return out


@pytest.mark.parametrize("policy", ["drop", "keep"])
@pytest.mark.parametrize(
    "fmap",
    [
        NESTED,
        {"streams": {"orders": {"exclude": ["notes", "amount"]}}},
        {"streams": {"orders": {"exclude": ["notes", "lines"]}}},
        {"streams": {"orders": ["amount", "customer.address.city"]}},
        {"streams": {"orders": "on"}},
    ],
)
def test_compiled_paths_match_the_model_on_messy_records(fmap, policy) -> None:
    rng = random.Random(zlib.crc32(repr((fmap, policy)).encode()))
    recs = mutated_records(rng, 400)
    stats = SelectStats()
    msgs = [schema_msg(), *(rec_msg(r) for r in recs)]
    before = copy.deepcopy(msgs)
    out = run(selector(fmap, unknown_fields=policy, stats=stats), msgs)
    sel = resolve(parse_field_map(fmap), CATALOG).for_stream("orders")
    unknown: list[str] = []
    for msg, got in zip(msgs[1:], out[1:], strict=True):
        want, u = model_project(msg["record"], SCHEMA, (), sel, policy)
        unknown += u
        assert got["record"] == want, msg["record"]
        if want == msg["record"]:
            assert got is msg  # unchanged: the very same message, written as the tap's bytes
        else:
            assert got is not msg and got["record"] is not msg["record"]
            assert {k: v for k, v in got.items() if k != "record"} == {
                k: v for k, v in msg.items() if k != "record"
            }
    assert msgs == before  # nothing mutated in place
    assert stats.unknown_fields.get("orders", 0) == len(unknown)
    assert stats.unknown_field_names.get("orders", set()) == set(unknown)


ORDERS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "customer_id": {"type": "integer"},
        "quantity": {"type": "integer"},
        "status": {"type": "string"},
        "shipping_address": {
            "type": ["object", "null"],
            "properties": {"street": {"type": "string"}, "city": {"type": "string"}},
        },
        "tags": {"type": "array", "items": {"type": "string"}},
        "note": {"type": ["string", "null"]},
    },
}


def orders_selector(**kw: Any):
    catalog = {
        "streams": [
            {
                "tap_stream_id": "orders",
                "key_properties": ["id"],
                "schema": ORDERS_SCHEMA,
                "metadata": [{"breadcrumb": [], "metadata": {"selected-by-default": True}}],
            }
        ]
    }
    fmap = {"streams": {"orders": {"exclude": ["customer_id", "tags", "note"]}}}
    return make_selector(resolve(parse_field_map(fmap), catalog), **kw)


def test_benchmark_shape_keeps_record_order_and_nested_objects_whole() -> None:
    """Top-level drops with a nested object nothing is dropped from (the benchmark's shape)."""
    stats = SelectStats()
    addr = {"street": "s", "city": "c"}
    recs = [
        {
            "id": 1,
            "customer_id": 7,
            "quantity": 2,
            "status": "paid",
            "shipping_address": addr,
            "tags": ["a"],
            "note": None,
        },
        {
            "status": "x",
            "id": 2,
            "shipping_address": None,
            "quantity": 1,
            "note": "n",
            "tags": [],
            "customer_id": 8,
        },
        {
            "id": 3,
            "quantity": 1,
            "status": "x",
            "shipping_address": {**addr, "zip": "z"},
            "customer_id": 9,
            "tags": [],
            "note": None,
        },
        {"id": 4, "quantity": 1, "status": "x", "note": None},  # some dropped keys absent
        {"id": 5, "quantity": 1},  # none of the dropped keys: the same message comes back
    ]
    msgs = [schema_msg(ORDERS_SCHEMA), *(rec_msg(r) for r in recs)]
    out = run(orders_selector(stats=stats), msgs)
    got = [m["record"] for m in out[1:]]
    assert list(got[0]) == ["id", "quantity", "status", "shipping_address"]
    assert got[0]["shipping_address"] is addr  # passed whole, not rebuilt
    assert list(got[1]) == ["status", "id", "shipping_address", "quantity"]  # record's order
    assert got[2]["shipping_address"] == addr  # the unknown nested field dropped...
    assert stats.unknown_field_names == {"orders": {"shipping_address.zip"}}
    assert stats.unknown_fields == {"orders": 1}  # ...and counted once
    assert got[3] == {"id": 4, "quantity": 1, "status": "x"}
    assert out[5] is msgs[5]
    assert "note" in recs[0] and recs[2]["shipping_address"]["zip"] == "z"  # inputs untouched


def test_benchmark_shape_error_policy_on_a_nested_unknown_field() -> None:
    rec = {"id": 1, "customer_id": 7, "shipping_address": {"street": "s", "floor": 3}}
    with pytest.raises(DataError, match=r"shipping_address\.floor"):
        run(orders_selector(unknown_fields="error"), [schema_msg(ORDERS_SCHEMA), rec_msg(rec)])


def test_open_level_keeps_extra_keys_however_many_fields_are_dropped() -> None:
    """additionalProperties: keys the schema does not list pass, with few or many drops."""
    more = {"x1": {"type": "string"}, "x2": {"type": "string"}}
    open_schema = {**SCHEMA, "properties": {**SCHEMA["properties"], **more}}
    open_schema["additionalProperties"] = True
    for fmap in (
        {"streams": {"orders": ["amount"]}},
        {"streams": {"orders": ["amount", "customer.email"]}},  # with a nested level to project
        {"streams": {"orders": {"exclude": ["notes"]}}},
    ):
        stats = SelectStats()
        out = run(
            selector(fmap, stats=stats), [schema_msg(open_schema), rec_msg(record(surprise=1))]
        )
        assert out[1]["record"]["surprise"] == 1, fmap
        assert "notes" not in out[1]["record"]
        assert not stats.unknown_fields


def test_field_names_that_need_quoting_in_the_compiled_path() -> None:
    """Names with quotes, backslashes, newlines, dots and non-ASCII are matched exactly."""
    names = ['a"b', "c'd", "e\\f", "g\nh", "é.x", "{i}", "j"]
    schema = {
        "type": "object",
        "properties": {
            **{n: {"type": "string"} for n in names},
            "nested": {"type": "object", "properties": {n: {"type": "string"} for n in names}},
        },
    }
    catalog = {
        "streams": [
            {
                "tap_stream_id": "s",
                "schema": schema,
                "metadata": [
                    {"breadcrumb": [], "metadata": {"selected-by-default": True}},
                    *(
                        {"breadcrumb": ["properties", n], "metadata": {"selected": False}}
                        for n in names[:3]
                    ),
                ],
            }
        ]
    }
    stats = SelectStats()
    stage = make_selector(selection_from_catalog(catalog), stats=stats)
    rec = {n: n for n in names}
    rec["nested"] = {n: n for n in names}
    out = run(stage, [schema_msg(schema, "s"), rec_msg(rec, "s"), rec_msg({**rec, "é": 1}, "s")])
    want = {n: n for n in names[3:]}
    want["nested"] = rec["nested"]
    assert out[1]["record"] == want
    assert out[1]["record"]["nested"] is rec["nested"]
    assert out[2]["record"] == want
    assert stats.unknown_field_names == {"s": {"é"}}
