"""A minimal Meltano project for the `meltano run` contender (case 4, --with-meltano).

The replay tap and the cached target-jsonl are declared as custom plugins with absolute
executables (no pip_url), so `meltano run` starts them as they are and installs nothing.
Per-run settings (input file, output folder) come in through environment variables.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import peers

MELTANO_YML = """\
version: 1
project_id: glue-runtime-benchmark
send_anonymous_usage_stats: false
default_environment: bench
environments:
- name: bench
plugins:
  extractors:
  - name: tap-replay
    namespace: tap_replay
    executable: {tap}
    settings:
    - name: input
  loaders:
  - name: target-jsonl
    namespace: target_jsonl
    executable: {target}
    settings:
    - name: destination_path
    - name: do_timestamp_file
      kind: boolean
"""


def ensure(root: Path, meltano: peers.Peer, tap: Path, target: Path) -> Path:
    """The project folder, created on first use."""
    text = MELTANO_YML.format(tap=tap, target=target)
    yml = root / "meltano.yml"
    if yml.exists() and yml.read_text() == text:
        return root
    root.mkdir(parents=True, exist_ok=True)
    yml.write_text(text)
    # Let meltano create its system database now, outside the timed runs.
    subprocess.run(
        [str(meltano.exe), "config", "tap-replay", "list"],
        cwd=root,
        env=env_for(Path("/dev/null"), root / "out"),
        capture_output=True,
        check=False,
        timeout=300,
    )
    return root


def env_for(data: Path, out: Path) -> dict[str, Any]:
    env = dict(os.environ)
    env.update(
        {
            "TAP_REPLAY_INPUT": str(data),
            "TARGET_JSONL_DESTINATION_PATH": str(out),
            "TARGET_JSONL_DO_TIMESTAMP_FILE": "false",
            "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
            "MELTANO_DISABLE_TRACKING": "true",
            "MELTANO_CLI_LOG_LEVEL": "warning",
        }
    )
    return env
