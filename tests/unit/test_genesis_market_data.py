# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""genesis_market_data_info and genesis_market_data (runbook scenario 3)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import time

import pytest

import genesis_fakes
from fakes_market_data import FakeClock, FeedApi, MarketRedis, feed
from ansible_collections.genesis.runbook.plugins.module_utils import market_data
from ansible_collections.genesis.runbook.plugins.modules import genesis_market_data, genesis_market_data_info

API = "http://127.0.0.1:8080"
ARGS = dict(api_key="k3y-api-secret", exchange_url="http://exchange.test", exchange_api_key="ex-k3y-0123456789",
            redis_url="redis://:r3dis@127.0.0.1:6379/0", db_dsn="postgresql://genesis:dbpa55@127.0.0.1:5432/genesis",
            node_name="node1", run_id="run-3", scenario="3", symbols=["BTCUSDT", "ETHUSDT", "SOLUSDT"])
PROGRAMS = [
    {"name": "market_data", "group": "genesis", "statename": "RUNNING", "pid": 4243, "start": 1000, "now": 1812,
     "exitstatus": 0, "spawnerr": "", "description": "pid 4243, uptime 0:13:32"},
    {"name": "executor", "group": "genesis", "statename": "RUNNING", "pid": 4244, "start": 1000, "now": 1812,
     "exitstatus": 0, "spawnerr": "", "description": "pid 4244, uptime 0:13:32"},
]


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(market_data, "time", fake)
    return fake


@pytest.fixture
def api(http, exchange_fake):
    return FeedApi(http, API)


@pytest.fixture
def cache(monkeypatch):
    fake = MarketRedis()
    from ansible_collections.genesis.runbook.plugins.module_utils import cache as cache_utils
    monkeypatch.setattr(cache_utils.redis, "from_url", fake.from_url)
    return fake


@pytest.fixture
def sockets():
    server = genesis_fakes.Supervisord(programs=PROGRAMS)
    yield server.path
    server.stop()


def info(run_module, **extra):
    return run_module(genesis_market_data_info.main, dict(ARGS, **extra))


def put_keys(cache, now, age, symbols=("BTCUSDT", "ETHUSDT", "SOLUSDT")):
    for symbol in symbols:
        cache.data["market:ticker:" + symbol] = {"price": "100.0", "ts": "%.3f" % (now - age), "source": "websocket"}
        cache.data["orderbook:" + symbol] = {"bids": "[]", "asks": "[]", "lastUpdateId": "7", "ts": "%.3f" % (now - age)}


# ---------------------------------------------------------------------------- genesis_market_data_info
def test_info_healthy(run_module, api, sockets):
    result, failed = info(run_module, supervisor_socket=sockets)
    assert not failed and result["changed"] is False
    assert result["healthy"] is True and result["reasons"] == [] and result["websocket_healthy"] is True
    assert result["fresh"] is True and result["mode"] == "websocket" and result["degraded"] is False
    assert result["exchange"]["reachable"] is True and result["exchange"]["status"] == 0
    assert result["exchange"]["url"] == "http://exchange.test"
    assert result["program"] == {"name": "genesis:market_data", "state": "RUNNING", "pid": 4243, "error": None}
    assert result["condition_met"] is None and result["prices_updating"] is None


def test_info_detects_stale_disconnected_and_missing(run_module, api):
    api.feeds = [feed(state="disconnected", age=14.2, message_age=14.2, error="lab fault: streams closed",
                      symbols=("BTCUSDT", "ETHUSDT"))]
    result, failed = info(run_module)
    assert not failed and result["healthy"] is False
    assert result["stale"] == ["BTCUSDT", "ETHUSDT", "SOLUSDT"] and result["disconnected"] == ["backup", "execution", "monitoring"]
    assert "BTCUSDT price is 14.2 s old (max 10 s)" in result["reasons"]
    assert "SOLUSDT price is missing (max 10 s)" in result["reasons"]
    assert "websocket execution is disconnected (lab fault: streams closed)" in result["reasons"]
    assert result["max_ticker_age_s"] == 14.2


def test_info_detects_a_silent_stream_and_a_needless_fallback(run_module, api):
    api.feeds = [feed(message_age=30.0)]
    result, _failed = info(run_module)
    assert result["silent"] == ["backup", "execution", "monitoring"] and result["websocket_healthy"] is False
    assert "websocket execution is connected but silent for 30.0 s" in result["reasons"]
    api.feeds = [feed(mode="rest")]
    result, _failed = info(run_module)
    assert result["fallback_active"] is True and result["degraded"] is True and result["fresh"] is True
    assert result["reasons"] == ["the REST fallback is still active although every websocket is connected"]


def test_info_unreachable_exchange_is_evidence(run_module, api, exchange_fake):
    exchange_fake.down = True
    result, failed = info(run_module, api_retries=0)
    assert not failed and result["exchange"]["reachable"] is False
    assert result["exchange"]["error"] == "Exchange GET http://exchange.test/api/v3/ping is unreachable: connection refused."


def test_info_without_exchange_check_needs_no_exchange(run_module, api, http):
    result, failed = info(run_module, exchange_check=False, exchange_url="")
    assert not failed and result["exchange"] is None
    assert not [c for c in http.calls if "exchange.test" in c.url]


def test_info_unreadable_supervisor_is_evidence(run_module, api):
    result, failed = info(run_module, supervisor_socket="/nonexistent/supervisor.sock")
    assert not failed and result["program"]["state"] is None
    assert result["program"]["error"].startswith("supervisord socket /nonexistent/supervisor.sock is unreachable")


def test_info_api_unreachable_fails_naming_the_endpoint(run_module, api):
    api.down = True
    result, failed = info(run_module, api_retries=0)
    assert failed and result["msg"] == "Control API GET http://127.0.0.1:8080/admin/websocket is unreachable: connection refused."


def test_info_rejected_key_names_the_variable(run_module, api):
    result, failed = info(run_module, api_key="wrong-key")
    assert failed and "genesis_api_key" in result["msg"] and "wrong-key" not in result["msg"]


def test_info_waits_for_reconnected_streams(run_module, api, clock):
    api.feeds = [feed(state="reconnecting", age=12.0)] * 3 + [feed()]
    result, failed = info(run_module, exchange_check=False, wait_for="websocket", wait_timeout=15)
    assert not failed and result["condition_met"] is True and result["websocket_healthy"] is True
    # 3 polls down, then the healthy state must hold 2 s (5 polls 0.5 s apart)
    assert 3.0 <= result["waited_s"] <= 4.0 and clock.sleeps == [0.5] * 7


def test_info_a_flapping_stream_is_not_recovered(run_module, api, clock):
    api.feeds = [feed(), feed(state="disconnected", age=11.0)] * 20
    result, failed = info(run_module, exchange_check=False, wait_for="websocket", wait_timeout=5)
    assert not failed and result["condition_met"] is False and result["waited_s"] <= 5.5


def test_info_wait_gives_up_at_the_bound(run_module, api, clock):
    api.feeds = [feed(state="disconnected", age=30.0)]
    result, failed = info(run_module, exchange_check=False, wait_for="websocket", wait_timeout=3)
    assert not failed and result["condition_met"] is False and result["disconnected"]
    assert result["waited_s"] == 3.0


def test_info_updating_needs_moving_timestamps(run_module, api, clock):
    api.feeds = [feed(age=0.5)]        # the same age at every read: the timestamp moves with the clock
    result, _failed = info(run_module, exchange_check=False, wait_for="updating", wait_timeout=10)
    assert result["condition_met"] is True and result["prices_updating"] is True

    frozen = []
    for step in range(40):             # the age grows with the clock: the timestamp never moves
        frozen.append(feed(age=0.5 + step * 0.5))
    api.feeds = frozen
    result, _failed = info(run_module, exchange_check=False, wait_for="updating", wait_timeout=3)
    assert result["condition_met"] is False and result["prices_updating"] is False


@pytest.mark.parametrize("override, start", [
    (dict(symbols=["BTC/USDT"]), "symbols holds invalid symbols BTC/USDT"),
    (dict(symbols=[]), "symbols is empty"),
    (dict(max_age=0), "max_age must be greater than 0"),
    (dict(fresh_age=12), "fresh_age (12.0 s) must not be larger than max_age"),
    (dict(wait_timeout=601), "wait_timeout must be between 0 and 600"),
    (dict(stable_for=-1), "stable_for must be between 0 and 60"),
    (dict(exchange_url=""), "exchange_url (inventory variable genesis_exchange_url) is not set"),
    (dict(api_key=""), "api_key (inventory variable genesis_api_key) is not set"),
    (dict(api_url="ftp://x"), "api_url (inventory variable genesis_api_url) must be an http:// or https:// URL"),
])
def test_info_bad_input(run_module, api, override, start):
    result, failed = info(run_module, **override)
    assert failed and result["msg"].startswith(start), result["msg"]
    assert api.restarts == 0


# ---------------------------------------------------------------------------- genesis_market_data: clear_stale_keys
def test_clear_deletes_only_stale_market_data_keys(run_module, api, cache, pg):
    now = time.time()
    put_keys(cache, now, 30)
    put_keys(cache, now, 0.2, symbols=("ETHUSDT",))
    cache.data["runbook:sentinel"] = {"ts": "1"}                # old, but not market data
    cache.data["genesis:heartbeat"] = {"ts": "%.3f" % now}
    cache.data["market:ticker:XRPUSDT"] = {"price": "1"}       # no ts: reported, left alone
    result, failed = run_module(genesis_market_data.main, dict(ARGS, clear_stale_keys=True, symbols=None), diff=True)
    assert not failed and result["changed"] is True and result["steps"] == ["clear_stale_market_data"]
    assert sorted(result["cleared_keys"]) == ["market:ticker:BTCUSDT", "market:ticker:SOLUSDT",
                                              "orderbook:BTCUSDT", "orderbook:SOLUSDT"]
    assert result["unreadable_keys"] == ["market:ticker:XRPUSDT"]
    assert sorted(cache.data) == ["genesis:heartbeat", "market:ticker:ETHUSDT", "market:ticker:XRPUSDT",
                                  "orderbook:ETHUSDT", "runbook:sentinel"]
    assert not [c for c in cache.commands if c.startswith(("DEL", "FLUSH"))]
    events = pg.events_of("runbook:node1", "RUNBOOK_ACTION")
    assert len(events) == 1 and events[0]["event_data"]["step"] == "clear_stale_market_data"
    assert events[0]["event_data"]["scenario"] == "3" and len(events[0]["event_data"]["after"]["deleted"]) == 4
    assert result["diff"]["before"]["stale_keys"] and result["diff"]["after"]["stale_keys"] == []


def test_clear_check_mode_deletes_and_writes_nothing(run_module, api, cache, pg):
    put_keys(cache, time.time(), 30)
    before = dict(cache.data)
    result, failed = run_module(genesis_market_data.main, dict(ARGS, clear_stale_keys=True), check_mode=True)
    assert not failed and result["changed"] is True and len(result["cleared_keys"]) == 6
    assert cache.data == before and cache.evals == [] and pg.connections == [] and result["audit_events"] == []


def test_clear_is_idempotent(run_module, api, cache, pg):
    put_keys(cache, time.time(), 30)
    first, _failed = run_module(genesis_market_data.main, dict(ARGS, clear_stale_keys=True))
    second, failed = run_module(genesis_market_data.main, dict(ARGS, clear_stale_keys=True))
    assert first["changed"] is True and not failed and second["changed"] is False and second["cleared_keys"] == {}
    assert len(pg.events) == 1


def test_clear_keeps_a_key_refreshed_meanwhile(run_module, api, cache, pg):
    now = time.time()
    put_keys(cache, now, 30, symbols=("BTCUSDT",))

    def refresh(key):
        if key == "market:ticker:BTCUSDT":
            cache.data[key]["ts"] = "%.3f" % time.time()
    cache.before_eval = refresh
    result, failed = run_module(genesis_market_data.main, dict(ARGS, clear_stale_keys=True, symbols=["BTCUSDT"]))
    assert not failed and result["kept_keys"] == ["market:ticker:BTCUSDT"]
    assert list(result["cleared_keys"]) == ["orderbook:BTCUSDT"] and "market:ticker:BTCUSDT" in cache.data


def test_clear_refuses_without_audit_trail(run_module, api, cache, pg):
    put_keys(cache, time.time(), 30)
    pg.connect_error = genesis_fakes.pg_down()
    result, failed = run_module(genesis_market_data.main, dict(ARGS, clear_stale_keys=True))
    assert failed and result["msg"].startswith("The market-data feed was not changed because the audit trail cannot be written")
    assert "dbpa55" not in result["msg"] and len(cache.data) == 6 and cache.evals == []


def test_clear_redis_unreachable_hides_password(run_module, api, cache):
    cache.fail = genesis_fakes.redis_down()
    result, failed = run_module(genesis_market_data.main, dict(ARGS, clear_stale_keys=True))
    assert failed and result["msg"].startswith("Redis redis://:********@127.0.0.1:6379/0 is unreachable")
    assert "r3dis" not in result["msg"]


def test_delete_if_older_refuses_other_keys(cache):
    from ansible_collections.genesis.runbook.plugins.module_utils.cache import GenesisCache, GenesisCacheError
    client = GenesisCache("redis://127.0.0.1:6379/0")
    with pytest.raises(GenesisCacheError, match="not a market-data key"):
        market_data.delete_if_older(client, "genesis:heartbeat", time.time())
    assert cache.evals == []


# ---------------------------------------------------------------------------- genesis_market_data: restart_streams, mode
def test_restart_only_when_a_stream_is_down(run_module, api, pg):
    api.feeds = [feed(state="disconnected", age=20.0)]
    result, failed = run_module(genesis_market_data.main, dict(ARGS, restart_streams=True), diff=True)
    assert not failed and result["changed"] is True and result["steps"] == ["restart_websocket"] and api.restarts == 1
    assert result["connections"] == {"backup": "disconnected", "execution": "disconnected", "monitoring": "disconnected"}
    event = pg.events_of("runbook:node1", "RUNBOOK_ACTION")[0]
    assert event["event_data"]["step"] == "restart_websocket"
    assert event["event_data"]["after"] == {"requested_at": "2026-11-27T18:41:00.000Z"}
    assert result["diff"]["after"]["connections"]["execution"] == "reconnecting"
    # the streams are back: a second call changes nothing
    second, failed = run_module(genesis_market_data.main, dict(ARGS, restart_streams=True))
    assert not failed and second["changed"] is False and api.restarts == 1 and len(pg.events) == 1


def test_restart_force(run_module, api, pg):
    result, failed = run_module(genesis_market_data.main, dict(ARGS, restart_streams=True, force=True))
    assert not failed and result["changed"] is True and api.restarts == 1


def test_restart_check_mode_posts_nothing(run_module, api, pg):
    api.feeds = [feed(state="disconnected", age=20.0)]
    result, failed = run_module(genesis_market_data.main, dict(ARGS, restart_streams=True), check_mode=True)
    assert not failed and result["changed"] is True and result["restarted"] is True
    assert api.restarts == 0 and pg.connections == []


def test_restart_api_error_names_the_step(run_module, api, http, pg):
    api.feeds = [feed(state="disconnected", age=20.0)]
    http.route("POST", API + "/admin/websocket/restart", (503, {"error": "unavailable", "message": "redis is down"}, {}))
    result, failed = run_module(genesis_market_data.main, dict(ARGS, restart_streams=True))
    assert failed and result["msg"] == ("Step restart_websocket failed (done before it: nothing): Control API POST "
                                        "http://127.0.0.1:8080/admin/websocket/restart answered HTTP 503 unavailable: "
                                        "redis is down.")
    assert pg.events == []


def test_switch_to_rest_and_back(run_module, api, pg):
    result, failed = run_module(genesis_market_data.main, dict(ARGS, mode="rest"), diff=True)
    assert not failed and result["changed"] is True and result["steps"] == ["switch_to_rest"]
    assert result["mode"] == {"before": "websocket", "after": "rest"} and api.mode_posts == ["rest"]
    assert result["diff"] == {"before": {"mode": "websocket"}, "after": {"mode": "rest"}}
    again, failed = run_module(genesis_market_data.main, dict(ARGS, mode="rest"))
    assert not failed and again["changed"] is False and api.mode_posts == ["rest"]
    back, failed = run_module(genesis_market_data.main, dict(ARGS, mode="websocket"))
    assert not failed and back["steps"] == ["switch_to_websocket"]
    steps = [e["event_data"]["step"] for e in pg.events_of("runbook:node1", "RUNBOOK_ACTION")]
    assert steps == ["switch_to_rest", "switch_to_websocket"]


def test_switch_check_mode(run_module, api, pg):
    result, failed = run_module(genesis_market_data.main, dict(ARGS, mode="rest"), check_mode=True)
    assert not failed and result["changed"] is True and api.mode_posts == [] and pg.connections == []


def test_audit_trail_down_changes_nothing(run_module, api, pg):
    api.feeds = [feed(state="disconnected", age=20.0)]
    pg.connect_error = genesis_fakes.pg_down()
    result, failed = run_module(genesis_market_data.main, dict(ARGS, restart_streams=True, mode="rest"))
    assert failed and "audit trail cannot be written" in result["msg"]
    assert api.restarts == 0 and api.mode_posts == []


@pytest.mark.parametrize("override, start", [
    (dict(), "Nothing to do: set clear_stale_keys, restart_streams or mode."),
    (dict(restart_streams=True, max_age=-1), "max_age must be greater than 0"),
    (dict(clear_stale_keys=True, symbols=["btc usdt"]), "symbols holds invalid symbols btc usdt"),
    (dict(clear_stale_keys=True, redis_url=""), "redis_url (inventory variable genesis_redis_url) is not set"),
    (dict(restart_streams=True, api_key=""), "api_key (inventory variable genesis_api_key) is not set"),
])
def test_action_bad_input(run_module, api, cache, pg, override, start):
    result, failed = run_module(genesis_market_data.main, dict(ARGS, **override))
    assert failed and result["msg"].startswith(start), result["msg"]
    assert api.restarts == 0 and api.mode_posts == [] and pg.events == []


def test_action_api_unreachable(run_module, api):
    api.down = True
    result, failed = run_module(genesis_market_data.main, dict(ARGS, restart_streams=True, api_retries=0))
    assert failed and result["msg"] == "Control API GET http://127.0.0.1:8080/admin/websocket is unreachable: connection refused."
