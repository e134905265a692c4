"""examples/serve/run.sh (the README's serve + webhook tour) runs offline as written."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_the_serve_example_starts_a_job_over_the_api_and_one_by_a_signed_webhook(tmp_path: Path):
    env = {
        **os.environ,
        "GLUE_REPO": str(REPO),
        "GLUE_EXAMPLE_DIR": str(tmp_path),
        "GLUE_EXAMPLE_PORT": str(_free_port()),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    env.pop("GLUE_WORKSPACE", None)
    env.pop("GLUE_STORE_URL", None)
    done = subprocess.run(
        ["bash", str(REPO / "examples" / "serve" / "run.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    ended = [line for line in done.stdout.splitlines() if line.startswith("job ")]
    assert len(ended) == 2 and all(line.endswith(": succeeded") for line in ended)
    listed = done.stdout.split("ID ", 1)[1]
    assert " api " in listed and " trigger " in listed
    assert (tmp_path / "output" / "acme.db").exists()
