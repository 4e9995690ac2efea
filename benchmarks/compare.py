"""Old against new: the in-process workloads W1, W2 and W4 (benchmarks/run.py;
W3 too on request) for smtpstate at an earlier commit and at the working tree,
side by side.

    python benchmarks/compare.py OLD_REV [--pairs 6] [--repeats 5] [--workloads W1,W2,W3,W4]

The old commit is checked out into a temporary git worktree. Each side runs in
its own process with its own ``src/`` and its own ``benchmarks/`` (so each uses
the event names of its time), and the two alternate, pair by pair: a machine
that drifts moves both sides of a pair alike. Printed: each side's median time
per unit, the new/old ratio of every pair and their median (above 1: slower).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORKLOADS = ("W1", "W2", "W4")

# Run inside each tree: the tree's own workloads and smtpstate driver.
CHILD = """
import json, statistics, sys, time
sys.path.insert(0, "benchmarks")
import impls, run, smtpstate
assert smtpstate.__file__.startswith(sys.argv[1]), smtpstate.__file__
driver, medians = impls.Smtpstate(), {}
for workload in run.build_workloads(quick=False):
    if workload.key in sys.argv[3].split(","):
        sessions, units, _ = workload.inputs("smtpstate")
        driver.run(sessions)  # warm-up
        samples = []
        for _ in range(int(sys.argv[2])):
            start = time.perf_counter()
            driver.run(sessions)
            samples.append((time.perf_counter() - start) / units)
        medians[workload.key] = statistics.median(samples)
print(json.dumps(medians))
"""


def measure(tree: Path, repeats: int, workloads: list[str]) -> dict[str, float]:
    src = str(tree / "src")
    env = {**os.environ, "PYTHONPATH": src}
    command = [sys.executable, "-c", CHILD, src, str(repeats), ",".join(workloads)]
    result = subprocess.run(
        command, cwd=tree, env=env, capture_output=True, text=True, check=True, timeout=600
    )
    medians: dict[str, float] = json.loads(result.stdout)
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("old", help="the earlier commit (any git revision)")
    parser.add_argument("--pairs", type=int, default=6, help="old/new pairs (6)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per process (5)")
    parser.add_argument(
        "--workloads",
        default=",".join(WORKLOADS),
        help="comma-separated, from W1 to W4 (W1,W2,W4; W3 takes about 1 s a run)",
    )
    args = parser.parse_args()
    workloads = args.workloads.split(",")
    with tempfile.TemporaryDirectory() as folder:
        old_tree = Path(folder) / "old"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(old_tree), args.old],
            check=True,
        )
        try:
            pairs = []
            for index in range(args.pairs):
                print(f"pair {index + 1} of {args.pairs}", file=sys.stderr, flush=True)
                pairs.append(
                    (
                        measure(old_tree, args.repeats, workloads),
                        measure(ROOT, args.repeats, workloads),
                    )
                )
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old_tree)],
                check=True,
            )
    print(f"old: {args.old}; new: the working tree; {args.pairs} pairs, {args.repeats} runs each")
    print("| workload | old median (µs/unit) | new median (µs/unit) | new/old per pair | median |")
    print("|---|---:|---:|---|---:|")
    for key in workloads:
        old = [pair[0][key] * 1e6 for pair in pairs]
        new = [pair[1][key] * 1e6 for pair in pairs]
        ratios = [n / o for o, n in zip(old, new, strict=True)]
        print(
            f"| {key} | {statistics.median(old):.2f} | {statistics.median(new):.2f} | "
            f"{' '.join(f'{r:.3f}' for r in ratios)} | {statistics.median(ratios):.3f} |"
        )


if __name__ == "__main__":
    main()
