"""target-postgres against a real server: upserts, types, schema evolution, COPY batches, STATE."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

import psycopg
import pytest
from glue_postgres.target import PostgresLoadError, TargetPostgres

pytestmark = pytest.mark.postgres

PEOPLE = {
    "id": {"type": "integer"},
    "name": {"type": ["string", "null"]},
    "score": {"type": ["number", "null"]},
}


def test_upsert_by_key_updates_rows_and_last_duplicate_in_a_batch_wins(
    pg_config, pg_schema, run_target, query, h
) -> None:
    run_target(
        pg_config,
        [
            h.schema("people", PEOPLE, ["id"]),
            h.record("people", {"id": 1, "name": "ann", "score": 1}),
            h.record("people", {"id": 2, "name": "bob", "score": 2}),
        ],
    )
    run_target(
        pg_config,
        [
            h.schema("people", PEOPLE, ["id"]),
            h.record("people", {"id": 2, "name": "bobby", "score": 20}),
            h.record("people", {"id": 3, "name": "cy", "score": 3}),
            h.record("people", {"id": 3, "name": "cyd", "score": 33}),  # same batch: wins
        ],
    )
    rows = query(f'SELECT id, name, score FROM "{pg_schema}".people ORDER BY id')
    assert rows == [
        (1, "ann", decimal.Decimal(1)),
        (2, "bobby", decimal.Decimal(20)),
        (3, "cyd", decimal.Decimal(33)),
    ]


def test_composite_keys_upsert(pg_config, pg_schema, run_target, query, h) -> None:
    props = {"a": {"type": "string"}, "b": {"type": "integer"}, "v": {"type": "string"}}
    run_target(
        pg_config,
        [
            h.schema("pairs", props, ["a", "b"]),
            h.record("pairs", {"a": "x", "b": 1, "v": "one"}),
            h.record("pairs", {"a": "x", "b": 2, "v": "two"}),
            h.record("pairs", {"a": "x", "b": 1, "v": "uno"}),
        ],
    )
    assert query(f'SELECT a, b, v FROM "{pg_schema}".pairs ORDER BY b') == [
        ("x", 1, "uno"),
        ("x", 2, "two"),
    ]


def test_stream_without_keys_appends(pg_config, pg_schema, run_target, query, h) -> None:
    msgs = [
        h.schema("events", {"kind": {"type": "string"}}),
        h.record("events", {"kind": "a"}),
        h.record("events", {"kind": "a"}),
    ]
    run_target(pg_config, msgs)
    run_target(pg_config, msgs)
    assert query(f'SELECT count(*) FROM "{pg_schema}".events') == [(4,)]
    indexes = query("SELECT count(*) FROM pg_indexes WHERE schemaname = %s", (pg_schema,))
    assert indexes == [(0,)]


ALL_TYPES = {
    "id": {"type": "integer"},
    "big": {"type": ["integer", "null"]},
    "amount": {"type": ["number", "null"]},
    "flag": {"type": ["boolean", "null"]},
    "at": {"type": ["string", "null"], "format": "date-time"},
    "day": {"type": ["string", "null"], "format": "date"},
    "clock": {"type": ["string", "null"], "format": "time"},
    "label": {"type": ["string", "null"]},
    "obj": {"type": ["object", "null"], "properties": {"x": {"type": "integer"}}},
    "arr": {"type": ["array", "null"], "items": {"type": "string"}},
    "anything": {},
    "mixed": {"type": ["string", "integer", "null"]},
    "when_or_text": {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "string"}]},
}

EXPECTED_TYPES = {
    "id": "bigint",
    "big": "bigint",
    "amount": "numeric",
    "flag": "boolean",
    "at": "timestamp with time zone",
    "day": "date",
    "clock": "time without time zone",
    "label": "text",
    "obj": "jsonb",
    "arr": "jsonb",
    "anything": "jsonb",
    "mixed": "text",
    "when_or_text": "text",
}


def test_type_mapping_round_trip(pg_config, pg_schema, run_target, pg_dsn, h) -> None:
    record = {
        "id": 1,
        "big": 9_007_199_254_740_993,  # above 2**53: must not pass through a float
        "amount": 0.1,
        "flag": True,
        "at": "2024-03-01T12:30:00.123456+02:00",
        "day": "2024-02-29",
        "clock": "23:59:58",
        "label": 'tab\tnewline\n backslash\\ quote" ünï',
        "obj": {"x": 1, "nested": {"deep": [1, 2]}},
        "arr": ["a", "b"],
        "anything": [1, "two", None],
        "mixed": 42,
        "when_or_text": "not a date",
    }
    nulls = {"id": 2, **{k: None for k in ALL_TYPES if k not in ("id", "when_or_text")}}
    nulls["when_or_text"] = "2024-01-01"
    run_target(
        pg_config,
        [
            h.schema("typed", ALL_TYPES, ["id"]),
            h.record("typed", record),
            h.record("typed", nulls),
        ],
    )
    with psycopg.connect(pg_dsn) as conn:
        types = dict(
            conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = %s AND table_name = 'typed'",
                (pg_schema,),
            ).fetchall()
        )
        assert types == EXPECTED_TYPES
        cur = conn.execute(f'SELECT * FROM "{pg_schema}".typed ORDER BY id')
        names = [d.name for d in cur.description]
        got = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    first = got[0]
    assert first["big"] == 9_007_199_254_740_993
    assert first["amount"] == decimal.Decimal("0.1")  # exact, not 0.1000000000000000055...
    assert first["flag"] is True
    assert first["at"] == dt.datetime(2024, 3, 1, 10, 30, 0, 123456, tzinfo=dt.UTC)
    assert first["day"] == dt.date(2024, 2, 29)
    assert first["clock"] == dt.time(23, 59, 58)
    assert first["label"] == record["label"]
    assert first["obj"] == record["obj"]
    assert first["arr"] == ["a", "b"]
    assert first["anything"] == [1, "two", None]
    assert first["mixed"] == "42"  # non-strings in a mixed column are stored as JSON text
    assert first["when_or_text"] == "not a date"
    second = got[1]
    assert all(second[k] is None for k in ALL_TYPES if k not in ("id", "when_or_text"))


def test_schema_evolution_adds_columns_and_keeps_old_rows(
    pg_config, pg_schema, run_target, query, h
) -> None:
    run_target(
        pg_config,
        [
            h.schema("evo", {"id": {"type": "integer"}, "a": {"type": "string"}}, ["id"]),
            h.record("evo", {"id": 1, "a": "one"}),
        ],
    )
    wider = {
        "id": {"type": "integer"},
        "a": {"type": "string"},
        "b": {"type": ["boolean", "null"]},
        "c": {"type": ["object", "null"]},
    }
    run_target(
        pg_config,
        [
            h.schema("evo", wider, ["id"]),
            h.record("evo", {"id": 2, "a": "two", "b": True, "c": {"k": "v"}}),
            # the schema grows again mid-stream: rows before it land first
            h.schema("evo", {**wider, "d": {"type": "integer"}}, ["id"]),
            h.record("evo", {"id": 2, "a": "two again", "d": 4}),
        ],
    )
    cols = query(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = %s "
        "AND table_name = 'evo' ORDER BY ordinal_position",
        (pg_schema,),
    )
    assert [c[0] for c in cols] == ["id", "a", "b", "c", "d"]
    rows = query(f'SELECT id, a, b, c, d FROM "{pg_schema}".evo ORDER BY id')
    # A record replaces the values of every column of its schema: id 2's second version
    # omits b and c, so they become NULL.
    assert rows == [(1, "one", None, None, None), (2, "two again", None, None, 4)]


def test_new_key_properties_on_existing_table_get_a_unique_index(
    pg_config, pg_schema, run_target, query, h
) -> None:
    props = {"id": {"type": "integer"}, "email": {"type": "string"}}
    run_target(pg_config, [h.schema("u", props, ["id"]), h.record("u", {"id": 1, "email": "a@x"})])
    run_target(
        pg_config,
        [
            h.schema("u", props, ["email"]),
            h.record("u", {"id": 1, "email": "a@x"}),  # same email: an update, not a new row
            h.record("u", {"id": 2, "email": "b@x"}),
        ],
    )
    assert query(f'SELECT id, email FROM "{pg_schema}".u ORDER BY id') == [(1, "a@x"), (2, "b@x")]


def test_batch_of_50k_records_loads_in_one_copy(pg_config, pg_schema, run_target, query, h):
    n = 50_000
    props = {
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "at": {"type": "string", "format": "date-time"},
        "tags": {"type": "array", "items": {"type": "string"}},
    }
    msgs: list[dict[str, Any]] = [h.schema("big", props, ["id"])]
    msgs += [
        h.record(
            "big",
            {"id": i, "name": f"name {i}", "at": "2024-01-01T00:00:00Z", "tags": [str(i)]},
        )
        for i in range(n)
    ]
    msgs.append(h.state({"bookmarks": {"big": {"id": n - 1}}}))
    states = run_target({**pg_config, "batch_size_rows": 100_000}, msgs)
    assert states == [{"bookmarks": {"big": {"id": n - 1}}}]
    assert query(f'SELECT count(*), sum(id), max(tags->>0) FROM "{pg_schema}".big') == [
        (n, n * (n - 1) // 2, "9999")
    ]
    # upsert of the same keys again: still n rows
    msgs[1] = h.record("big", {"id": 0, "name": "changed", "at": "2024-01-01T00:00:00Z"})
    run_target({**pg_config, "batch_size_rows": 100_000}, msgs)
    assert query(f'SELECT count(*) FROM "{pg_schema}".big') == [(n,)]
    assert query(f'SELECT name, tags FROM "{pg_schema}".big WHERE id = 0') == [("changed", None)]


class _EagerTarget(TargetPostgres):
    """Drains after every message (max record age 0) and, whenever it emits a STATE, notes
    how many rows another connection sees at that moment."""

    _MAX_RECORD_AGE_IN_MINUTES = 0.0
    seen: list[tuple[Any, int]]
    dsn = ""
    table = ""

    def _write_state_message(self, state: dict) -> None:
        with psycopg.connect(self.dsn) as conn:
            count = conn.execute(f"SELECT count(*) FROM {self.table}").fetchone()[0]
        type(self).seen.append((state, count))
        super()._write_state_message(state)


def test_state_is_emitted_only_after_the_records_before_it_are_committed(
    pg_config, pg_schema, pg_dsn, run_target, h
) -> None:
    _EagerTarget.seen = []
    _EagerTarget.dsn = pg_dsn
    _EagerTarget.table = f'"{pg_schema}".people'
    msgs = [h.schema("people", PEOPLE, ["id"])]
    for i in range(1, 4):
        msgs += [h.record("people", {"id": i, "name": str(i)}), h.state({"n": i})]
    msgs.append(h.record("people", {"id": 4, "name": "4", "score": "not a number"}))
    msgs.append(h.state({"n": 4}))
    with pytest.raises(Exception, match="score"):
        run_target(pg_config, msgs, cls=_EagerTarget)
    assert _EagerTarget.seen, "the target emitted no state at all"
    for state, visible in _EagerTarget.seen:
        assert visible >= state["n"], f"state {state} emitted with only {visible} rows committed"
    # the invalid record's state never goes out
    assert all(state["n"] <= 3 for state, _ in _EagerTarget.seen)


def test_bad_value_fails_the_batch_with_stream_table_and_line(
    pg_config, pg_schema, run_target, query, h
) -> None:
    props = {"id": {"type": "integer"}, "at": {"type": "string", "format": "date-time"}}
    msgs = [
        h.schema("dates", props, ["id"]),
        h.record("dates", {"id": 1, "at": "2024-01-01T00:00:00Z"}),
        h.record("dates", {"id": 2, "at": "yesterday-ish"}),
    ]
    with pytest.raises(PostgresLoadError) as info:
        run_target(pg_config, msgs)
    text = str(info.value)
    assert "Stream 'dates'" in text and f'"{pg_schema}"."dates"' in text
    assert "yesterday-ish" in text and "line 2" in text
    assert query(f'SELECT count(*) FROM "{pg_schema}".dates') == [(0,)]  # all or nothing


def test_nul_characters_and_integral_floats_are_repaired(
    pg_config, pg_schema, run_target, query, h
) -> None:
    props = {"id": {"type": "integer"}, "s": {"type": "string"}, "j": {"type": "object"}}
    run_target(
        pg_config,
        [
            h.schema("odd", props, ["id"]),
            h.record("odd", {"id": 1.0, "s": "a\u0000b", "j": {"k": "c\u0000d"}}),
        ],
    )
    assert query(f'SELECT id, s, j FROM "{pg_schema}".odd') == [(1, "ab", {"k": "cd"})]


def test_special_names_and_existing_schema(pg_config, pg_schema, pg_dsn, run_target, query, h):
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{pg_schema}"')
    props = {"Id": {"type": "string"}, 'we"ird col': {"type": "string"}}
    run_target(
        pg_config,
        [
            h.schema("Mixed:Case!stream", props, ["Id"]),
            h.record("Mixed:Case!stream", {"Id": "A", 'we"ird col': "x"}),
            h.record("Mixed:Case!stream", {"Id": "A", 'we"ird col': "y"}),
        ],
    )
    rows = query(f'SELECT "Id", "we""ird col" FROM "{pg_schema}"."Mixed:Case!stream"')
    assert rows == [("A", "y")]


def test_activate_version_deletes_older_rows_with_metadata(
    pg_config, pg_schema, run_target, query, h
) -> None:
    config = {**pg_config, "add_record_metadata": True}
    schema = h.schema("v", {"id": {"type": "integer"}}, ["id"])

    def version(v: int, ids: list[int]) -> list[dict]:
        recs = [{**h.record("v", {"id": i}), "version": v} for i in ids]
        return [schema, *recs, {"type": "ACTIVATE_VERSION", "stream": "v", "version": v}]

    run_target(config, version(1, [1, 2, 3]))
    run_target(config, version(2, [2, 3]))
    assert query(f'SELECT id FROM "{pg_schema}".v ORDER BY id') == [(2,), (3,)]


def test_load_method_append_only_keeps_every_record(
    pg_config, pg_schema, run_target, query, h
) -> None:
    config = {**pg_config, "load_method": "append-only"}
    msgs = [
        h.schema("people", PEOPLE, ["id"]),
        h.record("people", {"id": 1, "name": "a"}),
        h.record("people", {"id": 1, "name": "b"}),
    ]
    run_target(config, msgs)
    run_target(config, msgs)
    assert query(f'SELECT name, count(*) FROM "{pg_schema}".people GROUP BY 1 ORDER BY 1') == [
        ("a", 2),
        ("b", 2),
    ]


def test_load_method_overwrite_replaces_the_table_once_per_run(
    pg_config, pg_schema, run_target, query, h
) -> None:
    config = {**pg_config, "load_method": "overwrite", "batch_size_rows": 2}
    first = [h.schema("people", PEOPLE, ["id"])]
    first += [h.record("people", {"id": i, "name": "old"}) for i in range(5)]
    run_target(config, first)
    second = [h.schema("people", PEOPLE, ["id"])]
    # five records in batches of two: only the first batch of the run empties the table
    second += [h.record("people", {"id": i, "name": "new"}) for i in (10, 11, 12, 13, 11)]
    run_target(config, second)
    assert query(f'SELECT id, name FROM "{pg_schema}".people ORDER BY id') == [
        (10, "new"),
        (11, "new"),
        (12, "new"),
        (13, "new"),
    ]


def test_timestamps_without_offset_are_utc_whatever_the_session_timezone(
    pg_config, pg_schema, run_target, query, h, monkeypatch
) -> None:
    monkeypatch.setenv("PGTZ", "America/New_York")  # libpq sends it as the session TimeZone
    props = {"id": {"type": "integer"}, "at": {"type": "string", "format": "date-time"}}
    run_target(
        pg_config,
        [h.schema("naive", props, ["id"]), h.record("naive", {"id": 1, "at": "2024-01-01T12:00"})],
    )
    monkeypatch.delenv("PGTZ")
    assert query(f'SELECT at FROM "{pg_schema}".naive') == [
        (dt.datetime(2024, 1, 1, 12, tzinfo=dt.UTC),)
    ]


def test_a_property_that_widens_retypes_its_column_without_losing_values(
    pg_config, pg_schema, run_target, query, h, caplog
) -> None:
    props = {"id": {"type": "integer"}, "amount": {"type": "integer"}, "code": {"type": "integer"}}
    run_target(
        pg_config,
        [h.schema("t", props, ["id"]), h.record("t", {"id": 1, "amount": 5, "code": 7})],
    )
    wider = {**props, "amount": {"type": "number"}, "code": {"type": ["string", "null"]}}
    run_target(
        pg_config,
        [h.schema("t", wider, ["id"]), h.record("t", {"id": 2, "amount": 2.5, "code": "A-1"})],
    )
    types = dict(
        query(
            "SELECT column_name, data_type FROM information_schema.columns "
            f"WHERE table_schema = '{pg_schema}' AND table_name = 't'"
        )
    )
    assert types["amount"] == "numeric" and types["code"] == "text"
    rows = query(f'SELECT id, amount, code FROM "{pg_schema}".t ORDER BY id')
    assert rows == [(1, decimal.Decimal(5), "7"), (2, decimal.Decimal("2.5"), "A-1")]


def test_a_property_that_narrows_keeps_its_column_and_says_so(
    pg_config, pg_schema, run_target, query, h, caplog
) -> None:
    run_target(
        pg_config,
        [h.schema("t", {"v": {"type": "string"}}), h.record("t", {"v": "x"})],
    )
    with caplog.at_level("WARNING"):
        run_target(
            pg_config,
            [h.schema("t", {"v": {"type": "integer"}}), h.record("t", {"v": 3})],
        )
    assert "column is kept" in caplog.text and '"v"' in caplog.text
    assert sorted(query(f'SELECT v FROM "{pg_schema}".t')) == [("3",), ("x",)]
