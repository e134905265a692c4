#!/usr/bin/env python3
"""Profile the runner's hot path with py-spy (sampling, in its own cached venv).

    .venv/bin/python benchmarks/profile_runner.py                 # case 2 (stages -> discard), 1M
    .venv/bin/python benchmarks/profile_runner.py --target files  # case 4 (stages -> files target)

Samples only while a thread holds the GIL (``--gil``): the pump is GIL-bound, and threads that
sit in a blocking read (stderr relay, target stdout reader) would otherwise show as busy.
Prints the runner process's self time by source line and by function, and each process's share.
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import datagen  # noqa: E402
import peers  # noqa: E402

peers.PEERS.setdefault("py-spy", ("py-spy==0.4.3", "py-spy"))


def summarize(raw: Path, top: int) -> str:
    by_line: collections.Counter[str] = collections.Counter()
    by_func: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    procs: collections.Counter[str] = collections.Counter()
    total = 0
    for text in raw.read_text().splitlines():
        stack, _, count = text.rpartition(" ")
        n = int(count)
        frames = stack.split(";")
        chain = [f for f in frames if f.startswith("process ")]
        frames = [f for f in frames if not f.startswith("process ")]
        procs[chain[-1][:100] if chain else "?"] += n
        if len(chain) > 1 or not frames:
            continue  # a child process (tap, target) or an empty stack
        total += n
        by_line[frames[-1]] += n
        name, _, where = frames[-1].partition(" (")
        by_func[f"{name} ({where.split(':')[0]})"] += n
        for f in {fr.split(" (")[0] for fr in frames}:
            inclusive[f] += n
    out = [f"runner process: {total} samples"]
    out.append("self time by line:")
    out += [f"  {v / total:6.1%}  {k}" for k, v in by_line.most_common(top)]
    out.append("self time by function:")
    out += [f"  {v / total:6.1%}  {k}" for k, v in by_func.most_common(top)]
    out.append("inclusive time by function:")
    out += [f"  {v / total:6.1%}  {k}" for k, v in inclusive.most_common(top)]
    out.append("samples by process (GIL-holding samples, all processes):")
    out += [f"  {v:7d}  {k}" for k, v in procs.most_common(8)]
    return "\n".join(out)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--records", type=int, default=1_000_000)
    p.add_argument("--target", choices=["discard", "files"], default="discard")
    p.add_argument("--target-config", default=None, help="JSON (files target)")
    p.add_argument("--select", default="standin")
    p.add_argument("--transform", default="standin")
    p.add_argument("--rate", type=int, default=250)
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--cache-dir", default=str(HERE / ".cache"))
    args = p.parse_args()
    cache = Path(args.cache_dir)
    spy = peers.ensure("py-spy", cache / "venvs")
    data = datagen.dataset(cache, args.records)
    raw = cache / f"profile-{args.target}.txt"
    argv = [
        sys.executable,
        str(HERE / "glue_case.py"),
        "--input",
        str(data),
        "--target",
        args.target,
        "--select",
        args.select,
        "--transform",
        args.transform,
        "--bin-dir",
        str(cache / "bin"),
    ]
    if args.target_config:
        argv += ["--target-config", args.target_config]
    cmd = [str(spy.exe), "record", "--gil", "-r", str(args.rate), "-f", "raw", "-o", str(raw)]
    subprocess.run([*cmd, "--subprocesses", "--", *argv], check=True)
    print(summarize(raw, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
