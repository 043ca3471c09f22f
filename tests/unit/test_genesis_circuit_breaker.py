# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

import genesis_fakes
from ansible_collections.genesis.runbook.plugins.modules import genesis_circuit_breaker

ARGS = dict(api_key="k3y-api-secret", db_dsn="postgresql://genesis:dbpa55@127.0.0.1:5432/genesis", node_name="node1",
            run_id="run-2", scenario="2")


def test_resets_only_open_breakers_and_audits(run_module, api_fake, pg):
    api_fake.breakers["websocket"] = {"state": "half_open", "failures": 5}
    result, failed = run_module(genesis_circuit_breaker.main, dict(ARGS, name=["all"]), diff=True)
    assert not failed and result["changed"] is True
    assert sorted(result["reset"]) == ["orders", "websocket"] and sorted(api_fake.resets) == ["orders", "websocket"]
    assert result["breakers"]["orders"] == {"before": "open", "after": "closed", "changed": True}
    assert result["breakers"]["api"] == {"before": "closed", "after": "closed", "changed": False}
    actions = pg.events_of("runbook:node1", "RUNBOOK_ACTION")
    assert [a["event_data"]["before"] for a in actions] == [
        {"name": "orders", "state": "open"}, {"name": "websocket", "state": "half_open"}]
    assert all(a["event_data"]["step"] == "reset_circuit_breaker" for a in actions)
    assert [a["sequence_number"] for a in actions] == [1, 2] and len(result["audit_events"]) == 2
    assert result["diff"]["before"]["orders"] == "open" and result["diff"]["after"]["orders"] == "closed"


def test_check_mode_posts_and_writes_nothing(run_module, api_fake, pg):
    result, failed = run_module(genesis_circuit_breaker.main, dict(ARGS, name=["orders"]), check_mode=True)
    assert not failed and result["changed"] is True and result["reset"] == ["orders"]
    assert api_fake.resets == [] and pg.events == [] and pg.connections == []


def test_idempotent(run_module, api_fake, pg):
    first, _failed = run_module(genesis_circuit_breaker.main, dict(ARGS, name=["orders"]))
    second, failed = run_module(genesis_circuit_breaker.main, dict(ARGS, name=["orders"]))
    assert first["changed"] is True and not failed and second["changed"] is False and second["reset"] == []
    assert len(pg.events) == 1


def test_nothing_to_reset_needs_no_database(run_module, api_fake, pg):
    result, failed = run_module(genesis_circuit_breaker.main, dict(ARGS, name=["api"], db_dsn=""))
    assert not failed and result["changed"] is False


def test_unknown_name_fails_naming_the_option(run_module, api_fake):
    result, failed = run_module(genesis_circuit_breaker.main, dict(ARGS, name=["orders", "bogus"]))
    assert failed
    assert result["msg"] == "name holds unknown breakers bogus: the node has api, binance_api, orders, websocket."


def test_db_unreachable_resets_nothing(run_module, api_fake, pg):
    pg.connect_error = genesis_fakes.pg_down()
    result, failed = run_module(genesis_circuit_breaker.main, dict(ARGS, name=["orders"]))
    assert failed and result["msg"].startswith("No breaker was reset because the audit trail cannot be written: PostgreSQL")
    assert "dbpa55" not in result["msg"] and api_fake.resets == []


def test_api_unreachable(run_module, api_fake, pg):
    api_fake.down = True
    result, failed = run_module(genesis_circuit_breaker.main, dict(ARGS, name=["orders"], api_retries=0))
    assert failed and result["msg"] == ("Control API GET http://127.0.0.1:8080/admin/circuit-breakers is unreachable: "
                                        "connection refused.")


def test_reset_error_reports_progress(run_module, api_fake, http, pg):
    api_fake.breakers["api"] = {"state": "open"}
    http.route("POST", "http://127.0.0.1:8080/admin/circuit-breakers/orders/reset",
               (409, {"error": "conflict", "message": "breaker is cooling down"}, {}))
    result, failed = run_module(genesis_circuit_breaker.main, dict(ARGS, name=["api", "orders"]))
    assert failed and result["reset"] == ["api"]
    assert result["msg"].startswith("Breaker orders was not reset (1 reset before it): Control API POST")
    assert len(pg.events) == 1


@pytest.mark.parametrize("override, option", [
    (dict(name=[""]), "name"),
    (dict(name=["orders"], api_key=""), "api_key"),
    (dict(name=["orders"], state="open"), "state"),
])
def test_bad_input(run_module, api_fake, override, option):
    result, failed = run_module(genesis_circuit_breaker.main, dict(ARGS, **override))
    assert failed and option in result["msg"]
