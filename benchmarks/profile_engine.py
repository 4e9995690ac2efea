"""Profile smtpstate (with the sink application of ``impls.py``) on W1, W2, W3.

    python benchmarks/profile_engine.py [W1 W2 W3] [--top 20]

Prints cProfile's functions sorted by own time (tottime) for each workload.
For a sampling view without cProfile's per-call overhead, run a workload
under py-spy: ``py-spy record -o w1.svg -- python benchmarks/profile_engine.py W1 --plain``.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import impls
import run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("workloads", nargs="*", default=["W1", "W2", "W3"])
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--plain", action="store_true", help="run without cProfile")
    args = parser.parse_args()
    workloads = {w.key: w for w in run.build_workloads(quick=False)}
    driver = impls.Smtpstate()
    for key in args.workloads:
        sessions, _, _ = workloads[key].inputs("smtpstate")
        if key == "W3":  # 1 MB is enough to see where the time goes
            sessions = [sessions[0][:4] + sessions[0][4 : 4 + 1_000_000 // 7] + [run.QUIT]]
        if args.plain:
            driver.run(sessions)
            continue
        profile = cProfile.Profile()
        profile.runcall(driver.run, sessions)
        print(f"\n## {workloads[key].title}\n")
        stats = pstats.Stats(profile, stream=sys.stdout)
        stats.sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
