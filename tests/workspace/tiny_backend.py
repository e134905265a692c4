"""A PEP 517 build backend small enough to copy into a test's package: builds a wheel from
pyproject.toml's [project] (name, version, dependencies, scripts, entry points) and the one
package folder named like the distribution, with nothing to fetch, so pip installs the test's
tiny connectors offline and fast (its isolated build environment needs no setuptools)."""

from __future__ import annotations

import base64
import hashlib
import tomllib
import zipfile
from pathlib import Path


def _project() -> dict:
    return tomllib.loads(Path("pyproject.toml").read_text())["project"]


def _metadata(project: dict) -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {project['name']}", f"Version: {project['version']}"]
    lines += [f"Requires-Dist: {dep}" for dep in project.get("dependencies", [])]
    return "\n".join(lines) + "\n"


def _entry_points(project: dict) -> str:
    groups = {"console_scripts": project.get("scripts", {}), **project.get("entry-points", {})}
    out = []
    for group, entries in groups.items():
        out.append(f"[{group}]")
        out += [f"{name} = {value}" for name, value in entries.items()]
    return "\n".join(out) + "\n"


def _record_line(arcname: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{arcname},sha256={digest},{len(data)}"


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    project = _project()
    dist = project["name"].replace("-", "_")
    info = f"{dist}-{project['version']}.dist-info"
    files: dict[str, bytes] = {}
    for path in sorted(Path(dist).rglob("*.py")):
        files[path.as_posix()] = path.read_bytes()
    files[f"{info}/METADATA"] = _metadata(project).encode()
    files[f"{info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: tiny\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    files[f"{info}/entry_points.txt"] = _entry_points(project).encode()
    record = [_record_line(name, data) for name, data in files.items()] + [f"{info}/RECORD,,"]
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    name = f"{dist}-{project['version']}-py3-none-any.whl"
    with zipfile.ZipFile(Path(wheel_directory) / name, "w") as zf:
        for arcname, data in files.items():
            zf.writestr(arcname, data)
    return name


def build_sdist(sdist_directory, config_settings=None):
    raise NotImplementedError("tiny_backend builds wheels only")
