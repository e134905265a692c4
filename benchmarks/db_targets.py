#!/usr/bin/env python3
"""The bundled database targets against their floor, measured in the same run.

    .venv/bin/python benchmarks/db_targets.py [--records 200000] [--repeats 3] [--only sqlite]
                                              [--dsn DSN] [--profile] [--json FILE]

Input: the suite's orders stream (benchmarks/datagen.py; one SCHEMA with key ``id``, RECORDs,
a STATE every 10,000). For each database, alternating, each a fresh process tree fed the same
file on stdin, into a fresh database file / PostgreSQL schema:

- floor: ``db_floor.py``: orjson parse of every line and the database's own bulk load of the
  rows (SQLite: one executemany in one transaction; PostgreSQL: one COPY via psycopg);
- the bundled target (``target-sqlite`` / ``target-postgres``, default settings: upsert by key,
  record validation on), as its console script;
- a peer, when installed under benchmarks/.cache/venvs (meltanolabs-target-postgres); this
  script never installs one.

Goal: each bundled target at least 0.5x its floor's records/s. Each run's table is checked to
hold every record. PostgreSQL: ``--dsn``, else GLUE_TEST_PG_DSN, else the server of
scripts/start-postgres.sh (postgresql://glue:glue@127.0.0.1:54329/glue_test); when none answers,
the PostgreSQL part is skipped and says why. ``--profile`` runs each bundled target once more
under cProfile and prints where its time goes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import datagen  # noqa: E402
import measure  # noqa: E402
import peers  # noqa: E402

PY = sys.executable
BIN = Path(PY).parent
GOAL = 0.5  # a bundled target's records/s, at least this fraction of its floor's
DEFAULT_DSN = "postgresql://glue:glue@127.0.0.1:54329/glue_test"
PG_PEER = "meltanolabs-target-postgres"


class Skip(Exception):
    """This database or contender cannot run here; the message says why."""


def pg_dsn(explicit: str | None = None) -> str:
    return explicit or os.environ.get("GLUE_TEST_PG_DSN") or DEFAULT_DSN


def pg_unreachable(dsn: str) -> str | None:
    """None when a PostgreSQL server answers at ``dsn``, else why not (no secrets)."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed"
    try:
        with psycopg.connect(dsn, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        where = dsn.split("@")[-1]
        return (
            f"no PostgreSQL server answers at {where} ({first}); start one with "
            "`bash scripts/start-postgres.sh` or set GLUE_TEST_PG_DSN"
        )
    return None


@dataclass
class Run:
    """One contender's command for one run, and how to check and clean up after it."""

    argv: list[str]
    check: Callable[[], str | None]
    cleanup: Callable[[], None] = lambda: None
    env: dict[str, str] | None = None


# -- SQLite ------------------------------------------------------------------------------------


def _sqlite_count(db: Path) -> int | None:
    import sqlite3

    try:
        with sqlite3.connect(db) as conn:
            return conn.execute(f'SELECT count(*) FROM "{datagen.STREAM}"').fetchone()[0]
    except sqlite3.Error:
        return None


def _expect(n: int, got: int | None, where: str) -> str | None:
    return None if got == n else f"{where} holds {got} rows, expected {n}"


def sqlite_floor(run_dir: Path, n: int) -> Run:
    db = run_dir / "floor.db"
    argv = [PY, str(HERE / "db_floor.py"), "sqlite", "--database", str(db)]
    return Run(argv, lambda: _expect(n, _sqlite_count(db), str(db)))


def sqlite_target(run_dir: Path, n: int) -> Run:
    exe = BIN / "target-sqlite"
    if not exe.exists():
        raise Skip(f"{exe} is not installed (bash scripts/bootstrap)")
    db = run_dir / "target.db"
    cfg = run_dir / "target-sqlite.json"
    cfg.write_text(json.dumps({"database": str(db)}))
    return Run([str(exe), "--config", str(cfg)], lambda: _expect(n, _sqlite_count(db), str(db)))


# -- PostgreSQL --------------------------------------------------------------------------------


class Postgres:
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    def _schema(self) -> str:
        return f"glue_bench_{uuid.uuid4().hex[:10]}"

    def _count(self, schema: str) -> int | None:
        import psycopg

        try:
            with psycopg.connect(self.dsn) as conn:
                row = conn.execute(f'SELECT count(*) FROM "{schema}"."{datagen.STREAM}"')
                return row.fetchone()[0]  # type: ignore[index]
        except psycopg.Error:
            return None

    def _drop(self, schema: str) -> None:
        import psycopg

        try:
            with psycopg.connect(self.dsn, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        except psycopg.Error:
            pass

    def _run(self, argv: list[str], schema: str, n: int) -> Run:
        return Run(
            argv,
            lambda: _expect(n, self._count(schema), f"{schema}.{datagen.STREAM}"),
            lambda: self._drop(schema),
        )

    def floor(self, run_dir: Path, n: int) -> Run:
        schema = self._schema()
        argv = [PY, str(HERE / "db_floor.py"), "postgres", "--dsn", self.dsn]
        return self._run([*argv, "--schema", schema], schema, n)

    def target(self, run_dir: Path, n: int) -> Run:
        exe = BIN / "target-postgres"
        if not exe.exists():
            raise Skip(f"{exe} is not installed (bash scripts/bootstrap)")
        schema = self._schema()
        cfg = run_dir / "target-postgres.json"
        cfg.write_text(json.dumps({"dsn": self.dsn, "schema": schema}))
        return self._run([str(exe), "--config", str(cfg)], schema, n)

    def peer(self, run_dir: Path, n: int, venvs: Path) -> Run:
        try:
            peer = peers.ensure(PG_PEER, venvs, install=False)
        except peers.PeerUnavailable:
            raise Skip(
                f"{PG_PEER} is not installed in {venvs / PG_PEER} (`python benchmarks/peers.py "
                f"{PG_PEER}` installs it; this benchmark never does)"
            ) from None
        from psycopg.conninfo import conninfo_to_dict

        params = conninfo_to_dict(self.dsn)
        schema = self._schema()
        cfg = run_dir / "peer.json"
        cfg.write_text(
            json.dumps(
                {
                    "host": params.get("host", "localhost"),
                    "port": int(params.get("port", 5432)),
                    "user": params.get("user"),
                    "password": params.get("password"),
                    "database": params.get("dbname"),
                    "default_target_schema": schema,
                }
            )
        )
        return self._run([str(peer.exe), "--config", str(cfg)], schema, n)


# -- running ---------------------------------------------------------------------------------


@dataclass
class Result:
    db: str
    key: str
    label: str
    records: int
    runs: list[measure.Measurement] = field(default_factory=list)
    skipped: str | None = None
    error: str | None = None

    def median(self, what: str) -> float | None:
        values = [getattr(m, what) for m in self.runs]
        return statistics.median(values) if values else None

    @property
    def records_per_s(self) -> float | None:
        wall = self.median("wall_s")
        return self.records / wall if wall else None


def contenders(
    only: set[str], dsn: str, venvs: Path
) -> list[tuple[str, list[tuple[str, str, Any]]]]:
    groups: list[tuple[str, list[tuple[str, str, Any]]]] = []
    if "sqlite" in only:
        groups.append(
            (
                "sqlite",
                [
                    ("sqlite_floor", "SQLite floor: orjson + executemany", sqlite_floor),
                    ("sqlite_target", "bundled target-sqlite", sqlite_target),
                ],
            )
        )
    if "postgres" in only:
        pg = Postgres(dsn)
        groups.append(
            (
                "postgres",
                [
                    ("postgres_floor", "PostgreSQL floor: orjson + COPY", pg.floor),
                    ("postgres_target", "bundled target-postgres", pg.target),
                    (
                        "postgres_peer",
                        PG_PEER,
                        lambda run_dir, n: pg.peer(run_dir, n, venvs),
                    ),
                ],
            )
        )
    return groups


def run_all(args: argparse.Namespace, data: Path, n: int, work: Path) -> list[Result]:
    dsn = pg_dsn(args.dsn)
    results: list[Result] = []
    for db, group in contenders(set(args.only.split(",")), dsn, Path(args.cache_dir) / "venvs"):
        rows = [Result(db, key, label, n) for key, label, _ in group]
        if db == "postgres":
            why = pg_unreachable(dsn)
            if why:
                for r in rows:
                    r.skipped = f"PostgreSQL part skipped: {why}"
                print(f"postgres: skipped: {why}", file=sys.stderr)
                results += rows
                continue
        for rep in range(args.repeats):
            order = list(range(len(group)))
            order = order[rep % len(order) :] + order[: rep % len(order)]
            for i in order:
                key, _, build = group[i]
                row = rows[i]
                if row.skipped or row.error:
                    continue
                run_dir = Path(tempfile.mkdtemp(prefix=f"{key}-", dir=work))
                try:
                    try:
                        run = build(run_dir, n)
                    except Skip as exc:
                        row.skipped = str(exc)
                        print(f"  {key:<16} skipped: {exc}", file=sys.stderr)
                        continue
                    try:
                        m = measure.run(run.argv, stdin=data, stdout=run_dir / "out", env=run.env)
                        err = (
                            f"exit code {m.returncode}: {m.stderr_tail.strip()[-600:]}"
                            if m.returncode
                            else run.check()
                        )
                    finally:
                        run.cleanup()
                    if err:
                        row.error = err
                        print(f"  {key:<16} FAILED: {err}", file=sys.stderr)
                        continue
                    row.runs.append(m)
                    print(
                        f"  {key:<16} run {rep + 1}: {m.wall_s:6.2f} s {n / m.wall_s:>9,.0f} "
                        f"rec/s  cpu {m.cpu_s:6.2f} s",
                        file=sys.stderr,
                    )
                finally:
                    shutil.rmtree(run_dir, ignore_errors=True)
        results += rows
    return results


def ratios(results: list[Result]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    by_key = {r.key: r for r in results}
    for db in ("sqlite", "postgres"):
        floor = by_key.get(f"{db}_floor")
        for who in ("target", "peer"):
            r = by_key.get(f"{db}_{who}")
            if floor is None or r is None:
                continue
            a, b = r.records_per_s, floor.records_per_s
            out[f"{db} {who} / floor"] = round(a / b, 2) if a and b else None
    return out


def table(results: list[Result], rat: dict[str, float | None]) -> str:
    lines = [
        "| contender | records | runs | records/s | wall s | CPU s (process tree) | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        if r.skipped or r.error:
            note = f"skipped: {r.skipped}" if r.skipped else f"FAILED: {r.error}"
            lines.append(f"| {r.label} | {r.records:,} | 0 | - | - | - | {note[:160]} |")
            continue
        lines.append(
            f"| {r.label} | {r.records:,} | {len(r.runs)} | {r.records_per_s:,.0f} | "
            f"{r.median('wall_s'):.2f} | {r.median('cpu_s'):.2f} | |"
        )
    lines += ["", "| ratio (records/s) | value | goal |", "|---|---|---|"]
    for name, value in rat.items():
        goal = f">= {GOAL}" if "target" in name else ""
        lines.append(f"| {name} | {'-' if value is None else f'{value:.2f}'} | {goal} |")
    return "\n".join(lines)


def profile(args: argparse.Namespace, data: Path, n: int, work: Path) -> None:
    """Each bundled target once more under cProfile: where its own process spends the time."""
    import pstats

    dsn = pg_dsn(args.dsn)
    builders: list[tuple[str, Any]] = []
    if "sqlite" in args.only:
        builders.append(("target-sqlite", sqlite_target))
    if "postgres" in args.only and not pg_unreachable(dsn):
        builders.append(("target-postgres", Postgres(dsn).target))
    for name, build in builders:
        run_dir = Path(tempfile.mkdtemp(prefix="profile-", dir=work))
        run = build(run_dir, n)
        out = run_dir / "profile.out"
        argv = [PY, "-m", "cProfile", "-o", str(out), *run.argv]
        try:
            m = measure.run(argv, stdin=data, stdout=run_dir / "stdout")
            if m.returncode:
                print(f"{name}: profile run failed: {m.stderr_tail[-600:]}", file=sys.stderr)
                continue
            print(f"\n== {name} under cProfile ({m.wall_s:.2f} s wall), by own time")
            stats = pstats.Stats(str(out))
            stats.sort_stats("tottime").print_stats(25)
        finally:
            run.cleanup()
            shutil.rmtree(run_dir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--records", type=int, default=200_000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--only", default="sqlite,postgres", help="sqlite, postgres or both")
    p.add_argument("--dsn", help="PostgreSQL DSN (default: GLUE_TEST_PG_DSN, else the test one)")
    p.add_argument("--cache-dir", default=str(HERE / ".cache"))
    p.add_argument("--profile", action="store_true", help="also profile each bundled target")
    p.add_argument("--json", help="also write the results here as JSON")
    args = p.parse_args(argv)
    data = datagen.dataset(Path(args.cache_dir), args.records)
    work = Path(tempfile.mkdtemp(prefix="glue-db-bench-"))
    try:
        results = run_all(args, data, args.records, work)
        rat = ratios(results)
        print(table(results, rat))
        print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        if args.profile:
            profile(args, data, args.records, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        doc = {
            "records": args.records,
            "repeats": args.repeats,
            "loadavg": os.getloadavg(),
            "ratios": rat,
            "results": [
                {
                    "key": r.key,
                    "label": r.label,
                    "skipped": r.skipped,
                    "error": r.error,
                    "records_per_s": r.records_per_s,
                    "runs": [m.as_dict() for m in r.runs],
                }
                for r in results
            ],
        }
        Path(args.json).write_text(json.dumps(doc, indent=2) + "\n")
    failed = [r for r in results if r.error]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
