"""The runtime's start-up caches (glue_runtime/caches.py): --about answers by connector identity,
the entry-point index, and the quick config check that spares a run the jsonschema import."""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from glue_test_helpers import FAKE_TARGET, SINGER, run_cli, write_json

from glue_runtime import caches, connectors
from glue_runtime.connectors import Connector, surely_valid

COUNTER_TAP = SINGER / "about_counter_tap.py"


@pytest.fixture
def counter(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    """A copy of the counting tap (the tests change it), its --about log, and the env to run."""
    tap = tmp_path / "bin" / "tap-counter.py"
    tap.parent.mkdir()
    shutil.copy(COUNTER_TAP, tap)
    tap.chmod(0o755)
    log = tmp_path / "about.log"
    env = {"ABOUT_COUNTER_LOG": str(log), "GLUE_CACHE_DIR": str(tmp_path / "cache")}
    return tap, log, env


def about_calls(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def run_counter(tmp_path: Path, tap: Path, env: dict[str, str], config: dict) -> object:
    write_json(tmp_path / "tap.json", config)
    write_json(tmp_path / "target.json", {"output": str(tmp_path / "out.jsonl")})
    return run_cli(
        "run", "--tap", str(tap), "--target", FAKE_TARGET,
        "--tap-config", "tap.json", "--target-config", "target.json",
        "--state-file", "state.json", cwd=tmp_path, env=env,
    )  # fmt: skip


def test_second_run_starts_no_about_process_until_the_connector_changes(tmp_path, counter):
    tap, log, env = counter
    first = run_counter(tmp_path, tap, env, {"name": "a", "token": "s3cret-token"})
    assert first.code == 0, first.stderr
    assert about_calls(log) == 1

    second = run_counter(tmp_path, tap, env, {"name": "a", "token": "s3cret-token"})
    assert second.code == 0, second.stderr
    assert about_calls(log) == 1  # the cached answer: no --about process

    # The cached settings still decide the config check: a missing required setting fails.
    bad = run_counter(tmp_path, tap, env, {"token": "s3cret-token"})
    assert bad.code != 0
    assert "missing required setting 'name'" in bad.stderr
    assert about_calls(log) == 1

    # A changed connector (new content: size and mtime) is asked again, once.
    tap.write_text(tap.read_text() + "\n# a new version\n")
    for _ in range(2):
        again = run_counter(tmp_path, tap, env, {"name": "a"})
        assert again.code == 0, again.stderr
    assert about_calls(log) == 2

    # `connectors about --refresh` asks again; without it, the cache answers.
    shown = run_cli("connectors", "about", str(tap), "--kind", "tap", cwd=tmp_path, env=env)
    assert shown.code == 0, shown.stderr
    assert "token" in shown.stdout and "secret" in shown.stdout
    assert about_calls(log) == 2
    refreshed = run_cli(
        "connectors", "about", str(tap), "--kind", "tap", "--refresh", cwd=tmp_path, env=env
    )
    assert refreshed.code == 0, refreshed.stderr
    assert about_calls(log) == 3


def test_no_answer_is_not_cached(tmp_path: Path, monkeypatch):
    """A connector without --about (it fails) is asked again: it may work next time."""
    monkeypatch.setenv("GLUE_CACHE_DIR", str(tmp_path / "cache"))
    target = Connector("fake_target.py", "target", [FAKE_TARGET], "path", FAKE_TARGET)
    assert target.about() is None
    assert not list((tmp_path / "cache").glob("**/about-*"))


def test_an_unwritable_cache_folder_only_means_no_cache(tmp_path: Path, monkeypatch, counter):
    tap, log, _ = counter
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("GLUE_CACHE_DIR", str(blocker / "cache"))
    monkeypatch.setenv("ABOUT_COUNTER_LOG", str(log))
    for expected in (1, 2):
        connectors._run_about.cache_clear()  # as a new process would
        c = connectors.resolve(str(tap), "tap")
        assert c.secret_settings() == {"token"}
        assert about_calls(log) == expected


def _fake_install(site: Path, version: str, module_text: str = "X = 1\n") -> Path:
    """A package ``demo_conn`` with a tap entry point, as pip lays it out in ``site``."""
    pkg = site / "demo_conn"
    pkg.mkdir(parents=True, exist_ok=True)
    (pkg / "__init__.py").write_text("")
    if not (pkg / "tap.py").exists() or (pkg / "tap.py").read_text() != module_text:
        (pkg / "tap.py").write_text(module_text)
    for old in site.glob("demo_conn-*.dist-info"):
        shutil.rmtree(old)
    meta = site / f"demo_conn-{version}.dist-info"
    meta.mkdir()
    (meta / "METADATA").write_text(f"Metadata-Version: 2.1\nName: demo-conn\nVersion: {version}\n")
    (meta / "entry_points.txt").write_text("[glue_runtime.taps]\ndemo = demo_conn.tap:X\n")
    return meta


@pytest.fixture
def site(tmp_path: Path, monkeypatch) -> Path:
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.setenv("GLUE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(caches, "_MEMO", None)
    for name in [m for m in sys.modules if m.split(".")[0] == "demo_conn"]:
        monkeypatch.delitem(sys.modules, name)  # loaded by another test, from another site
    yield site
    for name in [m for m in sys.modules if m.split(".")[0] == "demo_conn"]:
        del sys.modules[name]
    importlib.invalidate_caches()


def _demo() -> caches.EntryPointInfo | None:
    importlib.invalidate_caches()  # importlib.metadata caches folder listings by mtime
    found = [ep for ep in caches.entry_points("glue_runtime.taps") if ep.name == "demo"]
    return found[-1] if found else None


def test_the_entry_point_index_follows_installs_upgrades_and_removals(site: Path, monkeypatch):
    assert _demo() is None
    _fake_install(site, "1.0")
    ep = _demo()
    assert ep is not None and ep.dist_version == "1.0" and ep.value == "demo_conn.tap:X"
    assert ep.module == "demo_conn.tap" and ep.load() == 1

    # A new process reads the index file and needs no importlib.metadata scan.
    monkeypatch.setattr(caches, "_MEMO", None)

    def no_scan():
        raise AssertionError("scanned although nothing changed")

    with monkeypatch.context() as m:
        m.setattr(caches, "_scan_entry_points", no_scan)
        assert _demo() == ep

    _fake_install(site, "2.0")  # an upgrade replaces the .dist-info folder
    upgraded = _demo()
    assert upgraded is not None and upgraded.dist_version == "2.0"

    shutil.rmtree(next(site.glob("demo_conn-*.dist-info")))  # uninstalled
    assert _demo() is None


def test_an_entry_point_connectors_identity_changes_with_its_files(site: Path):
    _fake_install(site, "1.0")
    ep = _demo()
    assert ep is not None
    conn = connectors._from_entry_point(ep, "tap")
    first = caches.identity(conn)
    assert first is not None
    assert caches.identity(connectors._from_entry_point(_demo(), "tap")) == first  # stable

    (site / "demo_conn" / "tap.py").write_text("X = 2  # edited\n")
    edited = caches.identity(connectors._from_entry_point(_demo(), "tap"))
    assert edited != first

    (site / "demo_conn" / "helpers.py").write_text("")  # a module next to it
    added = caches.identity(connectors._from_entry_point(_demo(), "tap"))
    assert added != edited

    _fake_install(site, "1.1", module_text="X = 2  # edited\n")
    assert caches.identity(connectors._from_entry_point(_demo(), "tap")) != added


def test_an_executables_identity_includes_its_venvs_site_packages(tmp_path: Path):
    venv = tmp_path / "venv"
    sp = venv / "lib" / "python3.11" / "site-packages"
    sp.mkdir(parents=True)
    (venv / "bin").mkdir()
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    exe = venv / "bin" / "tap-x"
    exe.write_text(f"#!{venv}/bin/python\nprint('x')\n")
    exe.chmod(0o755)
    conn = Connector("tap-x", "tap", [str(exe)], "venv", str(venv))
    first = caches.identity(conn)
    (sp / "new_dep-1.0.dist-info").mkdir()  # pip installed something into that venv
    assert caches.identity(conn) != first


def test_the_cache_file_names_reveal_nothing_and_differ_per_salt(tmp_path: Path, counter):
    tap, _, _ = counter
    conn = Connector(tap.name, "tap", [str(tap)], "path", str(tap))
    a = caches.AboutCache(tmp_path / "a").path_for(conn, create=True)
    b = caches.AboutCache(tmp_path / "b").path_for(conn, create=True)
    assert a is not None and b is not None
    assert a.name != b.name and a.name.startswith("about-tap-counter.py-")
    assert oct((tmp_path / "a" / ".salt").stat().st_mode & 0o777) == "0o600"


# -- the quick config check ---------------------------------------------------------------------

SCHEMAS = [
    {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
    {"type": "object", "properties": {"a": {"type": ["integer", "null"]}}},
    {"type": "object", "properties": {"a": {"type": "number"}}},
    {"type": "object", "properties": {"a": {"type": ["string", "null"], "enum": ["x", "y"]}}},
    {"type": "object", "properties": {"a": {"const": "x"}}},
    {"type": "object", "properties": {"a": {"type": "array", "items": {"type": "string"}}}},
    {"type": "object", "properties": {"a": {"type": "array", "items": False}}},
    {"type": "object", "properties": {"a": {"type": "boolean"}}, "additionalProperties": False},
    {"type": "object", "additionalProperties": {"type": "integer"}},
    {"type": "object", "properties": {"a": {"type": "object", "required": ["b"]}}},
    {"type": "object", "properties": {"a": {"oneOf": [{"type": "string"}, {"type": "integer"}]}}},
    {"type": "object", "properties": {"a": {"type": "integer", "minimum": 3}}},
    {"type": "object", "properties": {"a": {"$ref": "#/$defs/x"}}, "$defs": {"x": {}}},
    {"type": "object", "properties": {"a": {"type": "string", "secret": True, "format": "uri"}}},
    {"type": "object", "properties": {"a": {"type": "wat"}}},
    {"type": "object", "required": "a"},
    {"type": "object", "properties": {"a": {"type": None}}},
]
VALUES = [
    {},
    {"a": "x"},
    {"a": "z"},
    {"a": None},
    {"a": 1},
    {"a": 1.0},
    {"a": 1.5},
    {"a": True},
    {"a": ["s"]},
    {"a": [1]},
    {"a": []},
    {"a": {}},
    {"a": {"b": 1}},
    {"b": 1},
    {"b": "x"},
    [],
    "a",
]


def test_the_quick_check_never_vouches_for_what_jsonschema_rejects():
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError, UnknownType

    vouched = 0
    for schema in SCHEMAS:
        for value in VALUES:
            if not surely_valid(schema, value):
                continue
            vouched += 1
            try:
                errors = list(Draft202012Validator(schema).iter_errors(value))
            except (SchemaError, UnknownType) as exc:  # a broken schema: never vouched for
                pytest.fail(f"vouched for {value!r} under a broken schema {schema!r}: {exc}")
            assert not errors, (schema, value, [e.message for e in errors])
    assert vouched > 20  # and it does vouch for the usual configs


def test_the_quick_check_knows_every_jsonschema_keyword_it_passes_over():
    """The keywords it treats as annotations assert nothing in jsonschema's Draft 2020-12."""
    from jsonschema import Draft202012Validator

    from glue_runtime.connectors import _ANNOTATIONS, _HANDLED

    asserting = set(Draft202012Validator.VALIDATORS)
    assert not (_ANNOTATIONS - {"format"}) & asserting
    assert asserting >= _HANDLED


def test_a_warm_start_imports_none_of_the_slow_modules(tmp_path: Path):
    """With its caches warm, a run with a valid config imports neither jsonschema nor yaml nor
    importlib.metadata (the slowest parts of a tiny job's start-up); a connector process
    started through glue_runtime.launch imports none of the runner."""
    code = f"""
import sys
from glue_runtime import connectors
for name, kind in (("files", "tap"), ("sqlite", "target"), ({str(COUNTER_TAP)!r}, "tap")):
    c = connectors.resolve(name, kind)
    c.secret_settings()
tap = connectors.resolve({str(COUNTER_TAP)!r}, "tap")
connectors.validate_config(tap, {{"name": "a"}})
import glue_runtime.cli
heavy = [m for m in ("jsonschema", "yaml", "importlib.metadata") if m in sys.modules]
assert not heavy or sys.argv[1] == "cold", heavy
"""
    env = {**os.environ, "GLUE_CACHE_DIR": str(tmp_path / "cache")}
    for when in ("cold", "warm"):
        proc = subprocess.run(
            [sys.executable, "-c", code, when], capture_output=True, text=True, env=env
        )
        assert proc.returncode == 0, proc.stderr
    launch = "import sys, glue_runtime.launch; assert 'glue_runtime.runner' not in sys.modules"
    proc = subprocess.run([sys.executable, "-c", launch], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr


def test_an_invalid_config_still_names_every_problem(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("GLUE_CACHE_DIR", str(tmp_path / "cache"))
    tap = connectors.resolve(str(COUNTER_TAP), "tap")
    with pytest.raises(Exception) as info:
        connectors.validate_config(tap, {"records": "many"})
    text = str(info.value)
    assert "missing required setting 'name'" in text
    assert "setting 'records': expected ['integer', 'null'], got str" in text
    json.dumps(text)  # plain text
