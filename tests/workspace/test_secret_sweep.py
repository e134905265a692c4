"""The secret sweep finds a planted secret wherever it is, and never prints it."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from workspace.secret_sweep import assert_no_secrets, find_secrets

SECRET = 'tok"en/with+odd chars-91c2'


def test_a_clean_run_passes(tmp_path: Path) -> None:
    (tmp_path / "out.txt").write_text("nothing to see")
    assert_no_secrets([SECRET], texts=["ok", b"fine"], folders=[tmp_path])


def test_a_secret_in_an_output_is_found_and_not_printed() -> None:
    with pytest.raises(AssertionError) as err:
        assert_no_secrets([SECRET], texts=["clean", f"log: {SECRET}"])
    message = str(err.value)
    assert "text #1" in message and "text #0" not in message
    assert SECRET not in message and "26 chars" in message


@pytest.mark.parametrize(
    "written",
    [
        SECRET,
        json.dumps({"token": SECRET}),
        "https://api.example/x?token=tok%22en%2Fwith%2Bodd%20chars-91c2",
        "Authorization: Basic dG9rImVuL3dpdGgrb2RkIGNoYXJzLTkxYzI=",
    ],
    ids=["plain", "json", "percent", "base64"],
)
def test_a_secret_in_a_nested_file_is_found_in_each_form(tmp_path: Path, written: str) -> None:
    nested = tmp_path / "job" / "logs"
    nested.mkdir(parents=True)
    (nested / "run.log").write_text(f"line\n{written}\n")
    assert find_secrets([SECRET], folders=[tmp_path]) == [
        f"file {nested / 'run.log'}: secret 'to'... (26 chars)"
    ]


def test_a_plaintext_secret_in_a_sqlite_store_is_found(tmp_path: Path) -> None:
    db = tmp_path / ".glue" / "store.db"
    db.parent.mkdir()
    with sqlite3.connect(db) as conn:
        conn.execute("create table links (secrets text)")
        conn.execute("insert into links values (?)", (json.dumps({"api_key": SECRET}),))
    hits = find_secrets([SECRET], folders=[tmp_path])
    assert hits and all("store.db" in h for h in hits)


def test_the_key_file_and_skipped_paths_are_not_read(tmp_path: Path) -> None:
    (tmp_path / ".glue").mkdir()
    (tmp_path / ".glue" / "secret.key").write_text(SECRET)
    (tmp_path / "config.json").write_text(SECRET)
    assert_no_secrets([SECRET], folders=[tmp_path], skip=[tmp_path / "config.json"])


def test_too_short_secrets_are_refused() -> None:
    with pytest.raises(ValueError, match="shorter than 6"):
        find_secrets(["abc"], texts=["abc"])
