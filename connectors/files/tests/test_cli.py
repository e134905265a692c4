"""The console scripts as real subprocesses: tap-files | target-files, --about, failures."""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

DEMO = Path(__file__).resolve().parents[3] / "examples" / "demo" / "data"


def _exe(h, name: str) -> str:
    exe = h.bin / name
    # bootstrap installs it: a missing script is a broken install, not a reason to skip
    assert exe.exists(), f"{name} is not installed in {h.bin} (run scripts/bootstrap)"
    return str(exe)


def test_tap_piped_into_target_twice_with_state(tmp_path, h) -> None:
    """The demo CSVs through both console scripts; the second run, given the state the target
    emitted, reads nothing new (mtime bookmark) and keeps the bookmark."""
    tap_cfg = tmp_path / "tap.json"
    tap_cfg.write_text(
        json.dumps(
            {
                "base_dir": str(DEMO),
                "streams": [
                    {"name": "customers", "path": "customers.csv", "key_properties": ["id"]},
                    {
                        "name": "orders",
                        "path": "orders.csv",
                        "key_properties": ["id"],
                        "replication_key": "updated_at",
                    },
                ],
            }
        )
    )
    out = tmp_path / "out"
    target_cfg = tmp_path / "target.json"
    target_cfg.write_text(json.dumps({"output_dir": str(out), "format": "csv"}))

    def sync(state: dict | None) -> dict:
        args = [_exe(h, "tap-files"), "--config", str(tap_cfg)]
        if state is not None:
            (tmp_path / "state.json").write_text(json.dumps(state))
            args += ["--state", str(tmp_path / "state.json")]
        tap = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        target = subprocess.run(
            [_exe(h, "target-files"), "--config", str(target_cfg)],
            stdin=tap.stdout,
            capture_output=True,
            timeout=60,
        )
        tap.stdout.close()
        assert tap.wait(timeout=60) == 0, tap.stderr.read().decode()[-2000:]
        assert target.returncode == 0, target.stderr.decode()[-2000:]
        states = [json.loads(line) for line in target.stdout.decode().splitlines()]
        assert states, "the target emitted no STATE"
        return states[-1]

    state = sync(None)
    with open(out / "orders.csv", newline="") as fh:
        orders = list(csv.DictReader(fh))
    with open(DEMO / "orders.csv", newline="") as fh:
        source = list(csv.DictReader(fh))
    assert len(orders) == len(source) == 60
    assert [o["id"] for o in orders] == [s["id"] for s in source]
    assert float(orders[0]["amount"]) == float(source[0]["amount"])
    assert list(orders[0])[:6] == [
        "id",
        "customer_id",
        "amount",
        "status",
        "ordered_at",
        "updated_at",
    ]
    max_updated = max(s["updated_at"] for s in source)
    assert state["bookmarks"]["orders"]["replication_key_value"] == max_updated
    assert state["bookmarks"]["customers"]["replication_key"] == "_sdc_modified_at"

    second = sync(state)
    assert second["bookmarks"] == state["bookmarks"]
    with open(out / "customers.csv", newline="") as fh:
        assert len(list(csv.reader(fh))) == 1  # overwrite mode, nothing new: header only
    with open(out / "orders.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["updated_at"] for r in rows] == [max_updated]  # >= bookmark: the last one again


def test_about_lists_settings(h) -> None:
    for exe, settings in [
        ("tap-files", {"streams", "base_dir", "sample_size", "add_metadata_columns"}),
        ("target-files", {"output_dir", "format", "mode", "delimiter"}),
    ]:
        proc = subprocess.run(
            [_exe(h, exe), "--about", "--format", "json"], capture_output=True, timeout=60
        )
        assert proc.returncode == 0, proc.stderr.decode()
        about = json.loads(proc.stdout)
        assert settings <= set(about["settings"]["properties"])


def test_tap_error_reaches_stderr_with_nonzero_exit(tmp_path, h) -> None:
    cfg = tmp_path / "tap.json"
    pattern = str(tmp_path / "missing" / "*.csv")
    cfg.write_text(json.dumps({"streams": [{"name": "orders", "path": pattern}]}))
    proc = subprocess.run(
        [_exe(h, "tap-files"), "--config", str(cfg)], capture_output=True, timeout=60
    )
    assert proc.returncode != 0
    err = proc.stderr.decode()
    assert "Stream 'orders'" in err and pattern in err
