#!/usr/bin/env python3
"""Read-only cluster probes of a genesis lab for Molecule scenario 11 (GET /admin/cluster on every node).

split   exit 0 when node1 and node2 both claim primary, unfenced, and cannot see each other
healed  wait (bounded) until every node sees its peers again, then sample for --hold seconds that
        exactly one node is an active primary and none reports a split brain; --out records
        the time the nodes saw each other again and the samples
"""
import argparse
import json
import sys
import time

import requests

from genesis_lab.labspec import Lab


def cluster(node):
    answer = requests.get(node.api_url + "/admin/cluster", headers={"X-API-Key": node.api_key}, timeout=5)
    answer.raise_for_status()
    return answer.json()


def views(lab):
    return dict((node.name, cluster(node)) for node in lab.nodes)


def active(docs):
    return sorted(name for name, doc in docs.items() if doc["role"] == "primary" and not doc["fenced"])


def split(lab):
    docs = views(lab)
    bad = [name for name, doc in docs.items()
           if doc["role"] != "primary" or doc["fenced"] or any(p["reachable"] for p in doc["peers"].values())]
    if bad:
        print("not split: %s" % json.dumps({n: {"role": d["role"], "fenced": d["fenced"]} for n, d in docs.items()}))
        return 1
    print("split brain in place: %s claim primary, peers unreachable" % ", ".join(sorted(docs)))
    return 0


def healed(lab, out, hold, timeout=30.0):
    deadline = time.time() + timeout
    while True:
        docs = views(lab)
        if all(all(p["reachable"] for p in doc["peers"].values()) for doc in docs.values()):
            break
        if time.time() > deadline:
            print("the nodes still do not see each other after %.0f s" % timeout)
            return 1
        time.sleep(0.5)
    healed_at = time.time()
    samples = []
    failures = []
    while True:
        docs = views(lab)
        sample = {"t": round(time.time() - healed_at, 2), "active_primaries": active(docs),
                  "split_brain": sorted(n for n, d in docs.items() if d["split_brain"]),
                  "roles": dict((n, [d["role"], d["fenced"], d["term"]]) for n, d in docs.items())}
        samples.append(sample)
        if len(sample["active_primaries"]) != 1 or sample["split_brain"]:
            failures.append(sample)
        if time.time() - healed_at >= hold:
            break
        time.sleep(1.0)
    with open(out, "w") as handle:
        json.dump({"healed_at": healed_at, "samples": samples, "failures": failures}, handle, indent=2)
    if failures:
        print("after the heal: %s" % json.dumps(failures[0]))
        return 1
    print("healed: %s is the only primary for %.0f s, no split brain" % (samples[-1]["active_primaries"][0], hold))
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["split", "healed"])
    parser.add_argument("--lab", required=True)
    parser.add_argument("--out")
    parser.add_argument("--hold", type=float, default=8.0)
    args = parser.parse_args(argv)
    lab = Lab.load(name=args.lab)
    if args.action == "split":
        return split(lab)
    if not args.out:
        parser.error("--out is required with healed")
    return healed(lab, args.out, args.hold)


if __name__ == "__main__":
    sys.exit(main())
