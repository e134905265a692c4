"""Stream plans (stages/plan.py), their compiled record functions (stages/compile.py), the one
stage that runs them (stages/stage.py), STATE holding (stages/hold.py) and stage statistics
(stages/stats.py) up to the JobResult."""

from __future__ import annotations

import json
import logging
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from glue_test_helpers import SINGER, write_json

import glue_runtime
from glue_runtime.errors import TransformError
from glue_runtime.etl import script_from_functions
from glue_runtime.fieldmap import parse_field_map, resolve
from glue_runtime.stages.explain import explain
from glue_runtime.stages.hold import StateHold
from glue_runtime.stages.plan import StreamPlan
from glue_runtime.stages.select import make_selector
from glue_runtime.stages.stats import StageStats, collect
from glue_runtime.stages.transform import TransformStats, make_transform

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "qty": {"type": ["integer", "null"]},
        "price": {"type": ["number", "null"]},
        "secret": {"type": ["string", "null"]},
        "note": {"type": ["string", "null"]},
        "address": {
            "type": ["object", "null"],
            "properties": {"city": {"type": ["string", "null"]}, "pin": {"type": "string"}},
        },
    },
    "required": ["id"],
}
CATALOG = {
    "streams": [
        {
            "tap_stream_id": "orders",
            "stream": "orders",
            "schema": SCHEMA,
            "key_properties": ["id"],
            "metadata": [{"breadcrumb": [], "metadata": {"selected-by-default": True}}],
        },
        {
            "tap_stream_id": "audit",
            "stream": "audit",
            "schema": {"type": "object", "properties": {"id": {"type": "integer"}}},
            "key_properties": ["id"],
            "metadata": [{"breadcrumb": [], "metadata": {"selected-by-default": True}}],
        },
    ]
}
FIELD_MAP = {"streams": {"orders": {"exclude": ["secret", "address.pin"]}, "audit": "on"}}
MAPS = {
    "stream_maps": {
        "orders": {
            "total": {"expr": "qty * price", "type": "number"},
            "note": None,
            "town": {"from": "address"},
        }
    }
}


def schema_msg(stream: str = "orders", schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "type": "SCHEMA",
        "stream": stream,
        "schema": schema or SCHEMA,
        "key_properties": ["id"],
    }


def record(i: int, **fields: Any) -> dict[str, Any]:
    rec = {"id": i, "qty": 2, "price": 1.5, "secret": "s", "note": "n", "address": None}
    rec.update(fields)
    return {"type": "RECORD", "stream": "orders", "record": rec, "time_extracted": "t"}


def state(n: int) -> dict[str, Any]:
    return {"type": "STATE", "value": {"n": n}}


def selector() -> Any:
    return make_selector(resolve(parse_field_map(FIELD_MAP), CATALOG))


def fused(maps: dict[str, Any] = MAPS, **kw: Any) -> Any:
    """A field map stage and a maps stage, chained as the runner chains stages."""
    sel, tr = selector(), make_transform(maps, **kw)
    return sel, tr


def run(stages: list[Any], messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    it: Any = iter(messages)
    for stage in stages:
        it = stage(it)
    return list(it)


# -- the plan ---------------------------------------------------------------------------------


def test_a_plan_from_schema_field_map_and_maps_prints_what_it_does() -> None:
    text = explain(list(fused()), CATALOG, code=True)
    assert "# stage: field map + ETL stream maps" in text
    assert "stream orders" in text and "(key: id)" in text
    assert "field map: drop secret" in text
    assert "nested, with fields dropped inside: address" in text
    assert "map 'orders':" in text
    assert "total = qty * price" in text and "drop note" in text
    assert "rename address -> town" in text
    assert 'total: {"type": ["number", "null"]}' in text
    assert "required: id" in text
    # the compiled code prints too, and reads as the plan does
    assert "def record(msg, position):  # stream 'orders'" in text
    assert "del sel['secret']" in text
    # a stream the maps do not name: only the field map's key check
    assert "stream audit  (key: id)\n  field map: drop nothing at the top level" in text


def test_plans_are_typed_data() -> None:
    sel, tr = fused()
    it = tr(sel(iter([schema_msg()])))
    list(it)
    (plan,) = it.plans()
    assert isinstance(plan, StreamPlan)
    assert plan.select is not None and plan.select.drop == ("secret",)
    assert plan.maps is not None and [s.kind for s in plan.maps.steps] == [
        "compute",
        "drop",
        "rename",
    ]
    assert plan.maps.changed == {"total", "town"}
    assert plan.check is not None and plan.check.policy == "error"
    assert plan.output == "orders" and plan.key_properties == ("id",)
    assert str(plan).startswith("stream orders")


def test_field_map_and_transform_fuse_into_one_pass() -> None:
    sel, tr = fused()
    upstream = sel(iter([]))
    down = tr(upstream)
    assert down is not upstream and down.messages is not upstream  # took the input over
    assert down.select_config is not None and down.transform_config is not None
    # a stage applied to a pass that already started chains instead
    started = selector()(iter([schema_msg()]))
    next(iter(started))
    assert make_transform(MAPS)(started).messages is started


# -- the compiled record function ---------------------------------------------------------------


def test_compiled_function_drops_unselected_fields_adds_computed_ones_and_validates() -> None:
    out = run(list(fused()), [schema_msg(), record(1, address={"city": "X", "pin": "1"})])
    schema_out, rec = out
    props = schema_out["schema"]["properties"]
    assert "secret" not in props and "note" not in props and "total" in props
    assert "pin" not in props["town"]["properties"]
    assert rec["record"] == {"id": 1, "qty": 2, "price": 1.5, "total": 3.0, "town": {"city": "X"}}
    assert rec["time_extracted"] == "t"
    # a computed value its type refuses: the general path's error, naming field and record
    bad = {"stream_maps": {"orders": {"total": {"expr": "qty * price", "type": "integer"}}}}
    with pytest.raises(TransformError, match=r"record 2: field 'total' is number"):
        run(list(fused(bad)), [schema_msg(), record(1, price=2), record(2, qty=3)])


def test_unusual_records_take_the_general_path_with_the_same_result() -> None:
    sel, tr = fused()
    msgs = [
        schema_msg(),
        record(1),
        record(2, extra="x"),  # a field the schema does not list: dropped, counted
        {"type": "RECORD", "stream": "orders", "record": {"id": 3, "qty": 1, "price": 2}},
    ]
    out = [m["record"] for m in run([sel, tr], msgs) if m["type"] == "RECORD"]
    assert out[1] == {"id": 2, "qty": 2, "price": 1.5, "total": 3.0, "town": None}
    assert out[2] == {"id": 3, "qty": 1, "price": 2, "total": 2}
    counts = tr.stage_stats.streams["orders"]
    assert counts.records_in == 3 and counts.records_out == 3 and counts.general == 0


def test_a_message_passed_unchanged_is_the_same_object() -> None:
    sel, tr = fused({"stream_maps": {"orders": {"total": "qty"}}})
    audit = [schema_msg("audit", CATALOG["streams"][1]["schema"])]
    audit.append({"type": "RECORD", "stream": "audit", "record": {"id": 1}})
    out = run([sel, tr], audit)
    assert out[0] is audit[0] and out[1] is audit[1]
    only_select = run([selector()], audit)
    assert only_select[1] is audit[1]


def test_field_names_needing_quotes_are_safe_in_the_generated_code() -> None:
    odd = "a'b\"\nc"
    schema = {"type": "object", "properties": {"id": {"type": "integer"}, odd: {"type": "string"}}}
    maps = {"stream_maps": {"orders": {"copy": {"from": odd}}}}
    out = run([make_transform(maps)], [schema_msg(schema=schema), record(1, **{odd: "v"})])
    assert out[1]["record"]["copy"] == "v" and odd not in out[1]["record"]


def test_exact_numbers_go_through_the_compiled_path() -> None:
    big = 2**70
    price = Decimal("0.10000000000000000000001")
    out = run(list(fused()), [schema_msg(), record(1, qty=big, price=price)])
    assert out[1]["record"]["total"] == big * price
    assert type(out[1]["record"]["total"]) is Decimal
    assert out[1]["record"]["qty"] == big


def test_validate_warn_counts_invalid_records_in_the_stage_stats(caplog: Any) -> None:
    bad = {"stream_maps": {"orders": {"total": {"expr": "qty * price", "type": "integer"}}}}
    tstats = TransformStats()
    sel, tr = fused(bad, validate="warn", stats=tstats)
    with caplog.at_level(logging.WARNING):
        out = run([sel, tr], [schema_msg(), record(1, qty=3), record(2, qty=3)])
    assert len(out) == 3
    counts = tr.stage_stats.streams["orders"]
    assert counts.invalid == 2 and counts.general == 2
    assert tstats.invalid == {"orders": 2}
    assert tstats.records_in == {"orders": 2} and tstats.records_out == {"orders": 2}


# -- STATE holding ------------------------------------------------------------------------------


def test_state_passes_only_after_the_records_before_it() -> None:
    msgs = [schema_msg(), record(1), state(1), record(2), state(2)]
    out = run(list(fused()), msgs)
    assert [m["type"] for m in out] == ["SCHEMA", "RECORD", "STATE", "RECORD", "STATE"]
    assert out[2] is msgs[2]


def test_aggregating_scripts_hold_state_until_their_records_are_out() -> None:
    def end_stream(ctx: Any) -> list[dict[str, Any]]:
        return [{"id": 0, "qty": ctx.position}]

    script = script_from_functions(transform=lambda r, ctx: None, end_stream=end_stream)
    msgs = [schema_msg(), record(1), state(1), record(2), state(2)]
    out = run([selector(), make_transform(script)], msgs)
    assert [m["type"] for m in out] == ["SCHEMA", "RECORD", "STATE"]
    assert out[1]["record"] == {"id": 0, "qty": 2} and out[2] is msgs[4]


def test_state_hold_piece() -> None:
    hold = StateHold(True)
    assert hold.state(state(1)) is None and hold.state(state(2)) is None
    assert hold.release() == state(2) and hold.release() is None
    free = StateHold(False)
    s = state(3)
    assert free.state(s) is s and free.release() is None


# -- statistics ---------------------------------------------------------------------------------


def test_stage_stats_count_per_stream_and_collect_once_per_fused_pass() -> None:
    sel, tr = fused({"stream_maps": {"orders": {"__filter__": "id > 1"}}})
    msgs = [schema_msg(), record(1), record(2), record(3)]
    msgs += [{"type": "RECORD", "stream": "gone", "record": {"id": 1}}]  # not in the catalog
    run([sel, tr], msgs)
    stats = collect([sel, tr])
    assert len(stats) == 1 and isinstance(stats[0], StageStats)
    d = stats[0].as_dict()
    assert d["name"] == "field map + ETL stream maps"
    assert d["streams"]["orders"] == {
        "records_in": 3,
        "records_out": 2,
        "dropped": 1,
        "invalid": 0,
        "general_path": 3,  # a filter needs the general path
    }
    assert d["streams"]["gone"]["dropped"] == 1
    assert d["seconds"] >= 0


def test_stage_stats_reach_the_job_result_and_the_job_end_event(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    lines = [schema_msg(), *(record(i) for i in range(1, 6)), state(5)]
    data = tmp_path / "in.singer"
    data.write_text("".join(json.dumps(m) + "\n" for m in lines))
    fmap = tmp_path / "fieldmap.yml"
    fmap.write_text("streams:\n  orders:\n    exclude: [secret]\n")
    maps = tmp_path / "maps.yml"
    maps.write_text("stream_maps:\n  orders:\n    total: {expr: qty * price, type: number}\n")
    caplog.set_level(logging.INFO, "glue_runtime")
    result = glue_runtime.run(
        str(SINGER / "replay_tap.py"),
        str(SINGER / "exact_target.py"),
        tap_config={"input": str(data)},
        target_config={"output": str(tmp_path / "out.jsonl")},
        state_file=tmp_path / "state.json",
        catalog=write_json(tmp_path / "catalog.json", CATALOG),
        field_map=fmap,
        etl=maps,
        cwd=tmp_path,
    )
    assert result.ok, result.error
    (stage,) = result.stages
    assert stage.name == "field map + ETL maps.yml"
    assert stage.streams["orders"].records_in == 5
    assert stage.streams["orders"].records_out == 5
    d = result.as_dict()
    assert d["stages"][0]["streams"]["orders"]["records_out"] == 5
    assert list(d)[:6] == ["job_id", "status", "duration_s", "records_in", "records_out", "streams"]
    out = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    recs = [m for m in out if m.get("type") == "RECORD"]
    assert recs[0]["record"]["total"] == 3.0 and "secret" not in recs[0]["record"]
    (job_end,) = [r for r in caplog.records if getattr(r, "event", None) == "job_end"]
    assert job_end.stages == d["stages"]  # type: ignore[attr-defined]


def test_fused_pass_gives_what_the_two_stages_give_one_after_the_other() -> None:
    """On messy records (unknown fields, missing ones, odd types, other streams interleaved)
    the fused pass's compiled path agrees with the field map and the maps run apart."""
    import random

    rnd = random.Random(11)
    values = [None, 1, 2.5, "x", {"city": "c", "pin": "p"}, {"city": "c", "zz": 1}, [1], True]
    msgs: list[dict[str, Any]] = [
        schema_msg(),
        schema_msg("audit", CATALOG["streams"][1]["schema"]),
    ]
    for i in range(400):
        if rnd.random() < 0.1:
            msgs.append({"type": "RECORD", "stream": "audit", "record": {"id": i}})
            continue
        rec = record(i, qty=rnd.choice([1, 2, 3.5, None]), price=rnd.choice([1.5, 2, None]))
        for key in rnd.sample(["secret", "note", "address", "extra", "more"], 2):
            if rnd.random() < 0.5:
                rec["record"].pop(key, None)
            else:
                rec["record"][key] = rnd.choice(values)
        msgs.append(rec)
        if i % 50 == 0:
            msgs.append(state(i))
    maps = {
        "stream_maps": {
            "orders": {"total": "qty * price if qty and price else 0", "note": None},
        }
    }
    sel, tr = fused(maps, validate="off")
    together = run([sel, tr], msgs)
    sel2, tr2 = fused(maps, validate="off")
    apart = list(tr2(m for m in sel2(iter(msgs))))  # a plain generator between: no fusion
    assert together == apart
    assert tr.stage_stats.name == "field map + ETL stream maps"
    assert tr2.stage_stats.name == "ETL stream maps"
    assert collect([sel2, tr2]) == [sel2.stage_stats, tr2.stage_stats]


def test_fieldmap_show_plan_prints_each_streams_plan(tmp_path: Path) -> None:
    from glue_test_helpers import run_cli

    write_json(tmp_path / "catalog.json", CATALOG)
    (tmp_path / "fieldmap.yml").write_text("streams:\n  orders:\n    exclude: [secret]\n")
    res = run_cli(
        "fieldmap", "show", "fieldmap.yml", "--catalog", "catalog.json", "--code", cwd=tmp_path
    )
    assert res.code == 0, res.stderr
    assert "# stage: field map" in res.stdout
    assert "stream orders  (key: id)\n  field map: drop secret" in res.stdout
    assert "stream audit\n  not selected" in res.stdout
    assert "del sel['secret']" in res.stdout


def test_explain_runs_the_schema_hooks_but_never_ends_the_streams() -> None:
    def end_stream(ctx: Any) -> None:
        raise AssertionError("end_stream must not run")

    script = script_from_functions(
        schema=lambda stream, schema, ctx: (
            ctx.reshape(drop=["note"]) if stream == "orders" else None
        ),
        transform=lambda r, ctx: r,
        end_stream=end_stream,
    )
    text = explain([selector(), make_transform(script)], CATALOG)
    assert "# stage: field map + ETL <script>" in text
    assert "ETL <script>: called per record (the general path)" in text
