"""Two or more builds of `earsight` side by side: `earsight bench` stage by stage, and the wall
time and peak RSS of a one-shot `earsight caption`, in alternating rounds on one pinned core.

    python3 tools/bench/builds.py [--rounds N] [--captions K] [--pressure GB] [--cpu C]
        [--bundle DIR] [--clip FILE] NAME=BINARY [NAME=BINARY ...]

Each round runs, for each build in turn, `bench --threads 1 --runs 20 --json`, then `caption`
of the clip K times. With --pressure, another process takes and frees that many GB before each
caption, as a board's other services might, so the kernel hands out memory it has to reclaim.
Prints a Markdown table per measure: medians over rounds for the bench stages (and each build
against the first), and the caption's median, 90th percentile and worst wall time with its
median peak RSS. Linux only (`taskset`, `/usr/bin/time`).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time


def caption(binary, args, out):
    start = time.perf_counter()
    run = subprocess.run(
        ["/usr/bin/time", "-f", "%M", "taskset", "-c", str(args.cpu), binary, "caption",
         "--model", args.bundle, args.clip],
        stdout=out, stderr=subprocess.PIPE, text=True, check=True)
    wall = (time.perf_counter() - start) * 1e3
    return wall, int(run.stderr.strip().splitlines()[-1]) / 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--captions", type=int, default=5)
    parser.add_argument("--pressure", type=float, default=0.0)
    parser.add_argument("--cpu", type=int, default=os.cpu_count() - 1)
    parser.add_argument("--bundle", default="models/mini")
    parser.add_argument("--clip", default="models/samples/rain.ogg")
    parser.add_argument("builds", nargs="+", metavar="NAME=BINARY")
    args = parser.parse_args()
    builds = [b.split("=", 1) for b in args.builds]
    if any(len(b) != 2 for b in builds):
        sys.exit("builds.py: each build is NAME=BINARY")
    bench = {name: [] for name, _ in builds}
    walls = {name: [] for name, _ in builds}
    rss = {name: [] for name, _ in builds}
    with tempfile.TemporaryFile("w") as out:
        for _ in range(args.rounds):
            for name, binary in builds:
                report = subprocess.run(
                    ["taskset", "-c", str(args.cpu), binary, "bench", "--model", args.bundle,
                     "--threads", "1", "--runs", "20", "--json"],
                    capture_output=True, text=True, check=True).stdout
                bench[name].append(json.loads(report))
                for _ in range(args.captions):
                    if args.pressure:
                        size = int(args.pressure * (1 << 30))
                        subprocess.run(
                            [sys.executable, "-c",
                             f"b = bytearray({size}); b[::4096] = b'x' * ({size} // 4096)"],
                            check=True)
                    wall, peak = caption(binary, args, out)
                    walls[name].append(wall)
                    rss[name].append(peak)
    first = builds[0][0]
    stages = [k for k, v in bench[first][0].items()
              if isinstance(v, float) and (k.endswith("_ms") or k.endswith("_mb"))]
    print(f"{args.bundle}: medians of {args.rounds} alternating rounds, one thread, core {args.cpu}")
    print("| stage | " + " | ".join(name for name, _ in builds) + " |")
    print("|---" * (len(builds) + 1) + "|")
    for stage in stages:
        medians = [statistics.median(r[stage] for r in bench[name]) for name, _ in builds]
        cells = [f"{m:.2f}" if i == 0 else f"{m:.2f} ({medians[0] / m:.2f}x)"
                 for i, m in enumerate(medians)]
        print(f"| {stage} | " + " | ".join(cells) + " |")
    pressure = f", after another process took and freed {args.pressure:g} GB" if args.pressure else ""
    print(f"\n`earsight caption {args.clip}`, {len(walls[first])} runs each{pressure}")
    print("| build | median ms | 90th percentile ms | worst ms | peak RSS MB (median) |")
    print("|---|---|---|---|---|")
    for name, _ in builds:
        w = sorted(walls[name])
        print(f"| {name} | {statistics.median(w):.1f} | {w[int(0.9 * (len(w) - 1))]:.1f} | "
              f"{w[-1]:.1f} | {statistics.median(rss[name]):.1f} |")


if __name__ == "__main__":
    main()
