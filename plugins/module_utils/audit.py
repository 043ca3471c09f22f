# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Audit events written by remediation (docs/genesis-contract.md sections 4.2 and 4.3).

Every mutating step writes one `events` row `RUNBOOK_ACTION` on aggregate `runbook:<node>`
with the next sequence number of that aggregate, taken inside the caller's transaction.
A concurrent writer that took the same number makes the INSERT fail with a unique
violation: the INSERT is rolled back to a savepoint and retried with a fresh number.
After the transaction commits, flush_log() appends the events to audit.log (best effort).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os

from ansible_collections.genesis.runbook.plugins.module_utils._common import GenesisError, iso
from ansible_collections.genesis.runbook.plugins.module_utils.db import is_unique_violation

RUNBOOK_ACTION = "RUNBOOK_ACTION"
MAX_ATTEMPTS = 5

NEXT_SEQUENCE_SQL = "SELECT coalesce(max(sequence_number), 0) + 1 FROM events WHERE aggregate_id = %s"
INSERT_EVENT_SQL = ("INSERT INTO events (event_type, aggregate_id, event_data, sequence_number) "
                    "VALUES (%s, %s, %s::jsonb, %s) RETURNING event_id, created_at")


def short_event(event):
    """The identifying fields of an audit event (what modules return in audit_events)."""
    return dict((k, event.get(k)) for k in ("event_id", "event_type", "aggregate_id", "sequence_number"))


class AuditError(GenesisError):
    pass


def _json(value):
    return json.dumps(value, sort_keys=True, default=str)


class AuditWriter(object):
    def __init__(self, db, node, run_id, scenario=None, actor=None, audit_log=None):
        self.db = db
        self.node = node
        self.run_id = run_id
        self.scenario = scenario
        self.actor = actor
        self.audit_log = audit_log
        self.written = []
        self._pending_log = []

    @property
    def aggregate(self):
        return "runbook:%s" % self.node

    def runbook_action_data(self, step, before, after, details=None):
        data = dict(scenario=self.scenario, step=step, before=before, after=after, run_id=self.run_id, actor=self.actor)
        if details:
            data["details"] = details
        return data

    def runbook_action(self, cur, step, before, after, details=None):
        """Insert one RUNBOOK_ACTION event with the cursor of an open transaction; returns the event."""
        return self.event(cur, RUNBOOK_ACTION, self.aggregate, self.runbook_action_data(step, before, after, details))

    def event(self, cur, event_type, aggregate_id, event_data):
        """Insert one event on an aggregate with its next sequence number (inside the caller's transaction)."""
        payload = _json(event_data)
        for attempt in range(1, MAX_ATTEMPTS + 1):
            cur.execute("SAVEPOINT genesis_runbook_audit")
            try:
                cur.execute(NEXT_SEQUENCE_SQL, (aggregate_id,))
                sequence = int(cur.fetchone()[0])
                cur.execute(INSERT_EVENT_SQL, (event_type, aggregate_id, payload, sequence))
                row = cur.fetchone()
            except Exception as exc:  # pylint: disable=broad-except
                cur.execute("ROLLBACK TO SAVEPOINT genesis_runbook_audit")
                if is_unique_violation(exc) and attempt < MAX_ATTEMPTS:
                    continue
                if is_unique_violation(exc):
                    raise AuditError("%s: no free sequence number for %s after %d attempts (concurrent writers)."
                                     % (self.db.endpoint, aggregate_id, MAX_ATTEMPTS))
                raise
            cur.execute("RELEASE SAVEPOINT genesis_runbook_audit")
            event = dict(event_id=row[0], event_type=event_type, aggregate_id=aggregate_id, sequence_number=sequence,
                         event_data=json.loads(payload), created_at=iso(row[1]) if row[1] is not None else None)
            self._pending_log.append(event)
            return event

    def committed(self):
        """Call after the transaction committed: records the events and appends them to audit.log."""
        events, self._pending_log = self._pending_log, []
        self.written.extend(events)
        self._append_log(events)
        return events

    def discard(self):
        """Call after a rollback: the pending events were never written."""
        self._pending_log = []

    def _append_log(self, events):
        if not self.audit_log or not events or not os.path.isdir(os.path.dirname(self.audit_log)):
            return False
        lines = []
        for event in events:
            lines.append(_json(dict(timestamp=event["created_at"], level="info", event="audit_event", logger="audit",
                                    event_id=event["event_id"], event_type=event["event_type"],
                                    aggregate_id=event["aggregate_id"], sequence_number=event["sequence_number"],
                                    event_data=event["event_data"], created_at=event["created_at"])))
        try:
            with open(self.audit_log, "a") as handle:
                handle.write("\n".join(lines) + "\n")
        except (IOError, OSError):
            return False
        return True

    def write_runbook_action(self, step, before, after, details=None):
        """One RUNBOOK_ACTION in its own transaction; returns the event."""
        try:
            with self.db.transaction("writing the RUNBOOK_ACTION event") as cur:
                event = self.runbook_action(cur, step, before, after, details)
        except BaseException:
            self.discard()
            raise
        self.committed()
        return event

    def already_written(self, step):
        """True when this run already wrote a RUNBOOK_ACTION for this step on this node."""
        rows = self.db.query("SELECT event_id FROM events WHERE event_type = %s AND aggregate_id = %s "
                             "AND event_data->>'run_id' = %s AND event_data->>'step' = %s LIMIT 1",
                             (RUNBOOK_ACTION, self.aggregate, self.run_id, step), what="looking up earlier audit events")
        return bool(rows)
