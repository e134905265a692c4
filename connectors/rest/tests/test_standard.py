"""singer-sdk's standard tap test suite against the fake API.

The test class factory discovers streams when the module is collected, so the server starts at
import (a daemon thread that ends with the test process).
"""

from __future__ import annotations

from glue_rest.tap import TapRest
from rest_fake_api import API_KEY, start
from singer_sdk.testing import get_tap_test_class

_SERVER, _API = start()

CONFIG = {
    "base_url": f"{_API.base_url}/v1",
    "auth": {"type": "api_key", "query": "api_key", "value": API_KEY},
    "backoff_factor": 0.01,
    "streams": [
        {
            "name": "paged",
            "path": "/page/items",
            "records_path": "$.data[*]",
            "primary_keys": ["id"],
            "replication_key": "updated_at",
            "since_param": "since",
            "pagination": {"style": "page", "page_size_param": "per_page", "page_size": 10},
        },
        {
            "name": "cursored",
            "path": "/cursor/items",
            "records_path": "$.items[*]",
            "primary_keys": ["id"],
            "pagination": {"style": "cursor", "cursor_path": "$.meta.next_cursor"},
        },
        {
            "name": "linked",
            "path": "/header/items",
            "primary_keys": ["id"],
            "pagination": {"style": "next_link"},
        },
    ],
}

TestTapRest = get_tap_test_class(TapRest, config=CONFIG)
