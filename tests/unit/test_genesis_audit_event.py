# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

import pytest

import genesis_fakes
from ansible_collections.genesis.runbook.plugins.modules import genesis_audit_event

ARGS = dict(db_dsn="postgresql://genesis:dbpa55@127.0.0.1:5432/genesis", node_name="node1", run_id="run-13", scenario="13",
            step="restart_market_data", before={"state": "RUNNING"}, after={"restarted": True}, details={"program": "genesis:market_data"})


def test_writes_one_runbook_action(run_module, pg, tmp_path):
    logs = tmp_path / ".genesis" / "logs"
    logs.mkdir(parents=True)
    result, failed = run_module(genesis_audit_event.main, dict(ARGS, genesis_home=str(tmp_path)), diff=True)
    assert not failed and result["changed"] is True
    event = result["event"]
    assert event["aggregate_id"] == "runbook:node1" and event["sequence_number"] == 1 and event["event_id"] == 1
    row = pg.events[0]
    assert row["event_type"] == "RUNBOOK_ACTION"
    assert row["event_data"]["step"] == "restart_market_data" and row["event_data"]["details"] == {"program": "genesis:market_data"}
    assert row["event_data"]["run_id"] == "run-13" and row["event_data"]["scenario"] == "13"
    assert "genesis_audit_event" in row["event_data"]["actor"]
    assert json.loads((logs / "audit.log").read_text())["event_id"] == 1
    assert json.loads(result["diff"]["after"])["aggregate_id"] == "runbook:node1"


def test_check_mode_reports_the_intended_write(run_module, pg):
    result, failed = run_module(genesis_audit_event.main, ARGS, check_mode=True)
    assert not failed and result["changed"] is True and result["event"]["event_id"] is None
    assert result["event"]["event_data"]["step"] == "restart_market_data"
    assert pg.events == [] and len(pg.connections) == 1  # connectivity is still proven


def test_appends_each_time_unless_unique(run_module, pg):
    run_module(genesis_audit_event.main, ARGS)
    second, _failed = run_module(genesis_audit_event.main, ARGS)
    assert second["changed"] is True and second["event"]["sequence_number"] == 2
    third, failed = run_module(genesis_audit_event.main, dict(ARGS, unique=True))
    assert not failed and third["changed"] is False and len(pg.events) == 2
    other, _failed = run_module(genesis_audit_event.main, dict(ARGS, unique=True, step="other"))
    assert other["changed"] is True


def test_unique_is_idempotent_in_check_mode_too(run_module, pg):
    run_module(genesis_audit_event.main, dict(ARGS, unique=True))
    result, failed = run_module(genesis_audit_event.main, dict(ARGS, unique=True), check_mode=True)
    assert not failed and result["changed"] is False


def test_db_unreachable(run_module, pg):
    pg.connect_error = genesis_fakes.pg_down()
    for check_mode in (False, True):
        result, failed = run_module(genesis_audit_event.main, ARGS, check_mode=check_mode)
        assert failed and "is unreachable" in result["msg"] and "dbpa55" not in result["msg"]


@pytest.mark.parametrize("override, option", [
    (dict(step=" "), "step"),
    (dict(db_dsn=""), "db_dsn"),
    (dict(details="not a dict"), "details"),
])
def test_bad_input(run_module, pg, override, option):
    result, failed = run_module(genesis_audit_event.main, dict(ARGS, **override))
    assert failed and option in result["msg"]
