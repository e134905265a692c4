"""The transform stage over lists of messages: routing, schemas, STATE order, every error."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from glue_runtime.errors import TransformError
from glue_runtime.etl import Out, load_script, script_from_functions
from glue_runtime.stages.transform import TransformStats, make_transform

STR = {"type": ["string", "null"]}
INT = {"type": ["integer", "null"]}
USERS = {
    "type": "SCHEMA",
    "stream": "users",
    "schema": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "name": STR,
            "age": INT,
            "address": {"type": ["object", "null"], "properties": {"city": STR}},
        },
    },
    "key_properties": ["id"],
}


def rec(stream: str, **record: Any) -> dict[str, Any]:
    return {"type": "RECORD", "stream": stream, "record": record}


def users(n: int = 3) -> list[dict[str, Any]]:
    return [USERS] + [
        rec("users", id=i, name=f"u{i}", age=20 + i, address={"city": "c"}) for i in range(1, n + 1)
    ]


def run(messages: list[dict[str, Any]], **hooks: Any) -> list[dict[str, Any]]:
    opts = {k: hooks.pop(k) for k in ("validate", "stats", "guard") if k in hooks}
    return list(make_transform(script_from_functions(**hooks), **opts)(iter(messages)))


def write_script(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "etl.py"
    path.write_text(body)
    return path


# -- pass-through and identity -------------------------------------------------------------


def test_identity_script_yields_the_input_messages_themselves() -> None:
    msgs = [*users(), {"type": "STATE", "value": {"x": 1}}, {"type": "CUSTOM", "a": 1}]
    out = run(msgs, transform=lambda r, ctx: r)
    assert len(out) == len(msgs) and all(a is b for a, b in zip(out, msgs, strict=True))


def test_schema_only_script_passes_records_unchanged() -> None:
    msgs = users(2)
    out = run(msgs, schema=lambda stream, schema, ctx: None)
    assert all(a is b for a, b in zip(out, msgs, strict=True))


def test_record_extras_are_kept_on_new_messages() -> None:
    msg = {**rec("users", id=1, name="a", age=1), "version": 7, "time_extracted": "2024-01-01"}
    out = run([USERS, msg], transform=lambda r, ctx: {**r, "name": "b"})
    assert out[1] == {**msg, "record": {"id": 1, "name": "b", "age": 1}}


# -- STATE ordering ------------------------------------------------------------------------


def test_state_passes_only_after_the_records_before_it() -> None:
    pulled: list[str] = []

    def source() -> Iterator[dict[str, Any]]:
        for m in [*users(2), {"type": "STATE", "value": {"n": 2}}, rec("users", id=3, name="c")]:
            pulled.append(m["type"])
            yield m

    seen: list[tuple[str, int]] = []
    stage = make_transform(
        script_from_functions(transform=lambda r, ctx: [{**r, "k": 1}, {**r, "k": 2}])
    )
    for m in stage(source()):
        # when the stage hands on a STATE, every record before it was already handed on
        seen.append((m["type"], len(pulled)))
    types = [t for t, _ in seen]
    assert types == ["SCHEMA", "RECORD", "RECORD", "RECORD", "RECORD", "STATE", "RECORD", "RECORD"]
    assert seen[5] == ("STATE", 4)  # the record after it had not even been read yet


def test_no_state_after_a_failing_record() -> None:
    def transform(r: Any, ctx: Any) -> Any:
        if r["id"] == 2:
            raise ValueError("bad")
        return r

    msgs = [
        *users(1),
        {"type": "STATE", "value": {"n": 1}},
        rec("users", id=2),
        {"type": "STATE", "value": {"n": 2}},
    ]
    got: list[dict[str, Any]] = []
    with pytest.raises(TransformError):
        for m in make_transform(script_from_functions(transform=transform))(iter(msgs)):
            got.append(m)
    assert [m["value"] for m in got if m["type"] == "STATE"] == [{"n": 1}]
    assert len([m for m in got if m["type"] == "RECORD"]) == 1  # the record before it went on


def test_hold_state_false_lets_state_through(tmp_path: Path) -> None:
    path = write_script(
        tmp_path,
        "HOLD_STATE = False\n\ndef end_stream(ctx):\n    ctx.log.info('done %s', ctx.position)\n",
    )
    msgs = [*users(1), {"type": "STATE", "value": {"n": 1}}, rec("users", id=2)]
    out = list(make_transform(load_script(path))(iter(msgs)))
    assert [m["type"] for m in out] == ["SCHEMA", "RECORD", "STATE", "RECORD"]


# -- errors in the script ------------------------------------------------------------------


def test_script_exception_names_stream_position_and_trims_traceback(tmp_path: Path) -> None:
    path = write_script(
        tmp_path,
        "def helper(r):\n"
        "    return r['missing']\n"
        "\n"
        "def transform(record, ctx):\n"
        "    if record['id'] == 2:\n"
        "        return helper(record)\n"
        "    return record\n",
    )
    with pytest.raises(TransformError) as err:
        list(make_transform(load_script(path))(iter(users(3))))
    text = str(err.value)
    assert "failed in transform() (stream 'users', record 2): KeyError: 'missing'" in text
    assert 'etl.py", line 6, in transform' in text and 'etl.py", line 2, in helper' in text
    assert "transform.py" not in text.replace("etl.py", "")  # no runtime frames
    assert err.value.stream == "users" and err.value.position == 2
    assert err.value.exit_code == 4


def test_exception_in_schema_and_end_stream_hooks() -> None:
    def bad_schema(stream: str, schema: dict, ctx: Any) -> None:
        raise RuntimeError("no schema for you")

    with pytest.raises(TransformError, match=r"schema\(\) \(stream 'users'\): RuntimeError"):
        run(users(1), schema=bad_schema)

    def bad_end(ctx: Any) -> None:
        raise RuntimeError("boom")

    with pytest.raises(TransformError, match=r"end_stream\(\) \(stream 'users'\)"):
        run(users(1), end_stream=bad_end)


def test_error_inside_a_generator_transform_is_wrapped() -> None:
    def transform(r: Any, ctx: Any) -> Iterator[dict]:
        yield r
        raise ZeroDivisionError("x")

    with pytest.raises(TransformError, match=r"record 1\): ZeroDivisionError"):
        run(users(1), transform=transform)


@pytest.mark.parametrize(
    ("returned", "match"),
    [
        ("a string", r"transform\(\) returned a str"),
        (42, r"transform\(\) returned a int"),
        ([1, 2], r"gave a int among its records"),
        ([Out("users", "x")], r"gave a str as a record"),
    ],
)
def test_wrong_return_types(returned: Any, match: str) -> None:
    with pytest.raises(TransformError, match=match):
        run(users(1), transform=lambda r, ctx: returned)


@pytest.mark.parametrize(
    "body",
    [
        "record['age'] = 1\n    return record",
        "del record['age']\n    return record",
        "record.pop('age')\n    return record",
        "record.update(age=1)\n    return record",
    ],
)
def test_mutating_the_input_record_is_an_error(tmp_path: Path, body: str) -> None:
    path = write_script(tmp_path, f"def transform(record, ctx):\n    {body}\n")
    with pytest.raises(TransformError, match=r"changed its input record.*record 1") as err:
        list(make_transform(load_script(path))(iter(users(1))))
    assert "read-only" in str(err.value)


def test_deep_guard_catches_nested_mutation() -> None:
    def transform(r: Any, ctx: Any) -> Any:
        r["address"]["city"] = "changed"
        return r

    # the default (shallow) guard does not see it ...
    assert run(users(1), transform=transform)[1]["record"]["address"]["city"] == "changed"
    # ... the deep one does
    with pytest.raises(TransformError, match=r"changed a nested value.*record 1"):
        run(users(1), transform=transform, guard="deep")


def test_record_before_its_schema_is_an_error() -> None:
    with pytest.raises(TransformError, match="RECORD for stream 'ghost' arrived before any SCHEMA"):
        run([*users(1), rec("ghost", id=1)], transform=lambda r, ctx: r)


def test_out_to_an_undeclared_stream_is_an_error() -> None:
    with pytest.raises(TransformError, match="stream 'nowhere', which has no schema") as err:
        run(users(1), transform=lambda r, ctx: [Out("nowhere", dict(r))])
    assert "declare_stream" in (err.value.hint or "")


def test_schema_hook_returning_a_non_dict_is_an_error() -> None:
    with pytest.raises(TransformError, match=r"schema\(\) returned a list"):
        run(users(1), schema=lambda s, sc, ctx: ["id"])


def test_renamed_key_without_new_key_properties_is_an_error() -> None:
    def schema(stream: str, schema: dict, ctx: Any) -> dict:
        props = {("uid" if k == "id" else k): v for k, v in schema["properties"].items()}
        return {"type": "object", "properties": props}

    with pytest.raises(TransformError, match="key property 'id' not in its schema"):
        run(users(1), schema=schema)


def test_batch_messages_are_refused() -> None:
    batch = {"type": "BATCH", "stream": "users", "encoding": {}, "manifest": []}
    with pytest.raises(TransformError, match="BATCH message for stream 'users'"):
        run([USERS, batch], transform=lambda r, ctx: r)


# -- validation ----------------------------------------------------------------------------


def test_invalid_output_names_stream_field_type_and_position() -> None:
    def transform(r: Any, ctx: Any) -> Any:
        return {**r, "age": str(r["age"])} if r["id"] == 3 else {**r}

    with pytest.raises(TransformError) as err:
        run(users(3), transform=transform)
    text = str(err.value)
    assert "stream 'users', record 3: field 'age' is string" in text
    assert "integer or null" in text
    assert "23" not in text  # values are not printed (they may be personal data)


def test_nested_field_errors_name_the_path() -> None:
    def transform(r: Any, ctx: Any) -> Any:
        return {**r, "address": {"city": 5}}

    with pytest.raises(TransformError, match=r"field 'address\.city' is integer"):
        run(users(1), transform=transform)


def test_validate_warn_logs_counts_and_passes(caplog: pytest.LogCaptureFixture) -> None:
    stats = TransformStats()
    with caplog.at_level(logging.WARNING, "glue_runtime.transform"):
        out = run(
            users(3), transform=lambda r, ctx: {**r, "age": "old"}, validate="warn", stats=stats
        )
    assert [m["record"]["age"] for m in out[1:]] == ["old"] * 3
    assert stats.invalid == {"users": 3}
    assert stats.records_in == {"users": 3} and stats.records_out == {"users": 3}
    assert "field 'age' is string" in caplog.text


def test_validate_off_passes_anything() -> None:
    out = run(users(1), transform=lambda r, ctx: {**r, "age": "old"}, validate="off")
    assert out[1]["record"]["age"] == "old"


def test_unchanged_records_into_a_changed_schema_are_validated() -> None:
    # the script narrows the schema but passes records through: they must fit it
    def schema(stream: str, schema: dict, ctx: Any) -> dict:
        return {**schema, "properties": {**schema["properties"], "name": {"type": "integer"}}}

    with pytest.raises(TransformError, match="field 'name' is string"):
        run(users(1), schema=schema, transform=lambda r, ctx: r)


# -- schema changes ------------------------------------------------------------------------


def test_schema_change_reaches_targets_before_the_first_record_of_that_shape() -> None:
    def schema(stream: str, schema: dict, ctx: Any) -> dict:
        ctx.output_stream = "people"
        return ctx.reshape(rename={"id": "person_id"}, drop=["age"])

    def transform(r: Any, ctx: Any) -> dict:
        return {"person_id": r["id"], "name": r["name"], "address": r["address"]}

    out = run(users(2), schema=schema, transform=transform)
    assert out[0]["type"] == "SCHEMA" and out[0]["stream"] == "people"
    assert out[0]["key_properties"] == ["person_id"]
    assert list(out[0]["schema"]["properties"]) == ["person_id", "name", "address"]
    assert [m["stream"] for m in out[1:]] == ["people", "people"]


def test_a_changed_schema_ends_the_stream_and_an_identical_one_does_not() -> None:
    ends: list[int] = []

    def end_stream(ctx: Any) -> None:
        ends.append(ctx.position)

    changed = {**USERS, "schema": {**USERS["schema"], "properties": {"id": INT}}}
    msgs = [*users(2), USERS, rec("users", id=3), changed, rec("users", id=4)]
    out = run(msgs, end_stream=end_stream)
    assert ends == [3, 1]  # after 3 records (identical re-SCHEMA kept it open), then 1
    assert [m["type"] for m in out].count("SCHEMA") == 3  # the re-sent one passes too


def test_new_schema_for_a_declared_stream_is_sent_again() -> None:
    def transform(r: Any, ctx: Any) -> list[Any]:
        props = {"id": INT} if r["id"] == 1 else {"id": INT, "extra": STR}
        ctx.declare_stream("side", {"type": "object", "properties": props}, ["id"])
        ctx.declare_stream("side", {"type": "object", "properties": props}, ["id"])  # no-op
        return [Out("side", {"id": r["id"]})]

    out = run(users(3), transform=transform)
    side = [m["type"] for m in out if m["stream"] == "side"]
    assert side == ["SCHEMA", "RECORD", "SCHEMA", "RECORD", "RECORD"]


def test_stream_with_no_output_of_its_own_emits_no_schema() -> None:
    def schema(stream: str, schema: dict, ctx: Any) -> None:
        ctx.output_stream = None
        ctx.declare_stream("ids", {"type": "object", "properties": {"id": INT}})

    out = run(users(2), schema=schema, transform=lambda r, ctx: [Out("ids", {"id": r["id"]})])
    assert {m["stream"] for m in out} == {"ids"}
    with pytest.raises(TransformError, match="no output of its own"):
        run(users(1), schema=schema, transform=lambda r, ctx: {"id": 1})


def test_activate_version_follows_the_stream_rename() -> None:
    def schema(stream: str, schema: dict, ctx: Any) -> None:
        ctx.output_stream = "people"

    av = {"type": "ACTIVATE_VERSION", "stream": "users", "version": 3}
    out = run([*users(1), av], schema=schema)
    assert out[-1] == {**av, "stream": "people"}


def test_start_stream_can_emit_records() -> None:
    def schema(stream: str, schema: dict, ctx: Any) -> None:
        ctx.declare_stream("log", {"type": "object", "properties": {"msg": STR}})

    out = run(
        users(1),
        schema=schema,
        start_stream=lambda ctx: [Out("log", {"msg": f"start {ctx.stream}"})],
    )
    assert [m.get("record") for m in out if m["stream"] == "log" and m["type"] == "RECORD"] == [
        {"msg": "start users"}
    ]


def test_changed_field_of_the_same_schema_is_still_checked():
    from glue_runtime.etl import script_from_functions

    schema = {"type": "object", "properties": {"id": {"type": "integer"}, "n": {"type": "string"}}}
    msgs = [
        {"type": "SCHEMA", "stream": "s", "schema": schema, "key_properties": ["id"]},
        {"type": "RECORD", "stream": "s", "record": {"id": 1, "n": "a"}},
    ]
    bad = script_from_functions(transform=lambda r, ctx: {**r, "id": "one"})
    with pytest.raises(TransformError, match=r"id"):
        list(make_transform(bad)(iter(msgs)))
    # A field passed through as the same value is the tap's: not re-checked here.
    odd = [msgs[0], {"type": "RECORD", "stream": "s", "record": {"id": "tap-sent", "n": "a"}}]
    keep = script_from_functions(transform=lambda r, ctx: {**r, "n": "b"})
    out = [m for m in make_transform(keep)(iter(odd)) if m["type"] == "RECORD"]
    assert out[0]["record"] == {"id": "tap-sent", "n": "b"}
