# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest
import redis

import genesis_fakes
from ansible_collections.genesis.runbook.plugins.module_utils.cache import GenesisCache, GenesisCacheError
from ansible_collections.genesis.runbook.plugins.module_utils.db import GenesisDb, GenesisDbError, describe_dsn

DSN = "postgresql://genesis:dbpa55@127.0.0.1:5432/genesis"


def test_describe_dsn_never_shows_the_password():
    assert describe_dsn(DSN) == "postgresql://genesis:********@127.0.0.1:5432/genesis"
    assert describe_dsn("host=db port=5433 dbname=genesis user=g password=x") == "g@db:5433/genesis"


def test_connect_uses_timeouts_and_autocommit_reads(pg):
    db = GenesisDb(DSN, timeout=7)
    assert db.ping() >= 0
    conn = pg.connections[0]
    assert conn.kwargs["connect_timeout"] == 7
    assert conn.kwargs["options"] == "-c statement_timeout=7000"
    assert conn.autocommit is True
    pg.add_order("o1")
    assert db.query("SELECT count(*) AS n FROM orders") == [{"n": 1}]


def test_unreachable_is_one_sentence_without_password(pg):
    pg.connect_error = genesis_fakes.pg_down()
    with pytest.raises(GenesisDbError) as caught:
        GenesisDb(DSN).ping()
    message = str(caught.value)
    assert caught.value.unreachable
    assert "dbpa55" not in message and "\n" not in message
    assert message.startswith("PostgreSQL postgresql://genesis:********@127.0.0.1:5432/genesis is unreachable: connection to server")


def test_transaction_commits_or_rolls_back(pg):
    pg.add_order("o1")
    db = GenesisDb(DSN)
    with db.transaction() as cur:
        cur.execute("UPDATE orders SET status = 'CANCELLED', last_error = %s WHERE order_id = %s AND status = %s", ("x", "o1", "PENDING"))
    assert pg.order("o1")["status"] == "CANCELLED" and pg.commits == 1
    pg.order("o1")["status"] = "PENDING"
    with pytest.raises(RuntimeError):
        with db.transaction() as cur:
            cur.execute("UPDATE orders SET status = 'CANCELLED', last_error = %s WHERE order_id = %s AND status = %s", ("x", "o1", "PENDING"))
            raise RuntimeError("stop")
    assert pg.order("o1")["status"] == "PENDING" and pg.rollbacks == 1
    assert db.conn.autocommit is True


def test_query_error_is_a_sentence(pg):
    pg.errors["from positions"] = genesis_fakes.psycopg2.errors.UndefinedTable('relation "positions" does not exist\nLINE 1')
    with pytest.raises(GenesisDbError) as caught:
        GenesisDb(DSN).query("SELECT count(*) AS n FROM positions", what="counting positions")
    assert str(caught.value).endswith('counting positions failed: relation "positions" does not exist.')


def test_cache_reads_and_replaces_only_the_named_key(rds):
    rds.data = {"orderbook:BTCUSDT": {"bids": "[]"}, "orderbook:ETHUSDT": {"bids": "[]"}, "market:ticker:BTCUSDT": {"price": "1"}}
    cache = GenesisCache("redis://:r3dis@127.0.0.1:6379/0", timeout=3)
    assert cache.scan_keys("orderbook:*") == ["orderbook:BTCUSDT", "orderbook:ETHUSDT"]
    assert rds.kwargs["socket_timeout"] == 3 and rds.kwargs["socket_connect_timeout"] == 3
    cache.replace_hash("orderbook:BTCUSDT", {"bids": "[[1, 1]]", "ts": "1"})
    assert rds.data["orderbook:BTCUSDT"] == {"bids": "[[1, 1]]", "ts": "1"}
    assert rds.data["orderbook:ETHUSDT"] == {"bids": "[]"} and "market:ticker:BTCUSDT" in rds.data
    assert not any("FLUSH" in c for c in rds.commands)
    assert not hasattr(cache, "flushdb") and not hasattr(cache, "flushall")
    assert cache.ping() is True and cache.exists("orderbook:ETHUSDT")


def test_cache_unreachable_hides_password(rds):
    rds.fail = genesis_fakes.redis_down()
    with pytest.raises(GenesisCacheError) as caught:
        GenesisCache("redis://:r3dis@127.0.0.1:6379/0").hgetall("genesis:heartbeat")
    assert caught.value.unreachable
    assert str(caught.value) == ("Redis redis://:********@127.0.0.1:6379/0 is unreachable: "
                                 "Error 111 connecting to 127.0.0.1:6379. Connection refused.")


def test_cache_auth_error_names_variable(rds):
    rds.fail = redis.AuthenticationError("invalid password")
    with pytest.raises(GenesisCacheError) as caught:
        GenesisCache("redis://:r3dis@127.0.0.1:6379/0").ping()
    assert "genesis_redis_url" in str(caught.value) and "r3dis" not in str(caught.value)


def test_cache_other_errors(rds):
    rds.fail = redis.ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value")
    with pytest.raises(GenesisCacheError) as caught:
        GenesisCache("redis://127.0.0.1:6379/0").hgetall("k")
    assert "HGETALL k failed: WRONGTYPE" in str(caught.value)
