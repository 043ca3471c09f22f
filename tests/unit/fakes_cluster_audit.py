# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fakes for the cluster (scenario 11) and audit trail (scenario 18) modules: the SQL they run on
top of genesis_fakes.FakePg, and the control-API endpoints /admin/cluster, /admin/strategies and
/admin/audit/verification on top of genesis_fakes.FakeHttp."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import copy
import datetime
import json

import genesis_fakes

UTC = datetime.timezone.utc
PHRASE = "HALT TRADING NOW"


def _ts(value):
    if isinstance(value, datetime.datetime):
        return value
    return datetime.datetime.strptime(value.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z")


class SqlExtension(object):
    """Handles the statements of module_utils/cluster.py and module_utils/audit_trail.py; everything
    else goes to the original FakeCursor.execute."""

    def __init__(self, original):
        self.original = original

    def __call__(self, cursor, sql, params=None):
        text = " ".join(sql.split())
        low = text.lower()
        pg = cursor.pg
        event_insert = "insert into events (event_type, aggregate_id, event_data, sequence_number) values (%s, %s, %s::jsonb, %s)"
        if low.startswith("insert") and not low.startswith(event_insert):
            if cursor.conn.autocommit:
                raise AssertionError("writes must run inside a transaction: %s" % text)
            for needle, error in list(pg.errors.items()):
                if needle.lower() in low:
                    raise error
            cursor.conn.begin()
            pg.statements.append((text, params))
            return self.insert_event(cursor, pg, low, params)
        handler = self.route(low)
        if handler is None:
            return self.original(cursor, sql, params)
        pg.statements.append((text, params))
        for needle, error in list(pg.errors.items()):
            if needle.lower() in low:
                raise error
        return handler(cursor, pg, params)

    def route(self, low):
        if low.startswith("select order_id, account_id, position_id") and "where node = %s and strategy = any(%s)" in low:
            return self.split_orders
        if low.startswith("select position_id, account_id, symbol") and "where position_id = any(%s)" in low:
            return self.positions
        if low.startswith("select aggregate_id, event_id, event_type, sequence_number, created_at from events"):
            return self.aggregate_events
        if low.startswith("select aggregate_id, event_id, event_data from events where aggregate_id = any(%s)"):
            return self.reconciled
        if low.startswith("select event_id, event_data, created_at from events where aggregate_id = %s"):
            return self.fence_record
        if low.startswith("with agg as"):
            return self.gaps
        if low.startswith("select aggregate_id, sequence_number from events where aggregate_id = any(%s)"):
            return self.keys
        if low.startswith("select event_id from events where event_id = any(%s)"):
            return self.taken
        return None

    # -- cluster --------------------------------------------------------------------------
    @staticmethod
    def split_orders(cursor, pg, params):
        node, strategies, since, limit = params
        chosen = sorted([o for o in pg.orders if o.get("node") == node and o.get("strategy") in strategies
                         and o["created_at"] >= since], key=lambda o: (o["created_at"], o["order_id"]))[:limit]
        columns = ["order_id", "account_id", "position_id", "client_order_id", "exchange_order_id", "symbol", "type", "side",
                   "price", "quantity", "filled_quantity", "status", "last_error", "strategy", "node", "created_at",
                   "executed_at"]
        cursor._result(columns, [tuple(o.get(c) for c in columns) for o in chosen])

    @staticmethod
    def positions(cursor, pg, params):
        columns = ["position_id", "account_id", "symbol", "side", "entry_price", "current_price", "quantity", "dollar_value",
                   "pnl_dollars", "status", "close_reason", "created_at", "closed_at", "updated_at"]
        chosen = sorted([p for p in pg.position_rows if p["position_id"] in params[0]], key=lambda p: p["position_id"])
        cursor._result(columns, [tuple(p.get(c) for c in columns) for p in chosen])

    @staticmethod
    def aggregate_events(cursor, pg, params):
        chosen = sorted([e for e in pg.events if e["aggregate_id"] in params[0]],
                        key=lambda e: (e["aggregate_id"], e["sequence_number"]))
        cursor._result(["aggregate_id", "event_id", "event_type", "sequence_number", "created_at"],
                       [(e["aggregate_id"], e["event_id"], e["event_type"], e["sequence_number"], e["created_at"])
                        for e in chosen])

    @staticmethod
    def reconciled(cursor, pg, params):
        chosen = [e for e in pg.events if e["aggregate_id"] in params[0] and e["event_type"] in params[1]]
        cursor._result(["aggregate_id", "event_id", "event_data"],
                       [(e["aggregate_id"], e["event_id"], copy.deepcopy(e["event_data"])) for e in chosen])

    @staticmethod
    def fence_record(cursor, pg, params):
        chosen = [e for e in pg.events if e["aggregate_id"] == params[0] and e["event_type"] == "RUNBOOK_ACTION"
                  and e["event_data"].get("step") == params[1]]
        chosen.sort(key=lambda e: e["sequence_number"], reverse=True)
        cursor._result(["event_id", "event_data", "created_at"],
                       [(e["event_id"], copy.deepcopy(e["event_data"]), e["created_at"]) for e in chosen[:1]])

    # -- audit trail ----------------------------------------------------------------------
    @staticmethod
    def gaps(cursor, pg, params):
        by = {}
        for e in pg.events:
            by.setdefault(e["aggregate_id"], set()).add(e["sequence_number"])
        rows = []
        for aggregate in sorted(by):
            numbers = by[aggregate]
            if max(numbers) != len(numbers):
                rows.extend((aggregate, n) for n in range(1, max(numbers) + 1) if n not in numbers)
        cursor._result(["aggregate_id", "sequence_number"], rows[:params[0]])

    @staticmethod
    def keys(cursor, pg, params):
        cursor._result(["aggregate_id", "sequence_number"],
                       [(e["aggregate_id"], e["sequence_number"]) for e in pg.events if e["aggregate_id"] in params[0]])

    @staticmethod
    def taken(cursor, pg, params):
        cursor._result(["event_id"], [(e["event_id"],) for e in pg.events if e["event_id"] in params[0]])

    @staticmethod
    def insert_event(cursor, pg, low, params):
        if low.startswith("insert into events (event_id,"):
            event_id, event_type, aggregate, payload, sequence, created = params
        else:
            event_type, aggregate, payload, sequence, created = params
            event_id = pg.next_event_id
        if any(e["event_id"] == event_id for e in pg.events) or any(
                e["aggregate_id"] == aggregate and e["sequence_number"] == sequence for e in pg.events):
            return cursor._result(["event_id"], [])
        pg.events.append(dict(event_id=event_id, event_type=event_type, aggregate_id=aggregate,
                              event_data=json.loads(payload), sequence_number=sequence, created_at=_ts(created)))
        pg.next_event_id = max(pg.next_event_id, event_id + 1)
        return cursor._result(["event_id"], [(event_id,)])


def install(monkeypatch, pg):
    """Route the extra SQL through the fake PostgreSQL `pg` (adds pg.position_rows)."""
    pg.position_rows = []
    monkeypatch.setattr(genesis_fakes.FakeCursor, "execute", _bind(SqlExtension(genesis_fakes.FakeCursor.execute)))
    return pg


def _bind(extension):
    def execute(self, sql, params=None):
        return extension(self, sql, params)
    return execute


def add_order(pg, order_id, node="node2", strategy="cluster_arbitrage", status="FILLED", age_s=30, position_id=None, **extra):
    return pg.add_order(order_id, status=status, age_s=age_s, node=node, strategy=strategy, position_id=position_id,
                        account_id="acct-%s" % node, **extra)


def add_position(pg, position_id, status="OPEN", age_s=30, **extra):
    row = dict(position_id=position_id, account_id="acct-node2", symbol="BTCUSDT", side="LONG", entry_price=64000.0,
               current_price=64010.0, quantity=0.0003, dollar_value=19.2, pnl_dollars=0.0, status=status,
               close_reason=None, created_at=pg.now - datetime.timedelta(seconds=age_s), closed_at=None,
               updated_at=pg.now)
    row.update(extra)
    pg.position_rows.append(row)
    return row


# ---------------------------------------------------------------------------- control API
class FakeClusterApi(object):
    """GET/POST /admin/cluster, GET /admin/strategies and GET/POST /admin/audit/verification."""

    def __init__(self, http, base="http://127.0.0.1:8080", api_key="k3y-api-secret", node="node2"):
        self.http = http
        self.base = base
        self.api_key = api_key
        self.down = False
        self.posts = []
        self.cluster = {"node": node, "cluster": "glab", "role": "primary", "term": 2, "fenced": False, "priority": 2,
                        "fenced_at": None, "fenced_by": None, "split_brain": False,
                        "lease": {"holder": node, "term": 2, "expires_at": "2999-01-01T00:00:00.000Z"},
                        "peers": {"node1": {"url": "http://node1:8080", "reachable": False, "role": "primary", "term": 1,
                                            "fenced": False, "last_seen_age_s": 9.5}},
                        "last_state_change": "2026-11-27T18:40:07.000Z"}
        self.strategies = {"mean_reversion": {"state": "RUNNING", "primary_only": False},
                           "momentum": {"state": "RUNNING", "primary_only": False},
                           "cluster_arbitrage": {"state": "RUNNING", "primary_only": True}}
        self.verification = False
        http.route("GET", base + "/admin/cluster", self._auth(lambda r: (200, copy.deepcopy(self.cluster), {})))
        http.route("POST", base + "/admin/cluster", self._auth(self._set_cluster))
        http.route("GET", base + "/admin/strategies", self._auth(lambda r: (200, {"strategies": copy.deepcopy(self.strategies)}, {})))
        http.route("GET", base + "/admin/audit/verification", self._auth(lambda r: (200, {"enabled": self.verification}, {})))
        http.route("POST", base + "/admin/audit/verification", self._auth(self._set_verification))

    def _auth(self, handler):
        def wrapped(request):
            if self.down:
                return genesis_fakes.refused()
            if request.headers.get("X-API-Key") != self.api_key:
                return (401, {"error": "unauthorized", "message": "Missing or invalid X-API-Key."}, {})
            return handler(request)
        return wrapped

    def snapshot(self):
        return {"role": self.cluster["role"], "term": self.cluster["term"], "fenced": self.cluster["fenced"]}

    def _set_cluster(self, request):
        body = request.json()
        self.posts.append(body)
        if body.get("fenced") is True and body.get("confirmation") != PHRASE:
            return (403, {"error": "confirmation_required", "message": "Fencing needs confirmation '%s'." % PHRASE}, {})
        before = self.snapshot()
        if "fenced" in body:
            self.cluster["fenced"] = body["fenced"]
        if "role" in body:
            self.cluster["role"] = body["role"]
        after = self.snapshot()
        return (200, {"changed": before != after, "before": before, "after": after}, {})

    def _set_verification(self, request):
        body = request.json()
        self.posts.append(body)
        if not isinstance(body.get("enabled"), bool):
            return (400, {"error": "bad_request", "message": "enabled must be a boolean."}, {})
        before = self.verification
        self.verification = body["enabled"]
        return (200, {"changed": before != body["enabled"], "before": before, "enabled": body["enabled"]}, {})


def audit_line(event_id, event_type, aggregate, sequence, data=None, created_at="2026-11-26T10:00:01.000Z"):
    return json.dumps({"timestamp": created_at, "level": "info", "event": "audit_event", "logger": "audit",
                       "event_id": event_id, "event_type": event_type, "aggregate_id": aggregate,
                       "sequence_number": sequence, "event_data": data or {}, "created_at": created_at})
