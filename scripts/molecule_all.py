#!/usr/bin/env python3
"""Run `molecule test` for many scenarios, a few at a time, each on its own lab.

Every scenario brings up its own lab (own name, subnet and namespaces), so scenarios can run
side by side. Each one's output goes to <log dir>/<scenario>.log; a line per scenario says how
it ended and how long it took, and the tail of every failed log is printed at the end.

  scripts/molecule_all.py [--jobs N] [--log-dir DIR] scenario ...
"""
import argparse
import concurrent.futures
import os
import subprocess
import sys
import threading
import time

# Longest first, so that the slowest scenarios do not start last (measured figures, seconds).
EXPECTED_S = {"fleet": 330, "scenario_07_rate_limit": 150, "scenario_11_network_partition": 110,
              "scenario_02_order_execution": 110, "scenario_20_emergency": 100, "scenario_16_backup": 100}

PRINT_LOCK = threading.Lock()


def say(text):
    with PRINT_LOCK:
        print(text, flush=True)


def run_one(scenario, molecule, log_dir):
    log_path = os.path.join(log_dir, scenario + ".log")
    started = time.time()
    with open(log_path, "w") as log:
        code = subprocess.call([molecule, "test", "-s", scenario], stdout=log, stderr=subprocess.STDOUT)
    elapsed = time.time() - started
    say("%-34s %s in %4.0f s  (%s)" % (scenario, "passed" if code == 0 else "FAILED (exit %d)" % code, elapsed, log_path))
    return scenario, code, elapsed, log_path


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenarios", nargs="+")
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("MOLECULE_JOBS", "2")))
    parser.add_argument("--log-dir", default=os.path.join(".cache", "molecule-logs"))
    parser.add_argument("--molecule", default="molecule")
    parser.add_argument("--tail", type=int, default=80, help="lines of each failed log to print")
    args = parser.parse_args()
    if args.jobs < 1:
        parser.error("--jobs must be at least 1, got %d" % args.jobs)
    os.makedirs(args.log_dir, exist_ok=True)
    order = sorted(args.scenarios, key=lambda s: (-EXPECTED_S.get(s, 80), s))
    say("molecule: %d scenarios, %d at a time, logs in %s" % (len(order), args.jobs, args.log_dir))
    started = time.time()
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(lambda s: run_one(s, args.molecule, args.log_dir), order))
    failed = [r for r in results if r[1] != 0]
    for scenario, code, elapsed, log_path in failed:
        with open(log_path) as handle:
            tail = handle.readlines()[-args.tail:]
        say("\n===== %s failed (exit %d); last %d lines of %s =====\n%s" % (scenario, code, len(tail), log_path, "".join(tail)))
    say("molecule: %d passed, %d failed in %.0f s" % (len(results) - len(failed), len(failed), time.time() - started))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
