# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Completeness of the audit trail (docs/genesis-contract.md section 4.3, runbook scenario 18).

Sequence numbers run per aggregate from 1 without gaps, so the gap check partitions by
aggregate_id (genesis's own check orders all events by sequence number and misses gaps inside
an aggregate). audit.log holds one line per event: it tells which missing events can be
reconstructed, with their original event id, type, data, sequence number and time, and which
events it holds that the table lost even without a visible gap (the last events of an aggregate).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import glob
import gzip
import json
import os

GAPS_SQL = (
    "WITH agg AS (SELECT aggregate_id, max(sequence_number) AS top FROM events GROUP BY aggregate_id "
    "HAVING max(sequence_number) <> count(*)) "
    "SELECT agg.aggregate_id, s.n AS sequence_number FROM agg CROSS JOIN LATERAL generate_series(1, agg.top) AS s(n) "
    "WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.aggregate_id = agg.aggregate_id AND e.sequence_number = s.n) "
    "ORDER BY 1, 2 LIMIT %s")
KEYS_OF_AGGREGATES_SQL = "SELECT aggregate_id, sequence_number FROM events WHERE aggregate_id = ANY(%s)"
TAKEN_IDS_SQL = "SELECT event_id FROM events WHERE event_id = ANY(%s)"
INSERT_WITH_ID_SQL = (
    "INSERT INTO events (event_id, event_type, aggregate_id, event_data, sequence_number, created_at) "
    "VALUES (%s, %s, %s, %s::jsonb, %s, %s) ON CONFLICT DO NOTHING RETURNING event_id")
INSERT_NEW_ID_SQL = (
    "INSERT INTO events (event_type, aggregate_id, event_data, sequence_number, created_at) "
    "VALUES (%s, %s, %s::jsonb, %s, %s) ON CONFLICT DO NOTHING RETURNING event_id")

DEFAULT_MAX_LOG_BYTES = 256 * 1048576


def default_log_files(genesis_home):
    """audit.log, its rotated copies audit.log.<date> and the compressed archives, newest last."""
    logs = os.path.join(genesis_home or "/app", ".genesis", "logs")
    rotated = sorted(p for p in glob.glob(os.path.join(logs, "audit.log.*")))
    archived = sorted(glob.glob(os.path.join(logs, "archive", "audit.log*.gz")))
    return archived + rotated + [os.path.join(logs, "audit.log")]


def _open(path):
    if path.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, "r", encoding="utf-8", errors="replace")


def read_audit_log(paths, max_bytes=DEFAULT_MAX_LOG_BYTES):
    """{(aggregate_id, sequence_number): record} from the audit_event lines of `paths` (read in order, a later
    identical line wins), plus statistics. A key seen with two different events is listed in `conflicts`."""
    records = {}
    conflicts = set()
    stats = dict(files=[], lines=0, events=0, unparsable=0, bytes=0, truncated=False, conflicts=[])
    for path in paths:
        if not os.path.isfile(path):
            continue
        stats["files"].append(path)
        with _open(path) as handle:
            for line in handle:
                stats["bytes"] += len(line)
                if stats["bytes"] > max_bytes:
                    stats["truncated"] = True
                    break
                stats["lines"] += 1
                if '"audit_event"' not in line:
                    continue
                try:
                    rec = json.loads(line)
                except ValueError:
                    stats["unparsable"] += 1
                    continue
                if not isinstance(rec, dict) or rec.get("event") != "audit_event":
                    continue
                aggregate, sequence = rec.get("aggregate_id"), rec.get("sequence_number")
                if not isinstance(aggregate, str) or not isinstance(sequence, int) or not rec.get("event_type"):
                    stats["unparsable"] += 1
                    continue
                stats["events"] += 1
                entry = dict(event_id=rec.get("event_id"), event_type=rec["event_type"], aggregate_id=aggregate,
                             sequence_number=sequence, event_data=rec.get("event_data") if isinstance(rec.get("event_data"), dict) else {},
                             created_at=rec.get("created_at") or rec.get("timestamp"), file=path)
                old = records.get((aggregate, sequence))
                if old is not None and (old["event_id"], old["event_type"]) != (entry["event_id"], entry["event_type"]):
                    conflicts.add((aggregate, sequence))
                records[(aggregate, sequence)] = entry
        if stats["truncated"]:
            break
    stats["conflicts"] = [dict(aggregate_id=a, sequence_number=s) for a, s in sorted(conflicts)]
    return records, conflicts, stats


def scan(db, log_paths, max_bytes=DEFAULT_MAX_LOG_BYTES, limit=10000):
    """The trail's completeness: sequence gaps per aggregate, events audit.log holds that the table lacks,
    and for each missing event whether audit.log can restore it. Read-only."""
    gaps = {}
    for row in db.query(GAPS_SQL, (limit,), what="looking for sequence gaps per aggregate"):
        gaps.setdefault(row["aggregate_id"], []).append(int(row["sequence_number"]))
    records, conflicts, stats = read_audit_log(log_paths, max_bytes)
    in_table = set()
    aggregates = sorted(set(a for a, _s in records))
    for start in range(0, len(aggregates), 5000):
        for row in db.query(KEYS_OF_AGGREGATES_SQL, (aggregates[start:start + 5000],),
                            what="comparing audit.log with the events table"):
            in_table.add((row["aggregate_id"], int(row["sequence_number"])))
    missing = {}
    for aggregate, numbers in gaps.items():
        for number in numbers:
            missing[(aggregate, number)] = "gap"
    for key in records:
        if key not in in_table and key not in missing:
            missing[key] = "not_captured"
    events = []
    for key in sorted(missing):
        record = records.get(key)
        entry = dict(aggregate_id=key[0], sequence_number=key[1], kind=missing[key], in_audit_log=record is not None,
                     recoverable=record is not None and key not in conflicts, event_id=None, event_type=None, created_at=None)
        if record is not None:
            entry.update(event_id=record["event_id"], event_type=record["event_type"], created_at=record["created_at"])
        events.append(entry)
    return dict(
        gaps=[dict(aggregate_id=a, missing=sorted(n)) for a, n in sorted(gaps.items())],
        aggregates_with_gaps=len(gaps),
        missing_events=events,
        missing_count=len(events),
        recoverable_count=len([e for e in events if e["recoverable"]]),
        unrecoverable=[dict(aggregate_id=e["aggregate_id"], sequence_number=e["sequence_number"],
                            reason="in audit.log twice with different events" if e["in_audit_log"] else "not in audit.log")
                       for e in events if not e["recoverable"]],
        not_captured=len([e for e in events if e["kind"] == "not_captured"]),
        complete=not events,
        audit_log=stats,
    ), records


def reconstructed_data(record, run_id, now_iso):
    data = dict(record.get("event_data") or {})
    data.update(reconstructed=True, source="audit.log", original_event_id=record.get("event_id"),
                reconstructed_at=now_iso, reconstructed_by_run=run_id)
    return data
