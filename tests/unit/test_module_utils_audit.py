# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

import pytest

from ansible_collections.genesis.runbook.plugins.module_utils.audit import AuditError, AuditWriter
from ansible_collections.genesis.runbook.plugins.module_utils.db import GenesisDb, GenesisDbError


def writer(tmp_path=None):
    log = str(tmp_path / "audit.log") if tmp_path else None
    return AuditWriter(GenesisDb("postgresql://g:p@h/db"), node="node1", run_id="run-1", scenario="2", actor="ops", audit_log=log)


def test_runbook_action_row_and_sequence(pg, tmp_path):
    pg.add_event("RUNBOOK_ACTION", "runbook:node1", {}, 1)
    pg.add_event("RUNBOOK_ACTION", "runbook:node1", {}, 2)
    audit = writer(tmp_path)
    event = audit.write_runbook_action("reset_circuit_breaker", {"state": "open"}, {"state": "closed"})
    assert event["aggregate_id"] == "runbook:node1" and event["sequence_number"] == 3
    row = pg.events[-1]
    assert row["event_type"] == "RUNBOOK_ACTION"
    assert row["event_data"] == {"scenario": "2", "step": "reset_circuit_breaker", "before": {"state": "open"},
                                 "after": {"state": "closed"}, "run_id": "run-1", "actor": "ops"}
    line = json.loads((tmp_path / "audit.log").read_text().splitlines()[-1])
    assert line["event"] == "audit_event" and line["logger"] == "audit" and line["sequence_number"] == 3
    assert line["event_id"] == row["event_id"]


def test_retries_on_unique_violation_inside_the_transaction(pg):
    pg.add_event("RUNBOOK_ACTION", "runbook:node1", {}, 1)
    pg.steal_sequence["runbook:node1"] = 2  # a concurrent writer takes the next number twice
    event = writer().write_runbook_action("step", None, None)
    assert event["sequence_number"] == 4
    seqs = sorted(e["sequence_number"] for e in pg.events_of("runbook:node1"))
    assert seqs == [1, 2, 3, 4]  # no gap, no duplicate
    assert any(s[0].startswith("ROLLBACK TO SAVEPOINT") for s in pg.statements)


def test_gives_up_after_bounded_attempts(pg):
    pg.steal_sequence["runbook:node1"] = 99
    with pytest.raises(AuditError) as caught:
        writer().write_runbook_action("step", None, None)
    assert "no free sequence number for runbook:node1" in str(caught.value)
    assert pg.events_of(event_type="RUNBOOK_ACTION") == []


def test_aggregate_event_and_runbook_action_in_one_transaction(pg):
    pg.add_event("ORDER_CREATED", "order:o1", {}, 1)
    pg.add_event("ORDER_SUBMITTED", "order:o1", {}, 2)
    audit = writer()
    with audit.db.transaction() as cur:
        cancelled = audit.event(cur, "ORDER_CANCELLED", "order:o1", {"order_id": "o1"})
        action = audit.runbook_action(cur, "cancel", "PENDING", "CANCELLED")
    audit.committed()
    assert cancelled["sequence_number"] == 3 and action["sequence_number"] == 1
    assert [e["event_id"] for e in audit.written] == [cancelled["event_id"], action["event_id"]]


def test_rollback_discards(pg):
    audit = writer()
    with pytest.raises(GenesisDbError):
        with audit.db.transaction() as cur:
            audit.runbook_action(cur, "x", None, None)
            pg.errors["insert into events"] = genesis_error()
            audit.runbook_action(cur, "y", None, None)
    audit.discard()
    assert pg.events == [] and audit.written == []


def test_already_written(pg):
    audit = writer()
    assert not audit.already_written("restart")
    audit.write_runbook_action("restart", None, None)
    assert audit.already_written("restart")
    assert not audit.already_written("other")


def test_unwritable_audit_log_is_ignored(pg, tmp_path):
    audit = AuditWriter(GenesisDb("postgresql://g:p@h/db"), node="n", run_id="r", audit_log=str(tmp_path / "missing" / "audit.log"))
    audit.write_runbook_action("x", None, None)
    assert len(pg.events) == 1


def genesis_error():
    import psycopg2
    return psycopg2.OperationalError("server closed the connection unexpectedly")
