"""`glue init`: a workspace with a runnable demo flow, its key file 0600 and git-ignored, and
its store; bad input changes nothing."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from glue_runtime.cli import main
from glue_runtime.errors import StoreError, UsageError
from glue_runtime.workspace.config import load_workspace
from glue_runtime.workspace.create import init_workspace
from glue_runtime.workspace.crypto import ENV_KEY, new_key, read_key_file
from glue_runtime.workspace.open import open_workspace
from workspace.conftest_secrets import *  # noqa: F403
from workspace.secret_sweep import assert_no_secrets


def _tree(folder: Path) -> dict[str, bytes]:
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_glue_init_makes_the_workspace_and_says_what_next(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    clean_env.chdir(tmp_path)
    result = CliRunner().invoke(main, ["init", "ws"])
    assert result.exit_code == 0, result.output
    root = tmp_path / "ws"
    key = root / ".glue" / "secret.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE((root / ".glue").stat().st_mode) == 0o700
    assert len(read_key_file(key)) == 1
    assert (root / ".gitignore").read_text() == ".glue/\n"
    assert sorted(p.name for p in (root / "data").iterdir()) == ["customers.csv", "orders.csv"]
    for line in ("cd ws", "glue tenants add acme", "glue link demo files --tenant acme"):
        assert line in result.output
    assert "glue run demo --tenant acme" in result.output
    assert_no_secrets(read_key_file(key), texts=[result.output], folders=[root])
    with open_workspace(root) as opened:  # the schema check passes: the store exists
        flow = opened.workspace.flow("demo")
        assert opened.keyring is not None and opened.store.tenants() == []
    assert flow.sources["files"].connector == "files"
    assert flow.targets["warehouse"].config == {"database": "output/{tenant}.db"}


def test_the_quick_start_it_prints_works(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    """glue init x && cd x && glue tenants add acme && glue link demo files --tenant acme &&
    glue run demo --tenant acme: each a real process; acme's rows land in its own database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GLUE_")}
    outputs = []
    for args, cwd in (
        (["init", "x"], tmp_path),
        (["tenants", "add", "acme"], tmp_path / "x"),
        (["link", "demo", "files", "--tenant", "acme"], tmp_path / "x"),
        (["run", "demo", "--tenant", "acme"], tmp_path / "x"),
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "glue_runtime", *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        outputs += [proc.stdout, proc.stderr]
        assert proc.returncode == 0, f"glue {' '.join(args)}: {proc.stderr[-3000:]}"
    with sqlite3.connect(tmp_path / "x" / "output" / "acme.db") as conn:
        assert conn.execute("select count(*) from customers").fetchone()[0] == 20
        assert conn.execute("select count(*) from orders").fetchone()[0] == 60
    key = read_key_file(tmp_path / "x" / ".glue" / "secret.key")
    assert_no_secrets(key, texts=outputs, folders=[tmp_path / "x"])


def test_a_cloned_workspace_keeps_its_glue_yml_and_gets_a_key_and_a_store(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    """`git clone` brings glue.yml but not .glue/ (git-ignored): init makes the rest."""
    root = tmp_path / "ws"
    root.mkdir()
    mine = "# my flows\nflows:\n  crm:\n    sources:\n      files: {connector: files}\n"
    (root / "glue.yml").write_text(mine)
    result = CliRunner().invoke(main, ["init", str(root)])
    assert result.exit_code == 0, result.output
    assert "kept" in result.output and "glue flows list" in result.output
    assert (root / "glue.yml").read_text() == mine
    assert not (root / "data").exists()  # no demo data in someone's workspace
    assert oct((root / ".glue" / "secret.key").stat().st_mode & 0o777) == "0o600"
    with open_workspace(root) as opened:
        opened.store.add_tenant("acme")  # the store is there and holds secrets' key
        assert list(opened.workspace.flows) == ["crm"]


def test_force_writes_the_template_but_keeps_the_key_and_the_store(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    root = init_workspace(tmp_path / "ws").root
    key = read_key_file(root / ".glue" / "secret.key")
    with open_workspace(root) as opened:
        opened.store.add_tenant("acme")
    (root / "glue.yml").write_text("# mine\n")
    (root / ".gitignore").write_text("*.pyc")
    done = init_workspace(root, force=True)
    assert "kept the existing key file" in " ".join(done.made)
    assert read_key_file(root / ".glue" / "secret.key") == key
    assert (root / ".gitignore").read_text() == "*.pyc\n.glue/\n"
    with open_workspace(root) as opened:
        assert [t.id for t in opened.store.tenants()] == ["acme"]
        assert "demo" in opened.workspace.flows


def test_with_glue_secret_key_no_key_file_is_written(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    clean_env.setenv(ENV_KEY, new_key())
    result = CliRunner().invoke(main, ["init", str(tmp_path / "ws"), "--no-key"])
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "ws" / ".glue" / "secret.key").exists()
    assert f"the key in {ENV_KEY}" in result.output
    with open_workspace(tmp_path / "ws") as opened:
        assert opened.keyring is not None and opened.keyring.source == ENV_KEY


@pytest.mark.parametrize(
    ("args", "env_key", "message"),
    [
        (["--no-key"], None, f"--no-key means the key comes from {ENV_KEY}, which is not set"),
        (["--key-file", "k.key"], new_key(), f"{ENV_KEY} is set, so no key file is written"),
        ([], "c2hvcnQ=", f"{ENV_KEY} does not hold a 256-bit key"),
    ],
    ids=["no-key-without-env", "key-file-with-env", "bad-env-key"],
)
def test_bad_key_options_are_refused_before_anything_is_written(
    tmp_path: Path,
    clean_env: pytest.MonkeyPatch,
    args: list[str],
    env_key: str | None,
    message: str,
) -> None:
    if env_key:
        clean_env.setenv(ENV_KEY, env_key)
    clean_env.chdir(tmp_path)
    result = CliRunner().invoke(main, ["init", "ws", *args])
    assert result.exit_code == 2 and message in result.output, result.output
    assert not (tmp_path / "ws").exists() and not (tmp_path / "k.key").exists()


def test_a_key_file_outside_the_workspace_is_recorded_in_glue_yml(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    outside = tmp_path / "keys" / "shop.key"
    init_workspace(tmp_path / "ws", key_file=outside)
    assert stat.S_IMODE(outside.stat().st_mode) == 0o600
    raw = yaml.safe_load((tmp_path / "ws" / "glue.yml").read_text())
    assert raw["secrets"] == {"key_file": str(outside)}
    assert load_workspace(tmp_path / "ws").key_file == outside
    assert not (tmp_path / "ws" / ".glue" / "secret.key").exists()
    assert (tmp_path / "ws" / ".gitignore").read_text() == ".glue/\n"


def test_a_key_file_inside_the_workspace_is_git_ignored_too(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "ws"
    init_workspace(root, key_file=root / "keys" / "ws.key")
    assert (root / ".gitignore").read_text() == ".glue/\nkeys/ws.key\n"
    assert yaml.safe_load((root / "glue.yml").read_text())["secrets"] == {"key_file": "keys/ws.key"}


def test_an_unreachable_store_leaves_nothing_behind(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    clean_env.setenv("GLUE_STORE_URL", "postgresql+psycopg://glue:pw-9a8b7c@127.0.0.1:1/nowhere")
    before = tmp_path / "existing"
    before.mkdir()
    (before / "notes.txt").write_text("mine")
    with pytest.raises(StoreError, match=r"cannot (create|open) the store at") as err:
        init_workspace(before)
    assert "pw-9a8b7c" not in str(err.value)
    assert _tree(before) == {"notes.txt": b"mine"}
    assert sorted(os.listdir(before)) == ["notes.txt"]


def test_init_on_postgresql_via_glue_store_url(
    tmp_path: Path, clean_env: pytest.MonkeyPatch, store_url: str
) -> None:
    clean_env.setenv("GLUE_STORE_URL", store_url)
    done = init_workspace(tmp_path / "ws")
    with open_workspace(tmp_path / "ws") as opened:
        assert opened.store.url == store_url
        opened.store.add_tenant("acme")
        assert [t.id for t in opened.store.tenants()] == ["acme"]
    assert "***" in done.store or "sqlite" in done.store
    assert "came from GLUE_STORE_URL: keep it set" in done.made[-1]


def test_a_file_where_the_folder_should_be_is_refused(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    (tmp_path / "ws").write_text("x")
    with pytest.raises(UsageError, match="exists and is not a folder"):
        init_workspace(tmp_path / "ws")


def test_the_wheel_ships_the_template(tmp_path: Path) -> None:
    from test_packaging import BUILD, REPO, copy_sources

    src = tmp_path / "src"
    copy_sources(REPO, src, "glue_runtime")
    proc = subprocess.run(
        [sys.executable, "-c", BUILD, str(tmp_path / "dist")],
        cwd=src,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    wheel = tmp_path / "dist" / proc.stdout.strip().splitlines()[-1]
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in ("glue.yml", "data/customers.csv", "data/orders.csv"):
        assert f"glue_runtime/workspace/init_template/{name}" in names


def test_a_write_that_fails_is_a_named_error_and_what_init_made_is_removed(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "ws"
    (root / "glue.yml").mkdir(parents=True)  # a folder where glue.yml goes
    with pytest.raises(UsageError, match=r"cannot make the workspace in .*nothing was changed"):
        init_workspace(root)
    assert sorted(os.listdir(root)) == ["glue.yml"]


def test_a_file_where_the_data_folder_goes_is_refused(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    (root / ".glue").write_text("not a folder")
    with pytest.raises(UsageError, match=r"\.glue exists and is not a folder; nothing was changed"):
        init_workspace(root)
    assert sorted(os.listdir(root)) == [".glue"]
