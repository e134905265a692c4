#!/usr/bin/env python3
"""What a tap that sends a STATE after every record costs the runner.

Old singer-python taps checkpoint per record. Three runs of `python -m glue_runtime run`, fed
by the replay tap, alternating, medians printed:

- baseline: 2N RECORDs (as many lines as the STATE-heavy input), discarding target;
- state-heavy: N RECORDs each followed by a STATE, discarding target (confirms at the end);
- state-heavy, confirming: the same into a target that confirms every STATE at once.

Ratios are against the baseline of the same run. Usage:
    .venv/bin/python benchmarks/state_heavy.py [--records N] [--repeats R]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import measure  # noqa: E402
from glue_case import executable_copy  # noqa: E402

REPLAY_TAP = HERE.parent / "tests" / "singer" / "replay_tap.py"
SCHEMA = {
    "type": "SCHEMA",
    "stream": "orders",
    "schema": {
        "type": "object",
        "properties": {"id": {"type": "integer"}, "updated_at": {"type": "string"}},
    },
    "key_properties": ["id"],
}


def write_inputs(folder: Path, n: int) -> tuple[Path, Path]:
    def record(i: int) -> str:
        rec = {"id": i, "updated_at": f"2026-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}"}
        return json.dumps({"type": "RECORD", "stream": "orders", "record": rec}) + "\n"

    def state(i: int) -> str:
        return json.dumps({"type": "STATE", "value": {"bookmarks": {"orders": {"id": i}}}}) + "\n"

    heavy, plain = folder / "state_heavy.singer", folder / "records.singer"
    with heavy.open("w") as fh:
        fh.write(json.dumps(SCHEMA) + "\n")
        for i in range(n):
            fh.write(record(i) + state(i))
    with plain.open("w") as fh:
        fh.write(json.dumps(SCHEMA) + "\n")
        fh.writelines(record(i) for i in range(2 * n))
        fh.write(state(2 * n - 1))
    return heavy, plain


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="glue-state-heavy-"))
    heavy, plain = write_inputs(work, args.records)
    bin_dir = work / "bin"
    tap = executable_copy(REPLAY_TAP, bin_dir)
    discard = executable_copy(HERE / "discard_target.py", bin_dir)
    confirm = executable_copy(HERE / "confirm_target.py", bin_dir)
    cases = {
        "baseline: 2N records, discard": (plain, discard),
        "STATE per record, discard": (heavy, discard),
        "STATE per record, confirm each": (heavy, confirm),
    }
    times: dict[str, list[float]] = {name: [] for name in cases}
    for rep in range(args.repeats):
        names = list(cases)
        names = names[rep % len(names) :] + names[: rep % len(names)]  # rotate the order
        for name in names:
            source, target = cases[name]
            config = work / "tap.json"
            config.write_text(json.dumps({"input": str(source)}))
            state = work / f"state-{rep}-{names.index(name)}.json"
            argv_ = [sys.executable, "-m", "glue_runtime", "--log-level", "WARNING", "run"]
            argv_ += ["--tap", str(tap), "--target", str(target), "--tap-config", str(config)]
            argv_ += ["--target-config", str(config), "--state-file", str(state)]
            m = measure.run(argv_)
            if m.returncode != 0:
                print(f"{name}: failed ({m.returncode}): {m.stderr_tail}", file=sys.stderr)
                return 1
            times[name].append(m.wall_s)
    base = statistics.median(times["baseline: 2N records, discard"])
    print(f"{args.records:,} records (STATE-heavy inputs add {args.records:,} STATEs)")
    print("| case | median s | lines/s | time vs baseline |")
    print("|---|---|---|---|")
    for name, runs in times.items():
        med = statistics.median(runs)
        print(f"| {name} | {med:.2f} | {2 * args.records / med:,.0f} | {med / base:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
