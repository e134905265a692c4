#!/usr/bin/env python3
"""One glue_runtime run for the benchmark, in a fresh process: replay tap -> stages -> target.

Usage: glue_case.py --input FILE --target discard|files [--target-config JSON] --state-dir DIR
                    [--select real|standin] [--transform real|standin]
       glue_case.py --describe    (which parts are available, as JSON)

The tap is tests/singer/replay_tap.py (config {"input": FILE}); the discarding target is
benchmarks/discard_target.py. Prints the job's result as one JSON object on stdout. The stages
come from benchmarks/select_stage.py and benchmarks/transform_stage.py when those exist (each
exposes ``make_stage(spec) -> Stage``; spec is :func:`stage_spec`), else from benchmarks/standin.py.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
REPLAY_TAP = REPO / "tests" / "singer" / "replay_tap.py"
DISCARD_TARGET = HERE / "discard_target.py"
sys.path.insert(0, str(HERE))

import datagen  # noqa: E402
import standin  # noqa: E402


def stage_spec(workdir: Path) -> dict[str, Any]:
    """What the benchmark's field map + ETL do, for ``make_stage(spec)`` of the real stages."""
    return {
        "stream": datagen.STREAM,
        "schema": datagen.SCHEMA,
        "key_properties": ["id"],
        "drop": list(datagen.DROPPED_FIELDS),
        "computed": {
            "name": datagen.COMPUTED_FIELD,
            "expression": "quantity * unit_price",
            "type": "number",
        },
        "workdir": str(workdir),
    }


def _load(name: str) -> tuple[ModuleType | None, str]:
    """Load benchmarks/NAME.py; (module, '') or (None, why it is not available)."""
    path = HERE / f"{name}.py"
    if not path.exists():
        return None, f"benchmarks/{name}.py not available yet"
    try:
        spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
    except Exception as exc:  # a half-landed module must not stop the suite
        return None, f"benchmarks/{name}.py does not import: {type(exc).__name__}: {exc}"
    if not callable(getattr(mod, "make_stage", None)):
        return None, f"benchmarks/{name}.py has no make_stage(spec)"
    return mod, ""


def describe() -> dict[str, Any]:
    """Which real parts are available (the harness skips or substitutes the rest)."""
    out: dict[str, Any] = {}
    for part in ("select_stage", "transform_stage"):
        mod, why = _load(part)
        out[part] = {"available": mod is not None, "why": why}
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
        why = f"target 'files' not available yet: {exc}"
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
    spec = stage_spec(workdir)
    stages: list[Any] = []
    used: dict[str, str] = {}
    for part, kind, fallback in (
        ("select_stage", select, lambda: standin.drop_fields(spec["stream"], spec["drop"])),
        ("transform_stage", transform, lambda: standin.add_line_total(spec["stream"])),
    ):
        if kind == "real":
            mod, why = _load(part)
            if mod is None:
                raise SystemExit(why)
            stages.append(mod.make_stage(spec))
            used[part] = "real"
        elif kind == "standin":
            stages.append(fallback())
            used[part] = "standin"
        elif kind != "none":
            raise SystemExit(f"unknown stage kind {kind!r}")
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
