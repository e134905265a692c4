#!/usr/bin/env python3
"""glue_runtime's benchmark suite: throughput and peak memory against the Singer peers.

    .venv/bin/python benchmarks/run.py                 # 100k and 1M records, ~10 minutes
    .venv/bin/python benchmarks/run.py --quick         # 2,000 records, no peers, seconds
    .venv/bin/python benchmarks/run.py --with-meltano  # also `meltano run` (case 4)

Cases (each contender on the same input file, in the same run, alternating, median of N):
  1 bound        Python loop: orjson.loads + orjson.dumps per line, stdin -> stdout
  2 glue_stages  replay tap -> glue_runtime (drop 4 fields + 1 computed) -> discarding target
  3 mmt_stages   meltano-map-transform with the equivalent stream map, stdin -> stdout
  4 glue_e2e     replay tap -> glue_runtime (same stages) -> bundled `files` target (JSON lines)
    shell_pipe   cat | meltano-map-transform | target-jsonl
    meltano_run  meltano run tap-replay target-jsonl            (--with-meltano)
  5 glue_target_files   the bundled files target alone (record validation on)
    target_jsonl        target-jsonl alone
  6 import_sdk   python -c "import singer_sdk": one connector's start-up   (first size only)
    glue_tiny    a 2-row job, bundled files tap -> sqlite target, caches warm (jobs/s)

Every run is a fresh process tree; see measure.py for how wall time and memory are taken.
Writes benchmarks/results/latest.json (quick mode: results/quick.json) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import datagen  # noqa: E402
import measure  # noqa: E402
import peers  # noqa: E402
import tiny_jobs  # noqa: E402
from glue_case import executable_copy  # noqa: E402

PY = sys.executable
REPLAY_TAP = REPO / "tests" / "singer" / "replay_tap.py"

GOALS = {
    "case2/case1": 0.7,
    "case2/case3": 8.0,
    "case4/shell_pipe": 5.0,
    "files/target_jsonl": 5.0,
    "tiny/import_sdk": round(1 / tiny_jobs.GOAL, 2),  # a tiny job within 1.5x one start-up
}
PEAK_GROWTH_GOAL = 1.25
PEAK_MB_GOAL = 100.0


class Skip(Exception):
    """A contender that cannot run here; the message says why (printed in the table)."""


class Broken(Exception):
    """A part of glue_runtime the contender needs does not build: the row fails."""


@dataclass
class Command:
    argv: list[str]
    stdin: Path | None = None
    stdout: Path | None = None  # None: captured (glue_case prints its result there)
    env: dict[str, str] | None = None
    cwd: Path | None = None
    check: Callable[[measure.Measurement], str | None] | None = None  # error text or None
    note: str = ""


@dataclass
class Contender:
    case: str  # "1".."5"
    key: str
    label: str
    build: Callable[[Path, int, Path], Command]  # (input, n_records, run_dir) -> Command
    peer: bool = False
    skip: str | None = None
    note: str = ""
    units: int | None = None  # what one run counts when not the data set's records (1 job)
    once: bool = False  # only at the first size (it does not read the data set)


@dataclass
class Row:
    case: str
    key: str
    label: str
    records: int
    runs: list[dict[str, Any]] = field(default_factory=list)
    skipped: str | None = None
    error: str | None = None
    note: str = ""

    def median(self, name: str) -> float | None:
        values = [r[name] for r in self.runs]
        return statistics.median(values) if values else None

    @property
    def records_per_s(self) -> float | None:
        wall = self.median("wall_s")
        return self.records / wall if wall else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "case": self.case,
            "key": self.key,
            "label": self.label,
            "records": self.records,
            "status": "skipped" if self.skipped else ("failed" if self.error else "ok"),
            "skipped": self.skipped,
            "error": self.error,
            "note": self.note,
            "repeats": len(self.runs),
            "median_wall_s": self.median("wall_s"),
            "records_per_s": self.records_per_s,
            "median_tree_peak_mb": self.median("tree_peak_mb"),
            "median_root_peak_mb": self.median("root_peak_mb"),
            "median_max_process_mb": self.median("max_process_mb"),
            "runs": self.runs,
        }


# -- the contenders ---------------------------------------------------------------------------


def _mmt_config(run_dir: Path) -> Path:
    """meltano-map-transform's stream map equivalent to the glue stages."""
    stream_map: dict[str, Any] = {f: None for f in datagen.DROPPED_FIELDS}
    stream_map[datagen.COMPUTED_FIELD] = "float(quantity * unit_price)"
    path = run_dir / "mmt-config.json"
    path.write_text(json.dumps({"stream_maps": {datagen.STREAM: stream_map}}))
    return path


def _jsonl_config(run_dir: Path) -> Path:
    out = run_dir / "target-jsonl-out"
    path = run_dir / "target-jsonl-config.json"
    path.write_text(json.dumps({"destination_path": str(out), "do_timestamp_file": False}))
    return path


def _count_lines(path: Path) -> int:
    with open(path, "rb") as fh:
        return sum(buf.count(b"\n") for buf in iter(lambda: fh.read(1 << 20), b""))


def _expect_jsonl(out_dir: Path, n: int) -> Callable[[measure.Measurement], str | None]:
    """A check that the target wrote n lines for the stream (and so did the whole work)."""

    def check(m: measure.Measurement) -> str | None:
        files = sorted(out_dir.rglob(f"{datagen.STREAM}*"))
        if not files:
            return f"no output file for {datagen.STREAM} under {out_dir}"
        got = sum(_count_lines(f) for f in files if f.is_file())
        # a CSV writer adds a header line
        return None if got in (n, n + 1) else f"target wrote {got} lines, expected {n}"

    return check


def _glue_check(n: int) -> Callable[[measure.Measurement], str | None]:
    def check(m: measure.Measurement) -> str | None:
        try:
            res = json.loads(m.stdout.decode().strip().splitlines()[-1])
        except (ValueError, IndexError):
            return f"glue_case printed no result: {m.stdout[-300:]!r}"
        if res["status"] != "success":
            return f"job {res['status']}: {res['error']}"
        if res["records_out"] != n:
            return f"job sent {res['records_out']} records, expected {n}"
        return None

    return check


class Suite:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.cache = Path(args.cache_dir).resolve()
        self.venvs = self.cache / "venvs"
        self.describe = self._describe_glue()
        # The glue rows measure glue_runtime's own stages and the bundled files target: when
        # one does not build, those rows fail with the reason (a stand-in would measure
        # something else and hide the break).
        self.stage_kinds = {part: "real" for part in ("select_stage", "transform_stage")}
        self.peer: dict[str, peers.Peer | str] = {}
        self.tiny_warm = False
        self.first_size: int | None = None

    def log(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    def _describe_glue(self) -> dict[str, Any]:
        import subprocess

        out = subprocess.run(
            [PY, str(HERE / "glue_case.py"), "--describe"], capture_output=True, check=True
        )
        return json.loads(out.stdout)

    def require(self, *parts: str) -> None:
        """Raise Broken naming each of glue_runtime's ``parts`` that does not build."""
        why = [self.describe[p]["why"] for p in parts if not self.describe[p]["available"]]
        if why:
            raise Broken("; ".join(why))

    def stages_note(self) -> str:
        return "field map: real, ETL: real"

    def get_peer(self, name: str) -> peers.Peer:
        if name not in self.peer:
            if self.args.quick or self.args.no_peers:
                self.peer[name] = "peers are off (--quick / --no-peers)"
            else:
                try:
                    self.peer[name] = peers.ensure(
                        name, self.venvs, install=not self.args.no_install, log=self.log
                    )
                except peers.PeerUnavailable as exc:
                    self.peer[name] = str(exc)
        p = self.peer[name]
        if isinstance(p, str):
            raise Skip(p)
        return p

    # -- builders: (input, n, run_dir) -> Command ----------------------------------------------
    def bound(self, data: Path, n: int, run_dir: Path) -> Command:
        return Command([PY, str(HERE / "bound.py")], stdin=data, stdout=Path(os.devnull))

    def glue(self, target: str) -> Callable[[Path, int, Path], Command]:
        def build(data: Path, n: int, run_dir: Path) -> Command:
            self.require("select_stage", "transform_stage")
            if target == "files":
                self.require("target_files")
            argv = [
                PY,
                str(HERE / "glue_case.py"),
                "--input",
                str(data),
                "--state-dir",
                str(run_dir / "state"),
                "--select",
                self.stage_kinds["select_stage"],
                "--transform",
                self.stage_kinds["transform_stage"],
                "--target",
                target,
                "--bin-dir",
                str(self.cache / "bin"),
            ]
            check = _glue_check(n)
            if target == "files":
                out = run_dir / "files-out"
                argv += ["--target-config", json.dumps(self.files_config(out))]
                inner = _expect_jsonl(out, n)

                def check(m: measure.Measurement, first=check, inner=inner) -> str | None:
                    return first(m) or inner(m)

            return Command(argv, check=check)

        return build

    def mmt(self, data: Path, n: int, run_dir: Path) -> Command:
        exe = self.get_peer("meltano-map-transform").exe
        cfg = _mmt_config(run_dir)
        return Command([str(exe), "--config", str(cfg)], stdin=data, stdout=Path(os.devnull))

    def shell_pipe(self, data: Path, n: int, run_dir: Path) -> Command:
        mmt = self.get_peer("meltano-map-transform").exe
        tj = self.get_peer("target-jsonl").exe
        cfg, tcfg = _mmt_config(run_dir), _jsonl_config(run_dir)
        script = (
            f"set -o pipefail; cat '{data}' | '{mmt}' --config '{cfg}' | '{tj}' --config '{tcfg}'"
        )
        return Command(
            ["bash", "-c", script],
            stdout=run_dir / "state.out",
            check=_expect_jsonl(run_dir / "target-jsonl-out", n),
        )

    def target_jsonl(self, data: Path, n: int, run_dir: Path) -> Command:
        tj = self.get_peer("target-jsonl").exe
        return Command(
            [str(tj), "--config", str(_jsonl_config(run_dir))],
            stdin=data,
            stdout=run_dir / "state.out",
            check=_expect_jsonl(run_dir / "target-jsonl-out", n),
        )

    def files_config(self, out: Path) -> dict[str, Any]:
        """Config for the bundled files target: JSON lines into ``out``, validation on."""
        settings = set(self.describe["target_files"].get("settings") or ())
        cfg: dict[str, Any] = {}
        for key in ("output_dir", "destination_path", "path", "directory", "dir"):
            if key in settings:
                cfg[key] = str(out)
                break
        else:
            cfg["output_dir"] = str(out)
        if "format" in settings:
            cfg["format"] = "jsonl"
        for key in ("validate_records", "validate"):
            if key in settings:
                cfg[key] = True
        return cfg

    def files_target(self, data: Path, n: int, run_dir: Path) -> Command:
        self.require("target_files")
        info = self.describe["target_files"]
        out = run_dir / "files-out"
        cfg = run_dir / "files-config.json"
        cfg.write_text(json.dumps(self.files_config(out)))
        return Command(
            [*info["argv"], "--config", str(cfg)],
            stdin=data,
            stdout=run_dir / "state.out",
            check=_expect_jsonl(out, n),
        )

    def meltano_run(self, data: Path, n: int, run_dir: Path) -> Command:
        if not self.args.with_meltano:
            raise Skip("meltano is off (pass --with-meltano)")
        import meltano_project

        melt = self.get_peer("meltano")
        tj = self.get_peer("target-jsonl")
        tap = executable_copy(REPLAY_TAP, self.cache / "bin")
        project = meltano_project.ensure(self.cache / "meltano-project", melt, tap, tj.exe)
        out = run_dir / "target-jsonl-out"
        env = meltano_project.env_for(data, out)
        return Command(
            [str(melt.exe), "run", "tap-replay", "target-jsonl"],
            stdout=run_dir / "meltano.out",
            env=env,
            cwd=project,
            check=_expect_jsonl(out, n),
        )

    def import_sdk(self, data: Path, n: int, run_dir: Path) -> Command:
        return Command([PY, "-c", "import singer_sdk"], env=tiny_jobs.clean_env())

    def tiny_job(self, data: Path, n: int, run_dir: Path) -> Command:
        """The 2-row job of tiny_jobs.py, with the runtime's caches warm (one run before)."""
        job = tiny_jobs.TinyJob(run_dir)
        job.cache = self.cache / "glue-cache"
        if not self.tiny_warm:
            import subprocess

            subprocess.run(job.argv(), env=job.env(), cwd=run_dir, capture_output=True)
            self.tiny_warm = True
        return Command(job.argv(), env=job.env(), cwd=run_dir, check=lambda m: job.check(), note="")

    # -- the groups ------------------------------------------------------------------------
    def groups(self) -> list[list[Contender]]:
        stages = self.stages_note()
        return [
            [
                Contender("1", "bound", "orjson loop (the bound)", self.bound),
                Contender(
                    "2", "glue_stages", "glue: stages -> discard", self.glue("discard"), note=stages
                ),
                Contender("3", "mmt_stages", "meltano-map-transform", self.mmt, peer=True),
            ],
            [
                Contender(
                    "4",
                    "glue_e2e",
                    "glue: tap -> stages -> files",
                    self.glue("files"),
                    note=stages,
                ),
                Contender(
                    "4",
                    "shell_pipe",
                    "cat | map-transform | target-jsonl",
                    self.shell_pipe,
                    peer=True,
                ),
                Contender(
                    "4",
                    "meltano_run",
                    "meltano run tap -> target-jsonl",
                    self.meltano_run,
                    peer=True,
                ),
            ],
            [
                Contender(
                    "5",
                    "glue_target_files",
                    "files target alone",
                    self.files_target,
                ),
                Contender("5", "target_jsonl", "target-jsonl alone", self.target_jsonl, peer=True),
            ],
            [
                Contender(
                    "6",
                    "import_sdk",
                    "python -c 'import singer_sdk' (starts/s)",
                    self.import_sdk,
                    units=1,
                    once=True,
                ),
                Contender(
                    "6",
                    "glue_tiny",
                    "tiny job: 2 rows files -> sqlite (jobs/s)",
                    self.tiny_job,
                    units=1,
                    once=True,
                    note="caches warm",
                ),
            ],
        ]

    # -- running ---------------------------------------------------------------------------
    def run_size(self, n: int) -> list[Row]:
        data = datagen.dataset(self.cache, n)
        self.log(f"\n== {n:,} records ({data.stat().st_size / 1e6:.0f} MB): {data}")
        rows: list[Row] = []
        large = n >= self.args.large_threshold
        for group in self.groups():
            group = [c for c in group if not c.once or n == self.first_size]
            if not group:
                continue
            group_rows = [Row(c.case, c.key, c.label, c.units or n, note=c.note) for c in group]
            reps = {
                c.key: (self.args.peer_repeats_large if (c.peer and large) else self.args.repeats)
                for c in group
            }
            for c, row in zip(group, group_rows, strict=True):
                if c.skip:
                    row.skipped = c.skip
            for rep in range(max(reps.values())):
                order = group[rep % len(group) :] + group[: rep % len(group)]  # alternate
                for c in order:
                    row = group_rows[group.index(c)]
                    if row.skipped or row.error or rep >= reps[c.key]:
                        continue
                    self._run_one(c, row, data, n, rep)
            rows.extend(group_rows)
        return rows

    def _run_one(self, c: Contender, row: Row, data: Path, n: int, rep: int) -> None:
        run_dir = Path(tempfile.mkdtemp(prefix=f"{c.key}-", dir=self.cache / "runs"))
        try:
            try:
                cmd = c.build(data, n, run_dir)
            except Skip as exc:
                row.skipped = str(exc)
                self.log(f"  {c.key:<18} skipped: {exc}")
                return
            except Broken as exc:
                row.error = str(exc)
                self.log(f"  {c.key:<18} FAILED: {exc}")
                return
            m = measure.run(cmd.argv, stdin=cmd.stdin, stdout=cmd.stdout, env=cmd.env, cwd=cmd.cwd)
            err = None
            if m.returncode != 0:
                err = f"exit code {m.returncode}: {m.stderr_tail.strip()[-600:]}"
            elif cmd.check is not None:
                err = cmd.check(m)
            if err:
                row.error = err
                self.log(f"  {c.key:<18} FAILED: {err}")
                return
            row.runs.append(m.as_dict())
            self.log(
                f"  {c.key:<18} run {rep + 1}: {m.wall_s:7.2f} s  {n / m.wall_s:>11,.0f} rec/s  "
                f"tree {m.tree_peak_mb:6.1f} MB  root {m.root_peak_mb:6.1f} MB"
            )
        finally:
            shutil.rmtree(run_dir, ignore_errors=True)


# -- report ---------------------------------------------------------------------------------


def _rps(rows: list[Row], key: str, n: int) -> float | None:
    for r in rows:
        if r.key == key and r.records == n and r.runs:
            return r.records_per_s
    return None


def _peak(rows: list[Row], key: str, n: int, what: str = "median_root_peak_mb") -> float | None:
    for r in rows:
        if r.key == key and r.records == n and r.runs:
            return r.as_dict()[what]
    return None


def ratios(rows: list[Row], sizes: list[int]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    pairs = {
        "case2/case1": ("glue_stages", "bound"),
        "case2/case3": ("glue_stages", "mmt_stages"),
        "case4/shell_pipe": ("glue_e2e", "shell_pipe"),
        "case4/meltano_run": ("glue_e2e", "meltano_run"),
        "files/target_jsonl": ("glue_target_files", "target_jsonl"),
        "tiny/import_sdk": ("glue_tiny", "import_sdk"),
    }
    for n in sizes:
        for name, (a, b) in pairs.items():
            if name == "tiny/import_sdk":  # one job a run, at the first size only
                if n != sizes[0]:
                    continue
                ra, rb = _rps(rows, a, 1), _rps(rows, b, 1)
                value = round(ra / rb, 2) if ra and rb else None
                out.setdefault(name, {})["1"] = {"value": value, "goal": GOALS.get(name)}
                continue
            ra, rb = _rps(rows, a, n), _rps(rows, b, n)
            value = round(ra / rb, 2) if ra and rb else None
            out.setdefault(name, {})[str(n)] = {"value": value, "goal": GOALS.get(name)}
    if len(sizes) >= 2:
        small, large = min(sizes), max(sizes)
        for key in ("glue_stages", "glue_e2e"):
            ps, pl = _peak(rows, key, small), _peak(rows, key, large)
            out[f"runner_peak_growth[{key}]"] = {
                "value": round(pl / ps, 2) if ps and pl else None,
                "goal": PEAK_GROWTH_GOAL,
                "runner_peak_mb": {str(small): ps, str(large): pl},
                "peak_mb_goal": PEAK_MB_GOAL,
            }
    return out


def _fmt(v: float | None, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def table(rows: list[Row], rat: dict[str, Any]) -> str:
    head = (
        "case",
        "contender",
        "records",
        "runs",
        "records/s",
        "wall s",
        "tree MB",
        "runner MB",
        "note",
    )
    lines = [head]
    for r in rows:
        d = r.as_dict()
        if r.skipped or r.error:
            status = f"skipped: {r.skipped}" if r.skipped else f"FAILED: {r.error}"
            lines.append(
                (
                    r.case,
                    r.label,
                    f"{r.records:,}",
                    "0",
                    "-",
                    "-",
                    "-",
                    "-",
                    status.splitlines()[0][:110],
                )
            )
            continue
        root = d["median_root_peak_mb"] if r.key.startswith("glue_") else None
        lines.append(
            (
                r.case,
                r.label,
                f"{r.records:,}",
                str(len(r.runs)),
                _fmt(r.records_per_s, ",.0f"),
                _fmt(d["median_wall_s"], ".2f"),
                _fmt(d["median_tree_peak_mb"], ".0f"),
                _fmt(root, ".0f"),
                r.note,
            )
        )
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(head))]
    md = [
        "| " + " | ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)) + " |"
        for line in lines
    ]
    md.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    rlines = ["| ratio | records | value | goal |", "|---|---|---|---|"]
    for name, v in rat.items():
        if name.startswith("runner_peak_growth"):
            peaks = ", ".join(f"{k}: {_fmt(p, '.0f')} MB" for k, p in v["runner_peak_mb"].items())
            rlines.append(
                f"| {name} (1M/100k peak) | {peaks} | {_fmt(v['value'], '.2f')} | "
                f"<= {v['goal']} and < {v['peak_mb_goal']:.0f} MB |"
            )
            continue
        for n, cell in v.items():
            goal = f">= {cell['goal']}" if cell["goal"] else ""
            rlines.append(f"| {name} | {int(n):,} | {_fmt(cell['value'], '.2f')} | {goal} |")
    return "\n".join(md) + "\n\n" + "\n".join(rlines)


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg_at_start": os.getloadavg(),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="2,000 records, no peers, one repeat")
    p.add_argument("--sizes", help="comma-separated record counts (default 100000,1000000)")
    p.add_argument("--repeats", type=int, help="runs per contender (default 3; quick: 1)")
    p.add_argument(
        "--peer-repeats-large",
        type=int,
        default=1,
        help="runs per peer at sizes >= --large-threshold (default 1: the peers take "
        "minutes per run at 1M)",
    )
    p.add_argument("--large-threshold", type=int, default=500_000)
    p.add_argument("--with-meltano", action="store_true", help="also time `meltano run`")
    p.add_argument("--no-peers", action="store_true", help="only glue_runtime and the bound")
    p.add_argument("--no-install", action="store_true", help="never pip install a peer")
    p.add_argument("--only", help="comma-separated contender keys to run (e.g. bound,glue_stages)")
    p.add_argument("--cache-dir", default=str(HERE / ".cache"))
    p.add_argument("--out", help="JSON output (default results/latest.json; quick: quick.json)")
    args = p.parse_args(argv)
    if args.quick:
        sizes = [int(s) for s in (args.sizes or "2000").split(",")]
        args.repeats = args.repeats or 1
    else:
        sizes = [int(s) for s in (args.sizes or "100000,1000000").split(",")]
        args.repeats = args.repeats or 3
    out = Path(args.out or HERE / "results" / ("quick.json" if args.quick else "latest.json"))
    (Path(args.cache_dir) / "runs").mkdir(parents=True, exist_ok=True)

    started = time.monotonic()
    suite = Suite(args)
    suite.first_size = sizes[0]
    if args.only:
        keep = set(args.only.split(","))
        orig = suite.groups

        def only_groups() -> list[list[Contender]]:
            return [g for g in ([c for c in grp if c.key in keep] for grp in orig()) if g]

        suite.groups = only_groups  # type: ignore[method-assign]
    suite.log(f"stages: {suite.stages_note()}")
    rows: list[Row] = []
    for n in sizes:
        rows.extend(suite.run_size(n))
    rat = ratios(rows, sizes)
    text = table(rows, rat)
    print(text)
    result = {
        "suite": "glue_runtime benchmarks",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": " ".join([Path(PY).name, "benchmarks/run.py", *(argv or sys.argv[1:])]),
        "machine": machine(),
        "quick": args.quick,
        "sizes": sizes,
        "repeats": args.repeats,
        "peer_repeats_large": args.peer_repeats_large,
        "stages": suite.stage_kinds,
        "peers": {
            k: (v.requirement if isinstance(v, peers.Peer) else f"unavailable: {v}")
            for k, v in suite.peer.items()
        },
        "memory_method": measure.__doc__.strip(),
        "duration_s": round(time.monotonic() - started, 1),
        "cases": [r.as_dict() for r in rows],
        "ratios": rat,
        "table": text,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    suite.log(f"\nwrote {out} in {result['duration_s']:.0f} s")
    failed = [
        r
        for r in rows
        if r.error and not r.key.startswith(("mmt", "shell", "meltano", "target_jsonl"))
    ]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
