"""Saving a flow's tap output to a file: ``glue tap FLOW -o saved.singer``.

``glue etl test SCRIPT --input saved.singer`` needs the Singer stream an ETL script would see:
the tap's output with the flow's field map applied. This runs the flow's tap through the
selector (not the ETL) into a small built-in target that writes every line to a file, as a
normal job, so config checks, secret masking, tap failures and Ctrl-C work as in ``glue run``.

No bookmark is read or committed: the tap reads from the start, and the STATE the save target
confirms goes to a throwaway store in a temporary folder.

Run as ``python -m glue_runtime.tapsave --config CONFIG`` it is that target: it copies stdin
to ``config["output"]`` and, after each STATE line is written out, echoes its value on stdout
(its confirmation, as Singer targets do).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import orjson

from glue_runtime.connectors import Connector
from glue_runtime.protocol import dumps_exact, loads_exact
from glue_runtime.result import JobResult
from glue_runtime.state import SingleFileStateStore


class _ThrowawayStore(SingleFileStateStore):
    """The state store of a save: a temporary file, reported as not kept."""

    def location(self, key: str) -> str:
        return "not kept (glue tap reads and commits no bookmarks)"


def _save_target() -> Connector:
    # No --about: this target has one setting, given by us, so there is nothing to check.
    return Connector(
        name="save",
        kind="target",
        argv=[sys.executable, "-m", "glue_runtime.tapsave"],
        source="built-in",
        location="glue_runtime.tapsave",
        _about={},
        _about_loaded=True,
    )


def save_tap_output(flow: Any, output: Path, *, max_line_bytes: int | None = None) -> JobResult:
    """Run ``flow``'s tap with its field map into ``output``; return the job's result.

    Built with the run builder's steps for the tap, its catalog and field map (plan.py); the
    flow's targets, mappers and ETL are left out, and so is its state.
    """
    from dataclasses import replace

    from glue_runtime.flow import Flow, load_flow
    from glue_runtime.plan import RunBuilder, flow_request, make_stages
    from glue_runtime.runner import run_job
    from glue_runtime.spec import Endpoint, JobSpec

    if not isinstance(flow, Flow):
        flow = load_flow(flow)
    # Only the tap's config is checked: the flow's targets and mappers do not run.
    req = replace(flow_request(flow, max_line_bytes=max_line_bytes), validate=flow.source.validate)
    builder = RunBuilder(req, job_id="tap-save")
    tap = builder.tap()
    choice = builder.catalog(tap)
    selection = builder.field_map(choice.catalog)
    stages = make_stages(selection, None, job_context=builder.job_context)
    scratch = Path(tempfile.mkdtemp(prefix="glue-tap-save-"))
    try:
        spec = JobSpec(
            tap=tap,
            targets=[Endpoint(_save_target(), {"output": str(Path(output).resolve())})],
            store=_ThrowawayStore(scratch / "state.json"),
            state_key=req.state_key,
            catalog=selection.tap_catalog if selection is not None else choice.catalog,
            stages=stages.before_mappers,
            max_line_bytes=req.max_line_bytes,
            env=req.env,
            secrets=req.secrets,
            timeouts=req.timeouts,
            cwd=str(req.cwd),
            validate_configs=req.validate,
            select_stats=stages.select_stats,
            tap_config_source=req.tap_config_source,
        )
        return run_job(spec)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "--config":
        print("usage: python -m glue_runtime.tapsave --config CONFIG", file=sys.stderr)
        return 2
    config = orjson.loads(Path(argv[1]).read_bytes())
    confirm = sys.stdout.buffer
    with open(config["output"], "wb") as out:
        for line in sys.stdin.buffer:
            out.write(line)
            if b'"STATE"' in line:
                msg = loads_exact(line)  # a bookmark's long numbers must echo unchanged
                if isinstance(msg, dict) and msg.get("type") == "STATE":
                    out.flush()
                    confirm.write(dumps_exact(msg.get("value")) + b"\n")
                    confirm.flush()
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
