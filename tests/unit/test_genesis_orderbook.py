# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""genesis_orderbook_info and genesis_orderbook."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import time

import pytest

import genesis_fakes
from ansible_collections.genesis.runbook.plugins.modules import genesis_orderbook, genesis_orderbook_info


def local_book(rds, symbol, mid, spread=0.2, age=0.5, crossed=False):
    bids = [[mid - spread / 2 - i * 0.1, 1.0] for i in range(20)]
    asks = [[mid + spread / 2 + i * 0.1, 1.0] for i in range(20)]
    if crossed:
        bids = [[mid * 1.02 - i * 0.1, 1.0] for i in range(20)]
    rds.data["orderbook:" + symbol] = {"bids": json.dumps(bids), "asks": json.dumps(asks), "lastUpdateId": "7",
                                       "ts": str(time.time() - age)}


@pytest.fixture
def books(rds, exchange_fake):
    for symbol, mid in (("BTCUSDT", 64000.0), ("ETHUSDT", 3120.0), ("SOLUSDT", 150.0)):
        exchange_fake.set_book(symbol, mid)
        local_book(rds, symbol, mid)
    rds.data["market:ticker:BTCUSDT"] = {"price": "64000"}
    return rds


@pytest.fixture
def args(exchange_fake):
    return dict(redis_url="redis://:r3dis@127.0.0.1:6379/0", exchange_url=exchange_fake.base,
                db_dsn="postgresql://genesis:dbpa55@127.0.0.1:5432/genesis", node_name="node1", run_id="run-13", scenario="13")


def test_info_in_sync(run_module, books, args):
    result, failed = run_module(genesis_orderbook_info.main, args)
    assert not failed and result["changed"] is False and result["in_sync"] is True and result["out_of_sync"] == []
    btc = result["symbols"]["BTCUSDT"]
    assert btc["local"]["best_bid"] == 63999.9 and btc["exchange"]["best_ask"] == 64000.1
    assert btc["deviation_bps"] == 0.0 and btc["local"]["crossed"] is False and btc["local"]["spread_bps"] > 0
    assert "_snapshot" not in btc
    assert sorted(result["symbols"]) == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]


def test_info_detects_crossed_deviating_stale_and_missing(run_module, books, args):
    local_book(books, "BTCUSDT", 64000.0, crossed=True)
    local_book(books, "ETHUSDT", 3200.0)
    local_book(books, "SOLUSDT", 150.0, age=60)
    result, failed = run_module(genesis_orderbook_info.main, dict(args, symbols=["btcusdt", "ETHUSDT", "SOLUSDT", "XRPUSDT"]),
                                check_mode=True)
    assert not failed and result["in_sync"] is False
    assert result["out_of_sync"] == ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"]
    symbols = result["symbols"]
    assert symbols["BTCUSDT"]["local"]["crossed"] is True and "crossed" in symbols["BTCUSDT"]["reasons"][0]
    assert symbols["ETHUSDT"]["deviation_bps"] > 10
    assert "old" in symbols["SOLUSDT"]["reasons"][0]
    assert "missing in Redis" in symbols["XRPUSDT"]["reasons"][0]


def test_info_tolerance(run_module, books, args):
    local_book(books, "ETHUSDT", 3122.0)  # about 6.4 bps off
    assert run_module(genesis_orderbook_info.main, dict(args, symbols=["ETHUSDT"]))[0]["in_sync"] is True
    result, _failed = run_module(genesis_orderbook_info.main, dict(args, symbols=["ETHUSDT"], tolerance_bps=5))
    assert result["in_sync"] is False


def test_info_no_books_is_not_in_sync(run_module, rds, exchange_fake, args):
    result, failed = run_module(genesis_orderbook_info.main, args)
    assert not failed and result["in_sync"] is False and result["symbols"] == {}


def test_resync_only_the_desynchronized_key(run_module, books, args, pg):
    local_book(books, "BTCUSDT", 64000.0, crossed=True)
    eth_before = dict(books.data["orderbook:ETHUSDT"])
    result, failed = run_module(genesis_orderbook.main, args, diff=True)
    assert not failed and result["changed"] is True and result["resynced"] == ["BTCUSDT"] and result["in_sync"] is True
    new = books.data["orderbook:BTCUSDT"]
    assert json.loads(new["bids"])[0] == ["63999.90", "1.0"] and len(json.loads(new["asks"])) == 20
    assert abs(float(new["ts"]) - time.time()) < 5 and new["lastUpdateId"] == "1000"
    assert books.data["orderbook:ETHUSDT"] == eth_before and "market:ticker:BTCUSDT" in books.data
    writes = [c for c in books.commands if not c.startswith(("HGETALL", "SCAN"))]
    assert writes == ["DELETE orderbook:BTCUSDT", "HSET orderbook:BTCUSDT"]
    actions = pg.events_of("runbook:node1", "RUNBOOK_ACTION")
    assert len(actions) == 1
    data = actions[0]["event_data"]
    assert data["step"] == "resync_orderbook" and data["before"]["crossed"] is True and data["after"]["best_bid"] == 63999.9
    assert result["symbols"]["ETHUSDT"]["in_sync_before"] is True
    assert result["diff"]["before"]["BTCUSDT"]["crossed"] is True


def test_resync_check_mode(run_module, books, args, pg):
    local_book(books, "BTCUSDT", 64000.0, crossed=True)
    before = json.dumps(books.data, sort_keys=True)
    result, failed = run_module(genesis_orderbook.main, args, check_mode=True)
    assert not failed and result["changed"] is True and result["resynced"] == ["BTCUSDT"]
    assert json.dumps(books.data, sort_keys=True) == before and pg.events == [] and result["audit_events"] == []


def test_resync_idempotent(run_module, books, args, pg):
    local_book(books, "ETHUSDT", 3300.0)
    first, _failed = run_module(genesis_orderbook.main, args)
    second, failed = run_module(genesis_orderbook.main, args)
    assert first["changed"] is True and not failed and second["changed"] is False and second["resynced"] == []
    assert len(pg.events) == 1


def test_resync_recreates_a_missing_book(run_module, books, args, pg):
    del books.data["orderbook:SOLUSDT"]
    result, failed = run_module(genesis_orderbook.main, dict(args, symbols=["BTCUSDT", "ETHUSDT", "SOLUSDT"]))
    assert not failed and result["resynced"] == ["SOLUSDT"] and "orderbook:SOLUSDT" in books.data


def test_resync_refuses_without_audit_trail(run_module, books, args, pg):
    local_book(books, "BTCUSDT", 64000.0, crossed=True)
    pg.connect_error = genesis_fakes.pg_down()
    result, failed = run_module(genesis_orderbook.main, args)
    assert failed and result["msg"].startswith("No order book was replaced because the audit trail cannot be written")
    assert "dbpa55" not in result["msg"] and json.loads(books.data["orderbook:BTCUSDT"]["bids"])[0][0] > 65000


def test_unknown_symbol_at_exchange_cannot_be_resynced(run_module, books, args, pg):
    result, failed = run_module(genesis_orderbook.main, dict(args, symbols=["BTCUSDT", "DOGEUSDT"]))
    assert failed and result["msg"].startswith("The books of DOGEUSDT cannot be resynchronized")
    assert pg.events == []


def test_redis_unreachable_hides_password(run_module, books, args):
    books.fail = genesis_fakes.redis_down()
    for main in (genesis_orderbook_info.main, genesis_orderbook.main):
        result, failed = run_module(main, args)
        assert failed and result["msg"].startswith("Redis redis://:********@127.0.0.1:6379/0 is unreachable")
        assert "r3dis" not in result["msg"]


def test_exchange_unreachable(run_module, books, exchange_fake, args):
    exchange_fake.down = True
    result, failed = run_module(genesis_orderbook_info.main, dict(args, api_retries=0))
    assert failed and result["msg"] == "Exchange GET http://exchange.test/api/v3/depth is unreachable: connection refused."


@pytest.mark.parametrize("override, option", [
    (dict(symbols=["BTC/USDT"]), "symbols"),
    (dict(symbols=[]), "symbols"),
    (dict(tolerance_bps=0), "tolerance_bps"),
    (dict(max_age=-1), "max_age"),
    (dict(redis_url=""), "redis_url"),
    (dict(redis_url="http://x"), "redis_url"),
])
def test_bad_input(run_module, books, args, override, option):
    for main in (genesis_orderbook_info.main, genesis_orderbook.main):
        result, failed = run_module(main, dict(args, **override))
        assert failed and result["msg"].startswith(option)
