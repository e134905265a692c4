"""`glue connectors install`: connectors in venvs of their own, recorded in glue.yml.

The connectors are tiny packages the tests write (pure Python, built by tiny_backend.py, so pip
needs no index: PIP_NO_INDEX with the test's own wheels as find-links). Two of them pin
conflicting versions of one dependency, and each runs with its own.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from glue_test_helpers import FAKE_TARGET, LineWatcher, read_jsonl, run_cli, write_json

HERE = Path(__file__).parent
PROBE_DEP = "glue-probe-dep"  # the dependency whose versions conflict

TAP_CODE = """\
import json, sys
import glue_probe_dep


def main():
    if "--about" in sys.argv or "--discover" in sys.argv:
        return 2
    schema = {"type": "object", "properties": {"id": {"type": "integer"}, "dep": {"type": "string"}}}
    print(json.dumps({"type": "SCHEMA", "stream": "items", "schema": schema, "key_properties": ["id"]}))
    print(json.dumps({"type": "RECORD", "stream": "items", "record": {"id": 1, "dep": glue_probe_dep.VERSION}}))
    return 0
"""

GLUE_YML = """\
# The shop's integrations (a comment the install must keep)
name: shop

flows:
  orders:   # sources first
    sources:
      one: {connector: tap-one, config: {api_key: "${GLUE_PROBE_UNSET_KEY}"}}
    targets:
      out: {connector: files}

# settings after the flows, in this order
settings:
  token_refresh_margin: 5m
"""


def make_package(
    folder: Path,
    name: str,
    version: str = "1.0",
    *,
    deps: tuple[str, ...] = (),
    code: str = "VERSION = '0'\n",
    scripts: dict[str, str] | None = None,
    entry_points: dict[str, dict[str, str]] | None = None,
) -> Path:
    """A package folder with one module named like the distribution, built by tiny_backend."""
    pkg = folder / f"{name}-{version}"
    module = pkg / name.replace("-", "_")
    module.mkdir(parents=True)
    (module / "__init__.py").write_text(code)
    shutil.copy(HERE / "tiny_backend.py", pkg / "tiny_backend.py")
    lines = [
        "[build-system]",
        "requires = []",
        'build-backend = "tiny_backend"',
        'backend-path = ["."]',
        "[project]",
        f'name = "{name}"',
        f'version = "{version}"',
        f"dependencies = {json.dumps(list(deps))}",
        "[project.scripts]",
        *(f'"{k}" = "{v}"' for k, v in (scripts or {}).items()),
    ]
    for group, entries in (entry_points or {}).items():
        lines.append(f'[project.entry-points."{group}"]')
        lines += [f'"{k}" = "{v}"' for k, v in entries.items()]
    (pkg / "pyproject.toml").write_text("\n".join(lines) + "\n")
    return pkg


def build_wheel(pkg: Path, into: Path) -> Path:
    into.mkdir(exist_ok=True)
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import tiny_backend, sys; print(tiny_backend.build_wheel(sys.argv[1]))",
            str(into),
        ],
        cwd=pkg,
        capture_output=True,
        text=True,
        check=True,
    )
    return into / out.stdout.strip()


def make_tap(folder: Path, name: str, dep_version: str, version: str = "1.0") -> Path:
    module = name.replace("-", "_")
    return make_package(
        folder,
        name,
        version,
        deps=(f"{PROBE_DEP}=={dep_version}",),
        code=TAP_CODE,
        scripts={name: f"{module}:main"},
    )


@pytest.fixture
def wheels(tmp_path: Path) -> Path:
    """find-links for pip: the conflicting dependency in versions 1.0 and 2.0."""
    found = tmp_path / "wheels"
    for version, value in (("1.0", "1"), ("2.0", "2")):
        dep = make_package(tmp_path / "dep-src", PROBE_DEP, version, code=f"VERSION = {value!r}\n")
        build_wheel(dep, found)
    return found


@pytest.fixture
def env(wheels: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """pip offline: no index, no machine config, only the test's wheels."""
    monkeypatch.delenv("GLUE_PROBE_UNSET_KEY", raising=False)
    return {"PIP_CONFIG_FILE": os.devnull, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheels)}


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "glue.yml").write_text(GLUE_YML)
    return root


def glue(ws: Path, env: dict[str, str], *args: str):
    return run_cli(*args, cwd=ws, env=env, timeout=300)


def run_exe(path: Path) -> list[dict]:
    out = subprocess.run([str(path)], capture_output=True, text=True, check=True).stdout
    return [json.loads(line) for line in out.splitlines()]


def dep_seen_by(path: Path) -> str:
    return next(m for m in run_exe(path) if m["type"] == "RECORD")["record"]["dep"]


def test_install_from_a_folder_and_a_wheel_side_by_side_with_conflicting_pins(
    ws: Path, env: dict[str, str], tmp_path: Path
) -> None:
    one = make_tap(ws / "pkgs", "tap-one", "1.0")  # a folder inside the workspace
    two = build_wheel(make_tap(tmp_path / "src", "tap-two", "2.0"), tmp_path / "dist")

    first = glue(ws, env, "connectors", "install", "./pkgs/tap-one-1.0")
    assert first.code == 0, first.stderr
    second = glue(ws, env, "connectors", "install", str(two))
    assert second.code == 0, second.stderr
    assert "installed tap-one (tap-one 1.0)" in first.stderr
    assert "Successfully installed" not in first.stderr + first.stdout  # pip kept quiet

    venvs = ws / ".glue" / "venvs"
    assert dep_seen_by(venvs / "tap-one" / "bin" / "tap-one") == "1"
    assert dep_seen_by(venvs / "tap-two" / "bin" / "tap-two") == "2"

    recorded = yaml.safe_load((ws / "glue.yml").read_text())["connectors"]
    assert recorded == {
        "tap-one": {"pip_url": "./pkgs/tap-one-1.0", "executables": ["tap-one"]},
        "tap-two": {"pip_url": str(two), "executables": ["tap-two"]},
    }
    assert one.is_dir()
    # the user's file is kept as written, comments and order, with the block appended
    assert (ws / "glue.yml").read_text().startswith(GLUE_YML)

    listed = glue(ws, env, "connectors", "list", "--json")
    assert listed.code == 0, listed.stderr
    rows = {(c["name"], c["source"]) for c in json.loads(listed.stdout)}
    assert {("tap-one", "workspace"), ("tap-two", "workspace")} <= rows
    about = glue(ws, env, "connectors", "about", "tap-two")
    assert about.code == 0, about.stderr
    assert str(ws / ".glue" / "venvs") in about.stdout

    # a plain run finds it by the path resolve_connector gives, and it reads its own dependency
    # (the flows' secrets, ${GLUE_PROBE_UNSET_KEY}, are not needed to install or find them)
    from glue_runtime.workspace.installs import load_for_installs, resolve_connector

    tap = resolve_connector(load_for_installs(ws), "two", "tap")
    write_json(tmp_path / "target.json", {"output": str(tmp_path / "out.jsonl")})
    ran = glue(
        ws,
        env,
        "run",
        "--tap",
        tap,
        "--target",
        FAKE_TARGET,
        "--target-config",
        str(tmp_path / "target.json"),
    )
    assert ran.code == 0, ran.stderr
    assert read_jsonl(tmp_path / "out.jsonl") == [{"stream": "items", "id": 1, "dep": "2"}]


def test_install_with_no_spec_recreates_what_glue_yml_lists(ws: Path, env: dict[str, str]) -> None:
    make_tap(ws / "pkgs", "tap-one", "1.0")
    assert glue(ws, env, "connectors", "install", "pkgs/tap-one-1.0", "--name", "one").code == 0
    text = (ws / "glue.yml").read_text()
    shutil.rmtree(ws / ".glue" / "venvs")  # a fresh clone: glue.yml, no venvs

    again = glue(ws, env, "connectors", "install")
    assert again.code == 0, again.stderr
    assert "installing one (glue.yml lists them: not installed here" in again.stderr
    assert dep_seen_by(ws / ".glue" / "venvs" / "one" / "bin" / "tap-one") == "1"
    assert (ws / "glue.yml").read_text() == text

    nothing = glue(ws, env, "connectors", "install")
    assert nothing.code == 0 and "are installed" in nothing.stderr

    # a pin changed in glue.yml (a teammate's commit): installed again from the new pip_url
    make_tap(ws / "pkgs", "tap-one", "2.0", version="2.0")
    (ws / "glue.yml").write_text(text.replace("tap-one-1.0", "tap-one-2.0"))
    bumped = glue(ws, env, "connectors", "install")
    assert bumped.code == 0, bumped.stderr
    assert dep_seen_by(ws / ".glue" / "venvs" / "one" / "bin" / "tap-one") == "2"
    listed = json.loads(glue(ws, env, "connectors", "list", "--json").stdout)
    assert {"name": "tap-one", "version": "2.0", "source": "workspace"}.items() <= next(
        c for c in listed if c["name"] == "tap-one"
    ).items()


def test_reinstall_switches_the_venv_and_a_failed_one_changes_nothing(
    ws: Path, env: dict[str, str], tmp_path: Path
) -> None:
    v1 = make_tap(tmp_path / "src", "tap-one", "1.0", version="1.0")
    v2 = make_tap(tmp_path / "src", "tap-one", "2.0", version="2.0")
    broken = make_package(tmp_path / "src", "tap-one", "3.0", deps=("glue-probe-missing==9",))
    venvs = ws / ".glue" / "venvs"

    assert glue(ws, env, "connectors", "install", str(v1)).code == 0
    old = (venvs / "tap-one").resolve()
    (venvs / ".install-killed" / "bin").mkdir(parents=True)  # left by a killed install
    building = venvs / ".tap-one-building"  # another install's, still running
    building.mkdir()
    marker = open(building / ".glue-building", "w")
    fcntl.flock(marker, fcntl.LOCK_EX)
    done = glue(ws, env, "connectors", "install", str(v2))
    assert done.code == 0, done.stderr
    assert dep_seen_by(venvs / "tap-one" / "bin" / "tap-one") == "2"
    assert not old.exists()  # the replaced version is gone
    assert not (venvs / ".install-killed").exists()
    assert building.is_dir()
    text = (ws / "glue.yml").read_text()
    assert yaml.safe_load(text)["connectors"]["tap-one"]["pip_url"] == str(v2)
    before = sorted(p.name for p in venvs.iterdir())

    failed = glue(ws, env, "connectors", "install", str(broken))
    assert failed.code == 2
    assert "pip could not install" in failed.stderr
    assert "glue-probe-missing" in failed.stderr  # pip's own reason, shown
    assert (ws / "glue.yml").read_text() == text
    assert sorted(p.name for p in venvs.iterdir()) == before
    assert dep_seen_by(venvs / "tap-one" / "bin" / "tap-one") == "2"
    marker.close()


def test_bad_specs_are_named_errors_that_change_nothing(
    ws: Path, env: dict[str, str], tmp_path: Path
) -> None:
    lib = make_package(tmp_path / "src", "just-a-lib")  # installs, but has no connector
    cases = [
        (("./nowhere",), "no such folder or wheel"),
        ((str(lib),), "just-a-lib"),
        ((str(lib), "--name", "../x"), "not usable as a folder name"),
        (("git+https://me:hunter2@example.invalid/x.git",), "has a password in its URL"),
    ]
    for args, message in cases:
        result = glue(ws, env, "connectors", "install", *args)
        assert result.code == 2, result.stderr
        assert message in result.stderr, result.stderr
        assert "hunter2" not in result.stderr
    assert "no connector in it" in glue(ws, env, "connectors", "install", str(lib)).stderr
    assert (ws / "glue.yml").read_text() == GLUE_YML
    venvs = ws / ".glue" / "venvs"
    assert not venvs.exists() or [p.name for p in venvs.iterdir()] == [".lock"]


def test_glue_entry_point_without_a_console_script_gets_a_launcher(
    ws: Path, env: dict[str, str], tmp_path: Path
) -> None:
    code = TAP_CODE + "\n\nclass Tap:\n    cli = staticmethod(main)\n"
    pkg = make_package(
        tmp_path / "src",
        "glue-three",
        deps=(f"{PROBE_DEP}==1.0",),
        code=code,
        entry_points={"glue_runtime.taps": {"three": "glue_three:Tap"}},
    )
    done = glue(ws, env, "connectors", "install", str(pkg))
    assert done.code == 0, done.stderr
    recorded = yaml.safe_load((ws / "glue.yml").read_text())["connectors"]["glue-three"]
    assert recorded["executables"] == ["tap-three"]
    assert dep_seen_by(ws / ".glue" / "venvs" / "glue-three" / "bin" / "tap-three") == "1"


def test_a_second_install_waits_for_the_first_to_record_its_entry(
    ws: Path, env: dict[str, str]
) -> None:
    make_tap(ws / "pkgs", "tap-one", "1.0")
    lock = ws / ".glue" / "venvs" / ".lock"
    lock.parent.mkdir(parents=True)
    with open(lock, "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # as an install that is switching its venv holds it
        proc = subprocess.Popen(
            [sys.executable, "-m", "glue_runtime", "connectors", "install", "./pkgs/tap-one-1.0"],
            cwd=ws,
            env={**os.environ, **env},
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
        )
        try:
            watcher = LineWatcher(proc.stderr)
            watcher.wait_for("waiting for another `glue connectors install`", timeout=240)
            # built, but neither switched in nor recorded while the other install holds the lock
            assert not (ws / ".glue" / "venvs" / "tap-one").exists()
            assert (ws / "glue.yml").read_text() == GLUE_YML
        finally:
            fcntl.flock(held, fcntl.LOCK_UN)
        assert proc.wait(timeout=120) == 0, watcher.text()
    assert "tap-one" in yaml.safe_load((ws / "glue.yml").read_text())["connectors"]
    assert dep_seen_by(ws / ".glue" / "venvs" / "tap-one" / "bin" / "tap-one") == "1"


def test_values_filled_from_the_environment_are_masked_in_pip_errors(
    ws: Path, env: dict[str, str]
) -> None:
    # a ${VAR} in the SPEC (a token in a VCS URL, typically) that pip's error quotes back
    secret = "zzsecret4711"
    result = glue(
        ws,
        {**env, "GLUE_PROBE_TOKEN": secret},
        "connectors",
        "install",
        "tap-${GLUE_PROBE_TOKEN}==1",
    )
    assert result.code == 2
    assert "pip could not install 'tap-${GLUE_PROBE_TOKEN}==1'" in result.stderr
    assert "requirement tap-***==1" in result.stderr  # pip's own line, masked
    assert secret not in result.stderr + result.stdout
    assert (ws / "glue.yml").read_text() == GLUE_YML
