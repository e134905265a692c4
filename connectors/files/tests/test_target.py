"""target-files on real files: formats, modes, header handling, atomic publishing, STATE."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from glue_files.target import FilesSink, TargetFiles
from singer_sdk.exceptions import InvalidRecord

PROPS = {
    "id": {"type": "integer"},
    "name": {"type": ["string", "null"]},
    "ok": {"type": ["boolean", "null"]},
    "meta": {"type": ["object", "null"], "properties": {"a": {"type": "integer"}}},
    "tags": {"type": ["array", "null"], "items": {"type": "string"}},
}


def _rows(path: Path) -> list[list[str]]:
    with open(path, newline="") as fh:
        return list(csv.reader(fh))


def _hidden(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(".")]


def test_jsonl_one_file_per_stream_and_state_after(tmp_path, run_target, h) -> None:
    msgs = [
        h.schema("a", PROPS, ["id"]),
        h.schema("b/c", {"x": {"type": "integer"}}),
        h.record("a", {"id": 1, "name": "ann", "meta": {"a": 1}, "tags": ["t"]}),
        h.record("b/c", {"x": 5}),
        h.record("a", {"id": 2, "name": None}),
        h.state({"bookmarks": {"a": {"id": 2}}}),
    ]
    states = run_target({"output_dir": str(tmp_path)}, msgs)
    assert states == [{"bookmarks": {"a": {"id": 2}}}]
    assert h.jsonl(tmp_path / "a.jsonl") == [
        {"id": 1, "name": "ann", "meta": {"a": 1}, "tags": ["t"]},
        {"id": 2, "name": None},
    ]
    assert h.jsonl(tmp_path / "b_c.jsonl") == [{"x": 5}]  # unsafe characters replaced
    assert _hidden(tmp_path) == []


def test_overwrite_replaces_and_append_appends(tmp_path, run_target, h) -> None:
    def run(mode: str, ids: list[int]) -> None:
        msgs = [h.schema("a", PROPS)] + [h.record("a", {"id": i}) for i in ids]
        run_target({"output_dir": str(tmp_path), "mode": mode}, msgs)

    run("overwrite", [1, 2])
    run("overwrite", [3])
    assert [r["id"] for r in h.jsonl(tmp_path / "a.jsonl")] == [3]
    run("append", [4, 5])
    assert [r["id"] for r in h.jsonl(tmp_path / "a.jsonl")] == [3, 4, 5]
    run("overwrite", [])  # a run without records still replaces the file
    assert (tmp_path / "a.jsonl").read_text() == ""


def test_csv_header_in_schema_order_and_nested_values_as_json(tmp_path, run_target, h) -> None:
    msgs = [
        h.schema("a", PROPS, ["id"]),
        h.record("a", {"tags": ["x", "y"], "id": 1, "meta": {"a": 1}, "ok": True, "name": 'q"1'}),
        h.record("a", {"id": 2, "ok": False, "meta": None}),
    ]
    run_target({"output_dir": str(tmp_path), "format": "csv"}, msgs)
    rows = _rows(tmp_path / "a.csv")
    assert rows[0] == ["id", "name", "ok", "meta", "tags"]
    assert rows[1] == ["1", 'q"1', "true", '{"a":1}', '["x","y"]']  # JSON, not repr
    assert rows[2] == ["2", "", "false", "", ""]
    assert json.loads(rows[1][3]) == {"a": 1}


def test_csv_schema_change_widens_the_header(tmp_path, run_target, h) -> None:
    """A new column is added at the end; earlier rows get empty cells; a dropped column stays."""
    msgs = [
        h.schema("a", {"id": {"type": "integer"}, "v": {"type": "string"}}),
        h.record("a", {"id": 1, "v": "x,1"}),
        h.state({"n": 1}),
        h.schema("a", {"id": {"type": "integer"}, "w": {"type": "object"}}),
        h.record("a", {"id": 2, "w": {"k": [1]}}),
    ]
    run_target({"output_dir": str(tmp_path), "format": "csv"}, msgs)
    assert _rows(tmp_path / "a.csv") == [
        ["id", "v", "w"],
        ["1", "x,1", ""],
        ["2", "", '{"k":[1]}'],
    ]
    # Appending with a narrower schema keeps the file's header and its order.
    run_target(
        {"output_dir": str(tmp_path), "format": "csv", "mode": "append"},
        [
            h.schema("a", {"w": {"type": "object"}, "id": {"type": "integer"}}),
            h.record("a", {"id": 3, "w": {}}),
        ],
    )
    assert _rows(tmp_path / "a.csv")[-1] == ["3", "", "{}"]
    # Appending with a new column rewrites the existing rows under the wider header.
    run_target(
        {"output_dir": str(tmp_path), "format": "csv", "mode": "append"},
        [
            h.schema("a", {"id": {"type": "integer"}, "z": {"type": "string"}}),
            h.record("a", {"id": 4, "z": "zz"}),
        ],
    )
    assert _rows(tmp_path / "a.csv") == [
        ["id", "v", "w", "z"],
        ["1", "x,1", "", ""],
        ["2", "", '{"k":[1]}', ""],
        ["3", "", "{}", ""],
        ["4", "", "", "zz"],
    ]


class _Probe(TargetFiles):
    """Records what the output file holds at the moment each STATE is emitted."""

    seen: list[tuple[dict, list[int]]]

    def _write_state_message(self, state: dict) -> None:
        super()._write_state_message(state)
        path = Path(self.config["output_dir"]) / "a.jsonl"
        ids = [json.loads(line)["id"] for line in path.read_text().splitlines()]
        self.seen.append((state, ids))


def test_state_is_emitted_only_after_its_data_is_in_the_final_file(tmp_path, run_target, h) -> None:
    """Force a full drain after every message (as the 5-minute drain would): each STATE the
    target emits covers records that are already in a.jsonl, and nothing is lost between."""
    (tmp_path / "a.jsonl").write_text('{"id": 0}\n')  # a previous run's file
    _Probe.seen = []
    _Probe._MAX_RECORD_AGE_IN_MINUTES = -1.0
    msgs = [h.schema("a", PROPS)]
    for i in range(1, 7):
        msgs.append(h.record("a", {"id": i}))
        if i % 2 == 0:
            msgs.append(h.state({"bookmarks": {"a": {"id": i}}}))
    states = run_target({"output_dir": str(tmp_path)}, msgs, cls=_Probe)
    assert states[-1] == {"bookmarks": {"a": {"id": 6}}}
    assert len(_Probe.seen) >= 3
    for state, ids in _Probe.seen:
        upto = state["bookmarks"]["a"]["id"]
        assert ids[:upto] == list(range(1, upto + 1))  # overwrite: the old id 0 is gone
    assert [r["id"] for r in h.jsonl(tmp_path / "a.jsonl")] == [1, 2, 3, 4, 5, 6]
    assert _hidden(tmp_path) == []


def test_readers_never_see_a_partial_file(tmp_path, h) -> None:
    """While the target reads input, the final file is the previous run's, complete; the new
    data sits in a hidden temp file until it is published."""
    final = tmp_path / "a.jsonl"
    final.write_text('{"id": 0}\n')
    seen: list[str] = []

    def lines():
        yield json.dumps(h.schema("a", PROPS)) + "\n"
        for i in range(1, 30_001):  # more than one batch: written to the temp file meanwhile
            yield json.dumps(h.record("a", {"id": i, "name": "n" * 20})) + "\n"
        seen.append(final.read_text())
        assert _hidden(tmp_path)  # the temp file exists, beside the final one

    TargetFiles(config={"output_dir": str(tmp_path)}).listen(lines())
    assert seen == ['{"id": 0}\n']
    assert len(h.jsonl(final)) == 30_000
    assert _hidden(tmp_path) == []


def test_invalid_record_fails_and_leaves_the_previous_file(tmp_path, h) -> None:
    final = tmp_path / "a.jsonl"
    final.write_text('{"id": 0}\n')
    msgs = [h.schema("a", PROPS), h.record("a", {"id": 1}), h.record("a", {"id": "two"})]
    text = "".join(json.dumps(m) + "\n" for m in msgs)
    target = TargetFiles(config={"output_dir": str(tmp_path)})
    with pytest.raises(InvalidRecord) as err:
        target.listen(iter(text.splitlines(keepends=True)))
    assert "Stream 'a'" in str(err.value) and "id" in str(err.value)
    assert final.read_text() == '{"id": 0}\n'
    assert _hidden(tmp_path) == []  # the unpublished temp file is removed


def test_streams_that_would_share_a_file_are_an_error(tmp_path, run_target, h) -> None:
    msgs = [h.schema("a/b", PROPS), h.schema("a_b", PROPS)]
    with pytest.raises(ValueError, match=r"Streams 'a/b' and 'a_b' would both be written"):
        run_target({"output_dir": str(tmp_path)}, msgs)


def test_stream_maps_and_record_metadata_still_apply(tmp_path, run_target, h) -> None:
    """The per-record fast path steps aside when singer-sdk has work to do on records."""
    msgs = [
        h.schema("a", PROPS, ["id"]),
        h.record("a", {"id": 1, "name": "ann", "_sdc_extracted_at": "2024-01-01T00:00:00Z"}),
        h.record("a", {"id": 2, "name": "bob"}),
    ]
    run_target({"output_dir": str(tmp_path), "stream_maps": {"a": {"name": "__NULL__"}}}, msgs)
    assert h.jsonl(tmp_path / "a.jsonl") == [{"id": 1}, {"id": 2}]
    run_target({"output_dir": str(tmp_path), "add_record_metadata": True}, msgs)
    out = h.jsonl(tmp_path / "a.jsonl")
    # singer-sdk fills the metadata itself (extracted_at from the message's time_extracted).
    assert "_sdc_extracted_at" in out[0] and out[0]["_sdc_received_at"]
    assert out[1]["_sdc_received_at"] and out[1]["name"] == "bob"
    run_target({"output_dir": str(tmp_path)}, msgs)
    assert h.jsonl(tmp_path / "a.jsonl")[0] == {"id": 1, "name": "ann"}  # metadata stripped


def test_missing_key_property_is_rejected_on_the_fast_path(tmp_path, run_target, h) -> None:
    from singer_sdk.exceptions import MissingKeyPropertiesError

    msgs = [h.schema("a", PROPS, ["id"]), h.record("a", {"name": "no id"})]
    with pytest.raises(MissingKeyPropertiesError):
        run_target({"output_dir": str(tmp_path), "validate_records": False}, msgs)


class _Draining(TargetFiles):
    """Drains (publishes and emits STATE) after every message, as the 5-minute drain does."""

    _MAX_RECORD_AGE_IN_MINUTES = -1.0


def test_csv_header_widening_after_a_mid_run_publish(tmp_path, run_target, h) -> None:
    msgs = [
        h.schema("a", {"id": {"type": "integer"}}),
        h.record("a", {"id": 1}),
        h.state({"n": 1}),
        h.record("a", {"id": 2}),
        h.state({"n": 2}),
        h.schema("a", {"id": {"type": "integer"}, "tags": {"type": "array"}}),
        h.record("a", {"id": 3, "tags": ["x"]}),
        h.state({"n": 3}),
    ]
    states = run_target({"output_dir": str(tmp_path), "format": "csv"}, msgs, cls=_Draining)
    assert {"n": 1} in states and states[-1] == {"n": 3}
    assert _rows(tmp_path / "a.csv") == [["id", "tags"], ["1", ""], ["2", ""], ["3", '["x"]']]
    assert _hidden(tmp_path) == []


# -- the reader loop's inline path for RECORD lines ------------------------------------------


def test_inline_path_counts_orders_and_strips_like_singer_sdk(tmp_path, h) -> None:
    """Interleaved streams, a record carrying _sdc metadata (singer-sdk's path) among inline
    ones, and an integer over 64 bits (orjson refuses it): order, content and the per-type
    line counts are singer-sdk's."""
    msgs = [h.schema("a", PROPS, ["id"]), h.schema("b", {"x": {"type": "integer"}})]
    for i in range(1, 1_301):
        record = {"id": i, "name": f"n{i}"}
        if i == 700:
            record["_sdc_extracted_at"] = "2024-01-01T00:00:00Z"
        msgs.append(h.record("a", record))
        if i % 400 == 0:
            msgs.append(h.record("b", {"x": i}))
            msgs.append(h.state({"n": i}))
    msgs.append(h.record("b", {"x": 2**70}))
    text = "".join(json.dumps(m) + "\n" for m in msgs)
    target = TargetFiles(config={"output_dir": str(tmp_path)})
    counts = target.process_lines(iter(text.splitlines(keepends=True)))
    target.process_endofpipe()
    assert (counts["SCHEMA"], counts["RECORD"], counts["STATE"]) == (2, 1_304, 3)
    out = h.jsonl(tmp_path / "a.jsonl")
    assert out == [{"id": i, "name": f"n{i}"} for i in range(1, 1_301)]  # metadata stripped
    assert [r["x"] for r in h.jsonl(tmp_path / "b.jsonl")] == [400, 800, 1200, 2**70]
    sink = target._sinks_active["a"]
    assert sink._total_records_read == 1_300  # tallied, as singer-sdk would


class _CountingSink(FilesSink):
    batches: list[int]

    def process_batch(self, context: dict) -> None:
        type(self).batches.append(self.current_size)
        super().process_batch(context)


class _CountingTarget(TargetFiles):
    default_sink_class = _CountingSink


def test_inline_path_drains_a_full_batch_where_singer_sdk_would(tmp_path, run_target, h) -> None:
    _CountingSink.batches = []
    msgs = [h.schema("a", PROPS)] + [h.record("a", {"id": i}) for i in range(1, 1_051)]
    cfg = {"output_dir": str(tmp_path), "batch_size_rows": 300}
    run_target(cfg, msgs, cls=_CountingTarget)
    assert _CountingSink.batches == [300, 300, 300, 150]
    assert [r["id"] for r in h.jsonl(tmp_path / "a.jsonl")] == list(range(1, 1_051))


def test_state_covers_its_data_with_many_records_between(tmp_path, run_target, h) -> None:
    """The inline path with a full drain after every record (as the 5-minute drain would):
    each STATE emitted covers records already in the final file."""
    _Probe.seen = []
    _Probe._MAX_RECORD_AGE_IN_MINUTES = -1.0
    msgs = [h.schema("a", PROPS)]
    for i in range(1, 1_501):
        msgs.append(h.record("a", {"id": i}))
        if i % 500 == 0:
            msgs.append(h.state({"bookmarks": {"a": {"id": i}}}))
    states = run_target({"output_dir": str(tmp_path)}, msgs, cls=_Probe)
    assert states[-1] == {"bookmarks": {"a": {"id": 1_500}}}
    assert len(_Probe.seen) >= 1_000  # a drain (and STATE) after each record past the first STATE
    for state, ids in _Probe.seen:
        upto = state["bookmarks"]["a"]["id"]
        assert ids[:upto] == list(range(1, upto + 1))
    assert [r["id"] for r in h.jsonl(tmp_path / "a.jsonl")] == list(range(1, 1_501))
    assert _hidden(tmp_path) == []


def test_invalid_record_after_many_valid_ones(tmp_path, h) -> None:
    """The quick check says no, the full validator decides and its message names the field;
    valid records that only fail the quick check (a float integer) are written."""
    msgs = [h.schema("a", PROPS, ["id"])]
    msgs += [h.record("a", {"id": i, "tags": ["t"]}) for i in range(1, 600)]
    msgs.append(h.record("a", {"id": 1.0, "meta": {"a": 2}}))  # valid: 1.0 is an integer
    msgs.append(h.record("a", {"id": 601, "tags": ["t", 7]}))
    text = "".join(json.dumps(m) + "\n" for m in msgs)
    with pytest.raises(InvalidRecord) as err:
        TargetFiles(config={"output_dir": str(tmp_path)}).listen(io.StringIO(text))
    assert "Stream 'a'" in str(err.value) and "tags" in str(err.value)
    assert not (tmp_path / "a.jsonl").exists()  # nothing published
    assert _hidden(tmp_path) == []
    ok = "".join(json.dumps(m) + "\n" for m in msgs[:-1])
    TargetFiles(config={"output_dir": str(tmp_path)}).listen(io.StringIO(ok))
    assert h.jsonl(tmp_path / "a.jsonl")[-1] == {"id": 1.0, "meta": {"a": 2}}
