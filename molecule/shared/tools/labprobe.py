#!/usr/bin/env python3
"""Read-only probes of a running genesis lab for the Molecule scenarios.

`record` saves what must never go down or change (record counts, programs' pids,
emergency-close requests) so the verifier can prove (e), (f) and (g).
"""
import argparse
import json
import os
import sys

from genesis_lab.labspec import Lab

COUNT_TABLES = ("orders", "positions", "events")


def node_snapshot(node):
    """Counts of trading records, last event id, program pids and listener firings of one node."""
    snap = {"counts": {}, "programs": {}, "runbook_actions": 0, "last_event_id": 0,
            "emergency_close_events": 0, "emergency_close_lines": 0}
    conn = node.db()
    try:
        with conn.cursor() as cur:
            for table in COUNT_TABLES:
                cur.execute("SELECT count(*) FROM %s" % table)  # table names are constants above
                snap["counts"][table] = cur.fetchone()[0]
            cur.execute("SELECT coalesce(max(event_id), 0) FROM events")
            snap["last_event_id"] = cur.fetchone()[0]
            cur.execute("SELECT count(*) FROM events WHERE event_type = 'RUNBOOK_ACTION'")
            snap["runbook_actions"] = cur.fetchone()[0]
            cur.execute("SELECT count(*) FROM events WHERE event_type = 'EMERGENCY_CLOSE_REQUESTED'")
            snap["emergency_close_events"] = cur.fetchone()[0]
    finally:
        conn.close()
    for info in node.supervisor().supervisor.getAllProcessInfo():
        name = "%s:%s" % (info["group"], info["name"]) if info["group"] != info["name"] else info["name"]
        snap["programs"][name] = {"pid": info["pid"], "state": info["statename"]}
    requests_file = os.path.join(node.home, ".genesis", "state", "emergency_close_requests.jsonl")
    if os.path.exists(requests_file):
        with open(requests_file) as handle:
            snap["emergency_close_lines"] = sum(1 for line in handle if line.strip())
    return snap


def runbook_actions_since(node, event_id):
    """RUNBOOK_ACTION events written after `event_id`, as dicts."""
    conn = node.db()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT event_id, aggregate_id, sequence_number, event_data FROM events "
                        "WHERE event_type = 'RUNBOOK_ACTION' AND event_id > %s ORDER BY event_id", (event_id,))
            return [{"event_id": r[0], "aggregate_id": r[1], "sequence_number": r[2], "event_data": r[3]}
                    for r in cur.fetchall()]
    finally:
        conn.close()


def snapshot(lab):
    return {node.name: node_snapshot(node) for node in lab.nodes}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("action", choices=["record", "show"])
    parser.add_argument("--lab", default=os.environ.get("GENESIS_LAB_NAME"))
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    lab = Lab.load(name=args.lab)
    data = snapshot(lab)
    if args.action == "record":
        if not args.out:
            parser.error("--out is required with record")
        with open(args.out, "w") as handle:
            json.dump(data, handle, indent=2, default=str)
    else:
        json.dump(data, sys.stdout, indent=2, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
