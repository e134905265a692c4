"""singer-sdk's standard tap and target test suites."""

from __future__ import annotations

import tempfile
from pathlib import Path

from glue_files.tap import TapFiles
from glue_files.target import TargetFiles
from singer_sdk.testing import get_tap_test_class, get_target_test_class

_DIR = Path(tempfile.mkdtemp(prefix="glue-files-std-"))


def _make_source() -> Path:
    """Input files written before the classes are made (the factories discover streams at
    collection time)."""
    src = _DIR / "in"
    src.mkdir()
    (src / "people.csv").write_text(
        "id,name,active,score,born,updated_at,meta\n"
        '1,ann,true,1.5,1990-01-01,2024-01-01T00:00:00Z,"{""a"": 1}"\n'
        "2,bob,false,,,2024-01-02T00:00:00Z,\n"
    )
    (src / "events-1.jsonl").write_text(
        '{"id": 1, "kind": "click", "at": "2024-01-01T00:00:00Z", "ctx": {"page": "/"}}\n'
    )
    (src / "events-2.jsonl").write_text(
        '{"id": 2, "kind": "view", "at": "2024-01-02T00:00:00Z", "tags": ["a", "b"]}\n'
    )
    return src


SRC = _make_source()

TestTapFiles = get_tap_test_class(
    TapFiles,
    config={
        "streams": [
            {
                "name": "people",
                "path": str(SRC / "people.csv"),
                "key_properties": ["id"],
                "replication_key": "updated_at",
            },
            {"name": "events", "path": str(SRC / "events-*.jsonl"), "key_properties": ["id"]},
        ]
    },
)

TestTargetFilesJsonl = get_target_test_class(
    TargetFiles, config={"output_dir": str(_DIR / "out-jsonl")}
)

TestTargetFilesCsv = get_target_test_class(
    TargetFiles, config={"output_dir": str(_DIR / "out-csv"), "format": "csv"}
)
