"""The demo flow and the field map commands, end to end with the bundled connectors."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from glue_test_helpers import run_cli

DEMO = Path(__file__).parent.parent / "examples" / "demo"


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    target = tmp_path / "demo"
    shutil.copytree(DEMO, target, ignore=shutil.ignore_patterns(".glue", "output"))
    return target


def columns(db: Path, table: str) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]


def test_demo_flow_runs_and_resumes(demo: Path):
    first = run_cli("run", "flow.yml", "--json", cwd=demo)
    assert first.code == 0, first.stderr
    summary = json.loads(first.stdout)
    assert summary["streams"]["customers"]["records_out"] == 20
    assert summary["streams"]["orders"]["records_out"] == 60
    db = demo / "output" / "demo.db"
    assert "created_at" not in columns(db, "customers")  # the field map left it out
    assert "email_domain" in columns(db, "customers")  # the ETL script added it
    with sqlite3.connect(db) as conn:
        email, domain = conn.execute(
            "SELECT email, email_domain FROM customers WHERE id=1"
        ).fetchone()
        cents = conn.execute("SELECT amount, amount_cents FROM orders WHERE id=1001").fetchone()
    assert "@" not in email and len(email) == 64 and domain == "example.com"
    assert cents == (338.92, 33892)
    assert set(summary["state"]["bookmarks"]) == {"customers", "orders"}

    second = run_cli("run", "flow.yml", "--json", cwd=demo)
    assert second.code == 0, second.stderr
    again = json.loads(second.stdout)
    # Incremental: only rows at the bookmark (>=, at least once) are read again.
    assert again["streams"]["orders"]["records_in"] <= 1
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM orders").fetchone() == (60,)


def test_fieldmap_init_show_check_and_run(demo: Path):
    init = run_cli("fieldmap", "init", "--flow", "flow.yml", "-o", "all.yml", cwd=demo)
    assert init.code == 0, init.stderr
    text = (demo / "all.yml").read_text()
    assert "customers" in text and "orders" in text and "email" in text

    # Edit: only orders, three fields.
    (demo / "mine.yml").write_text("streams:\n  orders:\n    fields: [amount, status]\n")
    show = run_cli(
        "fieldmap",
        "show",
        "mine.yml",
        "--flow",
        "flow.yml",
        "--catalog-selected",
        "catalog-selected.json",
        cwd=demo,
    )
    assert show.code == 0, show.stderr
    assert "read as glue field map" in show.stdout
    assert "orders" in show.stdout and "key property" in show.stdout
    selected = json.loads((demo / "catalog-selected.json").read_text())
    orders = next(s for s in selected["streams"] if s["tap_stream_id"] == "orders")
    assert orders.get("selected") is True

    check = run_cli("fieldmap", "check", "mine.yml", "--flow", "flow.yml", cwd=demo)
    assert check.code == 0, check.stderr

    flow = (demo / "flow.yml").read_text().replace("field_map: fieldmap.yml", "field_map: mine.yml")
    flow = flow.replace("etl: etl.py", "")
    (demo / "flow.yml").write_text(flow)
    run = run_cli("run", "flow.yml", "--json", cwd=demo)
    assert run.code == 0, run.stderr
    assert set(json.loads(run.stdout)["streams"]) >= {"orders"}
    db = demo / "output" / "demo.db"
    # Key property and replication key are always kept, with the chosen fields.
    assert sorted(columns(db, "orders")) == ["amount", "id", "status", "updated_at"]
    with sqlite3.connect(db) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "customers" not in tables


def test_unknown_names_fail_before_the_tap_with_a_suggestion(demo: Path):
    (demo / "fieldmap.yml").write_text("streams:\n  order:\n    fields: [amount]\n")
    run = run_cli("run", "flow.yml", cwd=demo)
    assert run.code == 2
    assert "'order'" in run.stderr and "did you mean 'orders'" in run.stderr.lower()
    assert not (demo / "output").exists()

    (demo / "fieldmap.yml").write_text("streams:\n  orders:\n    fields: [amout]\n")
    check = run_cli("fieldmap", "check", "--flow", "flow.yml", cwd=demo)
    assert check.code == 2
    assert "amout" in check.stderr and "did you mean 'amount'" in check.stderr.lower()


def test_hotglue_field_map_is_read(demo: Path):
    (demo / "fieldMap.json").write_text(
        json.dumps({"customers": {"name": "customers", "selected": ["id", "country"]}})
    )
    show = run_cli("fieldmap", "show", "fieldMap.json", "--flow", "flow.yml", cwd=demo)
    assert show.code == 0, show.stderr
    assert "hotglue fieldMap.json" in show.stdout
