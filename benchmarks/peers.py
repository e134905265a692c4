"""The peers the suite compares against, each in a cached virtual environment of its own.

target-jsonl pins old singer-python/jsonschema, and meltano is heavy, so none of them goes into
the project's .venv. A venv is reused when its marker file names the same pinned requirement.
"""

from __future__ import annotations

import subprocess
import sys
import venv
from dataclasses import dataclass
from pathlib import Path

PEERS: dict[str, tuple[str, str]] = {
    # name: (pinned requirement, executable in the venv's bin/)
    "meltano-map-transform": ("meltano-map-transform==0.12.3", "meltano-map-transform"),
    "target-jsonl": ("target-jsonl==0.1.4", "target-jsonl"),
    "meltano": ("meltano==4.4.1", "meltano"),
    # Only measured when already installed (benchmarks/db_targets.py never installs it):
    # `python benchmarks/peers.py meltanolabs-target-postgres` does.
    "meltanolabs-target-postgres": ("meltanolabs-target-postgres==0.8.1", "target-postgres"),
}


class PeerUnavailable(Exception):
    """The peer could not be installed (offline, registry down, build failure)."""


@dataclass
class Peer:
    name: str
    requirement: str
    venv: Path
    exe: Path

    @property
    def version(self) -> str:
        return self.requirement.split("==", 1)[-1]


def ensure(name: str, venvs_dir: Path, *, install: bool = True, log=print) -> Peer:
    """The peer's venv, installed on first use; raises PeerUnavailable with the reason."""
    requirement, exe_name = PEERS[name]
    root = venvs_dir / name
    exe = root / "bin" / exe_name
    marker = root / ".bench-installed"
    if exe.exists() and marker.exists() and marker.read_text().strip() == requirement:
        return Peer(name, requirement, root, exe)
    if not install:
        raise PeerUnavailable(f"{name} is not installed in {root} (run without --no-install)")
    log(f"installing {requirement} into {root} (once; cached afterwards)")
    venvs_dir.mkdir(parents=True, exist_ok=True)
    try:
        if not (root / "bin" / "python").exists():
            venv.EnvBuilder(with_pip=True, clear=True).create(root)
        subprocess.run(
            [str(root / "bin" / "python"), "-m", "pip", "install", "-q", requirement],
            check=True,
            capture_output=True,
            timeout=900,
        )
    except subprocess.CalledProcessError as exc:
        tail = exc.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
        raise PeerUnavailable(f"pip install {requirement} failed: {' | '.join(tail)}") from None
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PeerUnavailable(f"could not install {requirement}: {exc}") from None
    if not exe.exists():
        raise PeerUnavailable(f"{requirement} installed but {exe} is missing")
    marker.write_text(requirement + "\n")
    return Peer(name, requirement, root, exe)


if __name__ == "__main__":
    for n in sys.argv[1:] or [p for p in PEERS if p != "meltanolabs-target-postgres"]:
        print(ensure(n, Path(__file__).parent / ".cache" / "venvs"))
