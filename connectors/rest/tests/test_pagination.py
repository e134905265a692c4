"""Every pagination style reads all pages, in order, with the expected requests."""

from __future__ import annotations

import pytest

ALL_IDS = list(range(1, 26))


def _stream(path: str, records_path: str, pagination: dict | None = None) -> dict:
    spec = {"name": "items", "path": path, "records_path": records_path, "primary_keys": ["id"]}
    if pagination is not None:
        spec["pagination"] = pagination
    return spec


CASES = {
    "none": (_stream("/plain/items", "$.data[*]"), 1),
    "page": (
        _stream(
            "/page/items",
            "$.data[*]",
            {"style": "page", "page_size_param": "per_page", "page_size": 10},
        ),
        3,
    ),
    "offset": (
        _stream("/offset/items", "$.results[*]", {"style": "offset", "limit": 10}),
        3,
    ),
    "cursor": (
        _stream(
            "/cursor/items",
            "$.items[*]",
            {"style": "cursor", "cursor_path": "$.meta.next_cursor", "cursor_param": "cursor"},
        ),
        3,
    ),
    "next_link_body": (
        _stream(
            "/link/items", "$.data[*]", {"style": "next_link", "next_link_path": "$.links.next"}
        ),
        3,
    ),
    "next_link_header": (_stream("/header/items", "$[*]", {"style": "next_link"}), 3),
}


@pytest.mark.parametrize("style", sorted(CASES))
def test_style_reads_every_page(style, api, run_tap, h) -> None:
    spec, expected_requests = CASES[style]
    messages = run_tap(h.config(api, spec))
    assert [r["id"] for r in h.records(messages, "items")] == ALL_IDS
    # One extra request: discovery samples the first page to infer the schema.
    assert len(api.hits(f"/v1{spec['path']}")) == expected_requests + 1


def test_page_style_stops_on_empty_page_without_page_size(api, run_tap, h) -> None:
    api.items = api.items[:20]
    spec = _stream("/page/items", "$.data[*]", {"style": "page"})
    messages = run_tap(h.config(api, spec))
    assert [r["id"] for r in h.records(messages)] == list(range(1, 21))
    pages = [r.query["page"] for r in api.hits("/v1/page/items")]
    assert pages == ["1", "1", "2", "3"]  # a sample for the schema; page 3 is empty: stop


def test_page_params_and_static_params_are_sent(api, run_tap, h) -> None:
    spec = _stream(
        "/page/items",
        "$.data[*]",
        {"style": "page", "page_param": "page", "page_size_param": "per_page", "page_size": 10},
    )
    spec["params"] = {"status": "open"}
    run_tap(h.config(api, spec))
    first = api.hits("/v1/page/items")[1].query
    assert first == {"page": "1", "per_page": "10", "status": "open"}


def test_offset_style_sends_offsets(api, run_tap, h) -> None:
    spec = _stream("/offset/items", "$.results[*]", {"style": "offset", "limit": 10})
    run_tap(h.config(api, spec))
    assert [r.query["offset"] for r in api.hits("/v1/offset/items")] == ["0", "0", "10", "20"]


def test_cursor_is_passed_back(api, run_tap, h) -> None:
    spec = CASES["cursor"][0]
    run_tap(h.config(api, spec))
    cursors = [r.query.get("cursor") for r in api.hits("/v1/cursor/items")][1:]
    assert cursors[0] is None and cursors[1] and cursors[2] and cursors[1] != cursors[2]


@pytest.mark.parametrize(
    ("path", "pagination"),
    [
        ("/hasmore/items", {"style": "page", "has_more_path": "$.has_more"}),
        ("/totalpages/items", {"style": "page", "total_pages_path": "$.meta.pages"}),
    ],
)
def test_page_style_stops_where_the_body_says(path, pagination, api, run_tap, h) -> None:
    api.items = api.items[:20]  # two full pages: only the body can tell the second is the last
    messages = run_tap(h.config(api, _stream(path, "$.data[*]", pagination)))
    assert [r["id"] for r in h.records(messages)] == list(range(1, 21))
    assert [r.query.get("page") for r in api.hits(f"/v1{path}")] == ["1", "1", "2"]


def test_a_pagination_key_for_another_style_is_refused(api, h) -> None:
    from glue_rest.tap import TapRest
    from singer_sdk.exceptions import ConfigValidationError

    spec = _stream("/x", "$[*]", {"style": "cursor", "cursor_path": "$.c", "has_more_path": "$.m"})
    with pytest.raises(ConfigValidationError, match="has_more_path works with style page or"):
        TapRest(config=h.config(api, spec))


def test_a_post_search_endpoint_takes_its_filters_and_paging_in_the_body(api, run_tap, h) -> None:
    spec = _stream("/search/items", "$.data[*]", {"style": "page"})
    spec.update(
        method="POST",
        body={"active": True},
        params_in_body=True,
        replication_key="updated_at",
        since_param="since",
    )
    config = h.config(api, spec)
    messages = run_tap(config)
    assert [r["id"] for r in h.records(messages)] == list(range(2, 26, 2))
    sent = [r for r in api.requests if r.path == "/v1/search/items"]
    assert all(r.method == "POST" and r.query == {} for r in sent)
    assert [r.body.get("page") for r in sent][1:] == [1, 2, 3]  # after the sample; 3 is empty
    state = [m for m in messages if m["type"] == "STATE"][-1]["value"]
    api.requests.clear()
    run_tap(config, state=state)
    bookmark = state["bookmarks"]["items"]["replication_key_value"]
    # [0] samples the first page for the schema (no since); [1] is the sync's first request
    assert api.requests[1].body == {"active": True, "page": 1, "since": bookmark}
