#!/usr/bin/env python3
"""Tiny jobs: what a run costs when it has almost nothing to move.

A job of 2 CSV rows, the bundled files tap into the bundled sqlite target, through
``python -m glue_runtime run``: nearly all of its time is starting processes and importing.
Measured against a baseline taken in the same run, alternating: one interpreter start that
imports singer_sdk (``python -c "import singer_sdk"``), which is what each connector process
pays at least.

Cases (each a fresh process tree, wall time and CPU time, median of ``--repeats``):

- baseline: ``python -c "import singer_sdk"``;
- tiny job: the caches already hold both connectors (every run after the first);
- tiny job, first run: the runtime's caches (``GLUE_CACHE_DIR``: --about answers, the
  entry-point index) emptied before each run, which is what a first run pays.

Prints tiny jobs per second and each case's time as a ratio of the baseline (goal: the tiny
job at most 1.5x). Usage:
    .venv/bin/python benchmarks/tiny_jobs.py [--repeats N] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import measure  # noqa: E402

GOAL = 1.5  # the tiny job's wall time, at most this many times the baseline's
BASELINE = "baseline: python -c 'import singer_sdk'"
WARM = "tiny job (caches warm)"
COLD = "tiny job, first run (caches empty)"


def clean_env() -> dict[str, str]:
    """The environment without PYTHONDONTWRITEBYTECODE: an installed package has its .pyc files,
    so an editable checkout must be allowed to write them (in the first, uncounted run) or
    every run would compile glue_runtime and the bundled connectors from source."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


class TinyJob:
    """The files and commands of the 2-row job, in a folder of its own."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.cache = work / "cache"
        (work / "in.csv").write_text("id,name\n1,alpha\n2,beta\n")
        tap = {"streams": [{"name": "people", "path": str(work / "in.csv")}]}
        (work / "tap.json").write_text(json.dumps(tap))
        self.runs = 0

    def argv(self) -> list[str]:
        """A fresh database and state file for each run, so every run loads both rows."""
        self.runs += 1
        db, state = self.work / f"out-{self.runs}.db", self.work / f"state-{self.runs}.json"
        (self.work / f"target-{self.runs}.json").write_text(json.dumps({"database": str(db)}))
        return [
            sys.executable, "-m", "glue_runtime", "--log-level", "WARNING", "run",
            "--tap", "files", "--target", "sqlite",
            "--tap-config", str(self.work / "tap.json"),
            "--target-config", str(self.work / f"target-{self.runs}.json"),
            "--state-file", str(state),
        ]  # fmt: skip

    def env(self) -> dict[str, str]:
        return {**clean_env(), "GLUE_CACHE_DIR": str(self.cache)}

    def check(self) -> str | None:
        """None when the last run stored both rows."""
        import sqlite3

        db = self.work / f"out-{self.runs}.db"
        try:
            with sqlite3.connect(db) as conn:
                (n,) = conn.execute("SELECT count(*) FROM people").fetchone()
        except sqlite3.Error as exc:
            return f"no table people in {db}: {exc}"
        return None if n == 2 else f"{n} rows in {db}, expected 2"


def measure_all(
    repeats: int, work: Path, compare: Path | None = None
) -> dict[str, list[measure.Measurement]]:
    job = TinyJob(work)
    cases: dict[str, Any] = {
        BASELINE: lambda: ([sys.executable, "-c", "import singer_sdk"], clean_env()),
        WARM: lambda: (job.argv(), job.env()),
        COLD: lambda: (shutil.rmtree(job.cache, ignore_errors=True), job.argv(), job.env())[1:],
    }
    if compare is not None:  # another checkout's glue_runtime, first on the path
        other = {**job.env(), "PYTHONPATH": str(compare)}
        cases[f"tiny job, glue_runtime of {compare}"] = lambda: (job.argv(), other)
    # One run of each first, not counted: .pyc files, the page cache, the warm --about cache.
    for build in cases.values():
        argv, env = build()
        measure.run(argv, env=env, cwd=work)
    out: dict[str, list[measure.Measurement]] = {name: [] for name in cases}
    names = list(cases)
    for rep in range(repeats):
        for name in names[rep % len(names) :] + names[: rep % len(names)]:  # rotate the order
            argv, env = cases[name]()
            m = measure.run(argv, env=env, cwd=work)  # not a checkout: `-m` must not find one
            if m.returncode != 0:
                raise SystemExit(f"{name}: exit code {m.returncode}\n{m.stderr_tail}")
            if name != BASELINE:
                problem = job.check()
                if problem:
                    raise SystemExit(f"{name}: {problem}")
            out[name].append(m)
    return out


def report(runs: dict[str, list[measure.Measurement]]) -> dict[str, Any]:
    base = statistics.median(m.wall_s for m in runs[BASELINE])
    base_cpu = statistics.median(m.cpu_s for m in runs[BASELINE])
    rows = []
    for name, ms in runs.items():
        wall = statistics.median(m.wall_s for m in ms)
        cpu = statistics.median(m.cpu_s for m in ms)
        rows.append(
            {
                "case": name,
                "runs": len(ms),
                "median_wall_s": round(wall, 3),
                "per_s": round(1 / wall, 2),
                "wall_vs_baseline": round(wall / base, 2),
                "median_cpu_s": round(cpu, 3),
                "cpu_vs_baseline": round(cpu / base_cpu, 2),
                "tree_peak_mb": round(statistics.median(m.tree_peak_mb for m in ms), 1),
            }
        )
    return {"rows": rows, "goal": f"{WARM}: wall <= {GOAL}x the baseline"}


def table(result: dict[str, Any]) -> str:
    lines = [
        "| case | runs | median wall s | per second | wall / baseline | CPU s | CPU / baseline |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['case']} | {r['runs']} | {r['median_wall_s']:.3f} | {r['per_s']:.2f} | "
            f"{r['wall_vs_baseline']:.2f} | {r['median_cpu_s']:.3f} | {r['cpu_vs_baseline']:.2f} |"
        )
    warm = next(r for r in result["rows"] if r["case"] == WARM)
    met = "met" if warm["wall_vs_baseline"] <= GOAL else "NOT met"
    lines.append("")
    lines.append(f"goal: tiny job <= {GOAL}x the baseline's wall time: {met}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", help="also write the results here as JSON")
    parser.add_argument(
        "--compare",
        type=Path,
        help="also time the tiny job with the glue_runtime package of this folder (e.g. an "
        "older checkout's `git archive REV glue_runtime`), first on PYTHONPATH",
    )
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="glue-tiny-jobs-"))
    try:
        result = report(measure_all(args.repeats, work, args.compare))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result["loadavg"] = os.getloadavg()
    print(table(result))
    print(f"load average: {' '.join(f'{x:.2f}' for x in result['loadavg'])}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
