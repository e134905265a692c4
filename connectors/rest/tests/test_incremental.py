"""Incremental sync: the bookmark goes out as since_param; state is singer-sdk's."""

from __future__ import annotations

SPEC = {
    "name": "items",
    "path": "/page/items",
    "records_path": "$.data[*]",
    "primary_keys": ["id"],
    "replication_key": "updated_at",
    "since_param": "since",
    "pagination": {"style": "page", "page_size_param": "per_page", "page_size": 10},
}


def _sync_queries(api) -> list[dict]:
    return [r.query for r in api.hits("/v1/page/items")][1:]  # [0] is the discovery sample


def test_first_run_sends_no_since_and_bookmarks_the_max(api, run_tap, h) -> None:
    messages = run_tap(h.config(api, SPEC))
    assert len(h.records(messages)) == 25
    assert "since" not in api.hits("/v1/page/items")[0].query
    assert all("since" not in q for q in _sync_queries(api))
    bookmark = h.state(messages)["bookmarks"]["items"]
    assert bookmark["replication_key"] == "updated_at"
    assert bookmark["replication_key_value"] == "2024-01-02T01:00:00Z"
    schema = next(m for m in messages if m["type"] == "SCHEMA")
    assert schema["bookmark_properties"] == ["updated_at"]


def test_second_run_sends_the_bookmark_and_moves_it(api, run_tap, h) -> None:
    state = {
        "bookmarks": {
            "items": {
                "replication_key": "updated_at",
                "replication_key_value": "2024-01-01T20:00:00Z",
            }
        }
    }
    api.items.append(
        {**api.items[-1], "id": 26, "updated_at": "2024-01-05T00:00:00Z", "name": "new"}
    )
    messages = run_tap(h.config(api, SPEC), state=state)
    assert {q.get("since") for q in _sync_queries(api)} == {"2024-01-01T20:00:00Z"}
    assert [r["id"] for r in h.records(messages)] == [20, 21, 22, 23, 24, 25, 26]
    assert h.state(messages)["bookmarks"]["items"]["replication_key_value"] == (
        "2024-01-05T00:00:00Z"
    )


def test_start_date_is_the_since_value_without_a_bookmark(api, run_tap, h) -> None:
    messages = run_tap(h.config(api, SPEC, start_date="2024-01-01T23:00:00Z"))
    sent = {q.get("since") for q in _sync_queries(api)}
    assert len(sent) == 1 and sent.pop().startswith("2024-01-01T23:00:00")
    assert [r["id"] for r in h.records(messages)] == [23, 24, 25]


def test_other_streams_bookmarks_are_kept(api, run_tap, h) -> None:
    state = {"bookmarks": {"orders": {"replication_key_value": "x", "replication_key": "u"}}}
    messages = run_tap(h.config(api, SPEC), state=state)
    assert h.state(messages)["bookmarks"]["orders"]["replication_key_value"] == "x"


def test_since_format_converts_the_bookmark_for_the_api(api, run_tap, h) -> None:
    state = {
        "bookmarks": {
            "items": {
                "replication_key": "updated_at",
                "replication_key_value": "2024-01-01T20:00:00Z",
            }
        }
    }
    expected = {"epoch": "1704139200", "epoch_ms": "1704139200000", "date": "2024-01-01"}
    for fmt, sent in expected.items():
        api.requests.clear()
        run_tap(h.config(api, {**SPEC, "since_format": fmt}), state=state)
        assert {q.get("since") for q in _sync_queries(api)} == {sent}, fmt


def test_a_since_format_needs_a_date_time_bookmark(api, run_tap, h) -> None:
    import pytest
    from singer_sdk.exceptions import ConfigValidationError

    state = {"bookmarks": {"items": {"replication_key": "updated_at", "replication_key_value": 7}}}
    with pytest.raises(ConfigValidationError, match="since_format 'epoch' needs a date-time"):
        run_tap(h.config(api, {**SPEC, "since_format": "epoch"}), state=state)


def test_since_format_date_is_the_utc_date() -> None:
    from glue_rest.streams import format_since

    assert format_since("2024-01-02T01:00:00+02:00", "date", "s") == "2024-01-01"
