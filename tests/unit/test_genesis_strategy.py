# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""genesis_strategy_info and genesis_strategy (runbook scenario 15)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime

import pytest

import fakes_correlation_strategy_config as fakes
import genesis_fakes
from ansible_collections.genesis.runbook.plugins.modules import genesis_strategy, genesis_strategy_info


@pytest.fixture
def pg(monkeypatch):
    fake = fakes.Pg()
    from ansible_collections.genesis.runbook.plugins.module_utils import db
    monkeypatch.setattr(db.psycopg2, "connect", fake.connect)
    return fake


@pytest.fixture
def home(tmp_path):
    return fakes.make_home(tmp_path)


@pytest.fixture
def strategies(api_fake):
    return fakes.StrategyApi(api_fake)


@pytest.fixture
def args(home):
    return dict(genesis_home=str(home), api_key="k3y-api-secret", db_dsn="postgresql://genesis:dbpa55@127.0.0.1:5432/genesis",
                node_name="node1", run_id="run-15", scenario="15")


def broken(strategies):
    strategies.strategies["momentum"] = fakes.strategy_view(state="ERROR", errors=41,
                                                            last_error="ValueError: params are not valid JSON")


# -- genesis_strategy_info -------------------------------------------------------------------------------------
def test_info_healthy(run_module, strategies, args):
    result, failed = run_module(genesis_strategy_info.main, args)
    assert not failed and result["changed"] is False and result["failing"] == [] and result["reasons"] == {}
    assert sorted(result["strategies"]) == ["cluster_arbitrage", "mean_reversion", "momentum"] and result["orders"] == {}


def test_info_finds_the_failing_strategy_and_its_log_lines(run_module, strategies, home, args):
    broken(strategies)
    strategies.strategies["mean_reversion"]["errors_last_5m"] = 2
    fakes.log(home, [
        {"timestamp": "2026-11-27T18:00:00.000Z", "level": "info", "event": "Order created", "strategy": "momentum"},
        {"timestamp": "2026-11-27T18:01:00.000Z", "level": "error", "event": "Strategy error", "strategy": "momentum",
         "exception": "ValueError: params are not valid JSON"},
        {"timestamp": "2026-11-27T18:01:01.000Z", "level": "info", "event": "Order created", "strategy": "mean_reversion"},
        "not json at all",
        {"timestamp": "2026-11-27T18:02:00.000Z", "level": "error", "event": "Strategy error", "strategy": "momentum",
         "exception": "ValueError: params are not valid JSON", "secret_field": "dropped"}])
    result, failed = run_module(genesis_strategy_info.main, dict(args, max_errors=2, log_lines=2), check_mode=True)
    assert not failed and result["failing"] == ["momentum"]
    assert result["reasons"]["momentum"] == ["state ERROR (last error: ValueError: params are not valid JSON)"]
    logs = result["logs"]["momentum"]
    assert logs["errors"] == 2 and len(logs["lines"]) == 2 and logs["lines"][-1]["timestamp"] == "2026-11-27T18:02:00.000Z"
    assert "secret_field" not in logs["lines"][-1]
    result, failed = run_module(genesis_strategy_info.main, dict(args, names=["mean_reversion"]))
    assert not failed and result["failing"] == ["mean_reversion"] and "2 errors in the last 5 minutes" in result["reasons"]["mean_reversion"][0]
    result, failed = run_module(genesis_strategy_info.main, dict(args, log_since="2026-11-27T18:01:30Z"))
    assert result["logs"]["momentum"]["errors"] == 1


def test_info_orders_since(run_module, strategies, pg, args):
    since = pg.now - datetime.timedelta(seconds=120)
    pg.add_order("o1", status="FILLED", age_s=60, strategy="momentum", price=64000.0, quantity=0.0002)
    pg.add_order("o2", status="REJECTED", age_s=30, strategy="momentum", price=None)
    pg.add_order("o3", status="FILLED", age_s=600, strategy="momentum", price=64000.0)
    pg.add_order("o4", status="FILLED", age_s=30, strategy="momentum", node="node2")
    result, failed = run_module(genesis_strategy_info.main, dict(args, names=["momentum"], orders_since=since.isoformat()))
    assert not failed
    orders = result["orders"]["momentum"]
    assert orders["total"] == 2 and orders["by_status"] == {"FILLED": 1, "REJECTED": 1} and orders["failed"] == 1
    assert orders["max_notional"] == 12.8 and orders["window_s"] >= 0 and orders["per_minute"] <= 2
    assert result["executing"] == {"momentum": True}
    strategies.strategies["cluster_arbitrage"]["state"] = "PAUSED"
    strategies.strategies["mean_reversion"]["state"] = "PAUSED"
    result, failed = run_module(genesis_strategy_info.main, dict(args, orders_since=since.isoformat()))
    assert not failed and result["executing"] == {"cluster_arbitrage": True, "mean_reversion": False, "momentum": True}


@pytest.mark.parametrize("override, start", [
    (dict(names=["bogus"]), "names holds unknown strategies bogus: the node has cluster_arbitrage, mean_reversion, momentum."),
    (dict(max_errors=-1), "max_errors must be 0 or more"),
    (dict(log_lines=-1), "log_lines must be between 0 and 1000"),
    (dict(orders_since="soon"), "orders_since must be an ISO 8601 time"),
    (dict(api_key=""), "api_key (inventory variable genesis_api_key) is not set"),
    (dict(api_key="wrong"), "Control API GET http://127.0.0.1:8080/admin/strategies answered HTTP 401 unauthorized"),
])
def test_info_bad_input(run_module, strategies, args, override, start):
    result, failed = run_module(genesis_strategy_info.main, dict(args, **override))
    assert failed and result["msg"].startswith(start), result["msg"]


def test_info_api_unreachable(run_module, strategies, api_fake, args):
    api_fake.down = True
    result, failed = run_module(genesis_strategy_info.main, dict(args, api_retries=0))
    assert failed and result["msg"] == "Control API GET http://127.0.0.1:8080/admin/strategies is unreachable: connection refused."
    assert "k3y-api-secret" not in result["msg"]


# -- genesis_strategy ------------------------------------------------------------------------------------------
def test_disable_reset_enable_with_one_audit_event_each(run_module, strategies, pg, args):
    broken(strategies)
    steps = (("disabled", "disable_strategy", {"state": "STOPPED", "enabled": False, "safe_mode": False}),
             ("reset", "reset_strategy", {"state": "STOPPED", "enabled": False, "safe_mode": False}),
             ("enabled", "enable_strategy", {"state": "RUNNING", "enabled": True, "safe_mode": True}))
    for state, step, after in steps:
        result, failed = run_module(genesis_strategy.main, dict(args, name="momentum", state=state), diff=True)
        assert not failed and result["changed"] is True and result["after"] == after, (state, result)
        assert result["changed_at"] and result["audit_events"][0]["event_type"] == "RUNBOOK_ACTION"
        assert result["diff"]["after"] == after
    actions = pg.events_of("runbook:node1", "RUNBOOK_ACTION")
    assert [a["event_data"]["step"] for a in actions] == ["disable_strategy", "reset_strategy", "enable_strategy"]
    assert actions[0]["event_data"]["before"] == {"strategy": "momentum", "state": "ERROR", "enabled": True, "safe_mode": False}
    assert strategies.posts == [("momentum", "disable", {}), ("momentum", "reset", {}), ("momentum", "enable", {"safe_mode": True})]
    assert strategies.strategies["momentum"]["errors_total"] == 0


def test_check_mode_posts_and_writes_nothing(run_module, strategies, pg, args):
    broken(strategies)
    for state in ("disabled", "reset", "enabled"):
        result, failed = run_module(genesis_strategy.main, dict(args, name="momentum", state=state), check_mode=True)
        assert not failed and result["changed"] is True and result["audit_events"] == []
    assert strategies.posts == [] and pg.events == [] and pg.connections == []


def test_idempotent(run_module, strategies, pg, args):
    broken(strategies)
    first, _failed = run_module(genesis_strategy.main, dict(args, name="momentum", state="disabled"))
    second, failed = run_module(genesis_strategy.main, dict(args, name="momentum", state="disabled"))
    assert first["changed"] is True and not failed and second["changed"] is False and len(pg.events) == 1
    assert len(strategies.posts) == 1
    healthy, failed = run_module(genesis_strategy.main, dict(args, name="mean_reversion", state="reset", db_dsn=""))
    assert not failed and healthy["changed"] is False


def test_enable_without_safe_mode(run_module, strategies, pg, args):
    strategies.strategies["momentum"].update(state="STOPPED", enabled=False)
    result, failed = run_module(genesis_strategy.main, dict(args, name="momentum", state="enabled", safe_mode=False))
    assert not failed and result["after"]["safe_mode"] is False and strategies.posts[-1][2] == {"safe_mode": False}


def test_node_answer_is_final(run_module, strategies, pg, args):
    strategies.strategies["momentum"]["errors_last_5m"] = 3  # the node resets only counters it keeps
    strategies.fail_post = (200, {"changed": False, "before": {}, "after": {}}, {})
    result, failed = run_module(genesis_strategy.main, dict(args, name="momentum", state="reset"))
    assert not failed and result["changed"] is False and pg.events == []


def test_unknown_strategy(run_module, strategies, args):
    result, failed = run_module(genesis_strategy.main, dict(args, name="bogus", state="disabled"))
    assert failed and result["msg"] == "name bogus is not a strategy of this node: it has cluster_arbitrage, mean_reversion, momentum."


def test_audit_trail_unreachable_changes_nothing(run_module, strategies, pg, args):
    broken(strategies)
    pg.connect_error = genesis_fakes.pg_down()
    result, failed = run_module(genesis_strategy.main, dict(args, name="momentum", state="disabled"))
    assert failed and result["msg"].startswith("Strategy momentum was not changed because the audit trail cannot be written")
    assert strategies.posts == [] and "dbpa55" not in result["msg"]


def test_api_error_on_change(run_module, strategies, pg, args):
    broken(strategies)
    strategies.fail_post = (503, {"error": "unavailable", "message": "Redis is down."}, {})
    result, failed = run_module(genesis_strategy.main, dict(args, name="momentum", state="disabled", api_retries=0))
    assert failed and result["msg"].startswith("Strategy momentum was not disabled: Control API POST")
    assert "Redis is down" in result["msg"] and pg.events == [] and result["changed"] is False


@pytest.mark.parametrize("override, start", [
    (dict(name=" "), "name is empty"),
    (dict(state="paused"), "value of state must be one of"),
    (dict(api_key=""), "api_key (inventory variable genesis_api_key) is not set"),
])
def test_bad_input(run_module, strategies, args, override, start):
    result, failed = run_module(genesis_strategy.main, dict(dict(args, name="momentum", state="disabled"), **override))
    assert failed and result["msg"].startswith(start), result["msg"]
    assert strategies.posts == []
