#!/usr/bin/env python3
"""One glue_runtime run for the benchmark, in a fresh process: replay tap -> stages -> target.

Usage: glue_case.py --input FILE --target discard|files [--target-config JSON] --state-dir DIR
                    [--select real|standin] [--transform real|standin]
       glue_case.py --describe    (which parts are available, as JSON)

The tap is tests/singer/replay_tap.py (config {"input": FILE}); the discarding target is
benchmarks/discard_target.py. Prints the job's result as one JSON object on stdout.

Stages: ``real`` builds them from glue_runtime's own modules (the selector from a field map
resolved against the tap's catalog; the transform from a declarative map); ``standin`` uses
benchmarks/standin.py (for profiling only). ``--describe`` says whether each real part builds,
and why not: the suite fails then rather than measure something else.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
REPLAY_TAP = REPO / "tests" / "singer" / "replay_tap.py"
DISCARD_TARGET = HERE / "discard_target.py"
sys.path.insert(0, str(HERE))

import datagen  # noqa: E402
import standin  # noqa: E402

CATALOG: dict[str, Any] = {
    "streams": [
        {
            "tap_stream_id": datagen.STREAM,
            "stream": datagen.STREAM,
            "schema": datagen.SCHEMA,
            "key_properties": ["id"],
            "replication_key": "updated_at",
            "metadata": [
                {
                    "breadcrumb": [],
                    "metadata": {"inclusion": "available", "selected-by-default": True},
                }
            ],
        }
    ]
}
FIELD_MAP = {"streams": {datagen.STREAM: {"exclude": list(datagen.DROPPED_FIELDS)}}}


def real_selector(workdir: Path) -> Any:
    """glue_runtime's selector stage for the benchmark's field map (drop 4 fields)."""
    from glue_runtime.fieldmap import parse_field_map, resolve
    from glue_runtime.stages.select import make_selector

    return make_selector(resolve(parse_field_map(FIELD_MAP), CATALOG))


def real_transform(workdir: Path) -> Any:
    """glue_runtime's transform stage: a declarative map adding line_total (a number)."""
    from glue_runtime.stages.transform import make_transform

    computed = {"expr": "quantity * unit_price", "type": "number"}
    return make_transform({"stream_maps": {datagen.STREAM: {datagen.COMPUTED_FIELD: computed}}})


REAL = {"select_stage": real_selector, "transform_stage": real_transform}


def _real(part: str) -> tuple[Any, str]:
    """(builder, '') when glue_runtime's real stage builds, else (None, why not).

    Any exception is reported, not raised, so ``--describe`` can name every broken part;
    the suite treats a part that does not build as a failure (see run.py).
    """
    builder = REAL[part]
    try:
        builder(Path(tempfile.gettempdir()))
    except Exception as exc:
        return None, f"{part.replace('_', ' ')} does not build: {type(exc).__name__}: {exc}"
    return builder, ""


def describe() -> dict[str, Any]:
    """Which real parts are available (the harness skips or substitutes the rest)."""
    out: dict[str, Any] = {}
    for part in ("select_stage", "transform_stage"):
        builder, why = _real(part)
        out[part] = {"available": builder is not None, "why": why}
    try:
        from glue_runtime import connectors

        c = connectors.resolve("files", "target")
        about = c.about() or {}
        out["target_files"] = {
            "available": True,
            "argv": c.argv,
            "settings": sorted(((about.get("settings") or {}).get("properties") or {}).keys()),
        }
    except Exception as exc:
        why = f"target 'files' is not available: {type(exc).__name__}: {exc}"
        out["target_files"] = {"available": False, "why": why}
    return out


def executable_copy(src: Path, bin_dir: Path) -> Path:
    """``src`` with its shebang pointing at this interpreter, as an executable in ``bin_dir``.

    ``#!/usr/bin/env python3`` may resolve to a shell shim (pyenv's adds ~50 ms a start, and
    the runner starts the tap and the target twice: --about, then the run). Installed
    connectors have an absolute shebang, so the benchmark gives its helpers one too.
    """
    lines = src.read_text().splitlines(keepends=True)
    if lines and lines[0].startswith("#!"):
        lines = lines[1:]
    text = f"#!{sys.executable}\n" + "".join(lines)
    dst = bin_dir / src.name
    if not dst.exists() or dst.read_text() != text:
        bin_dir.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(text)
        tmp.chmod(0o755)
        os.replace(tmp, dst)
    return dst


def build_stages(select: str, transform: str, workdir: Path) -> tuple[list[Any], dict[str, str]]:
    stages: list[Any] = []
    used: dict[str, str] = {}
    stream = datagen.STREAM
    for part, kind, fallback in (
        ("select_stage", select, lambda: standin.drop_fields(stream, datagen.DROPPED_FIELDS)),
        ("transform_stage", transform, lambda: standin.add_line_total(stream)),
    ):
        if kind == "real":
            builder, why = _real(part)
            if builder is None:
                raise SystemExit(why)
            stages.append(builder(workdir))
        elif kind == "standin":
            stages.append(fallback())
        elif kind != "none":
            raise SystemExit(f"unknown stage kind {kind!r}")
        used[part] = kind
    return stages, used


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--describe", action="store_true")
    p.add_argument("--input")
    p.add_argument("--target", choices=["discard", "files"], default="discard")
    p.add_argument("--target-config", default="{}")
    p.add_argument("--state-dir")
    p.add_argument("--select", choices=["real", "standin", "none"], default="standin")
    p.add_argument("--transform", choices=["real", "standin", "none"], default="standin")
    p.add_argument("--bin-dir", default=str(HERE / ".cache" / "bin"))
    args = p.parse_args(argv)
    if args.describe:
        print(json.dumps(describe()))
        return 0
    import glue_runtime

    state_dir = args.state_dir or tempfile.mkdtemp(prefix="glue-bench-state-")
    stages, used = build_stages(args.select, args.transform, Path(state_dir))
    bin_dir = Path(args.bin_dir)
    tap = executable_copy(REPLAY_TAP, bin_dir)
    target = str(executable_copy(DISCARD_TARGET, bin_dir)) if args.target == "discard" else "files"
    try:
        result = glue_runtime.run(
            str(tap),
            target,
            tap_config={"input": str(Path(args.input).resolve())},
            target_config=json.loads(args.target_config),
            state_dir=state_dir,
            state_key="bench",
            stages=stages,
        )
    except Exception:
        traceback.print_exc()
        return 3
    print(
        json.dumps(
            {
                "status": result.status,
                "error": str(result.error) if result.error else None,
                "records_in": result.records_in,
                "records_out": result.records_out,
                "state_commits": result.state_commits,
                "duration_s": result.duration_s,
                "stages": used,
            }
        )
    )
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
