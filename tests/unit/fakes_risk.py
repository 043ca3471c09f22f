# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fakes of the tilt, position and emergency surfaces (control API, exchange, PostgreSQL) for the unit tests of
genesis_tilt*, genesis_notification, genesis_positions* and genesis_emergency*. They build on genesis_fakes and
behave like the lab's node (lab/genesis_lab/node/genesis.py): mutating endpoints answer changed=false when repeated."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import copy
import datetime
import decimal

import pytest

import genesis_fakes
from genesis_fakes import FakeConnection, FakeCursor, FakeExchange, FakePg, refused

UTC = datetime.timezone.utc
API = "http://127.0.0.1:8080"
API_KEY = "k3y-api-secret"
DSN = "postgresql://genesis:dbpa55@127.0.0.1:5432/genesis"
EX_KEY = "ex-k3y-0123456789"
EX_SECRET = "ex-s3cret-abcdef"


def iso(dt):
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (dt.microsecond // 1000)


def now():
    return datetime.datetime.now(UTC)


# ---------------------------------------------------------------------------- control API
class RiskApi(object):
    """GET/POST endpoints of contract sections 3.2, 3.3, 3.7, 3.8, 3.9 with the lab's semantics."""

    def __init__(self, http, base=API, api_key=API_KEY):
        self.http = http
        self.base = base
        self.api_key = api_key
        self.down = False
        self.tilt = {"profile_id": "tilt-acc-1", "score": 85.0, "level": "LEVEL3", "consecutive_losses": 6,
                     "lockout_expiration": None, "cooldown_active": False, "violations_last_hour": 3,
                     "last_intervention_at": "2026-11-18T21:31:52.812Z", "recent_events": []}
        self.tier = {"tier": "HUNTER", "max_position_size": 500, "limits_factor": 1.0,
                     "effective_max_position_size": 500.0, "state": "STABLE",
                     "tiers": {"SNIPER": 100, "HUNTER": 500, "STRATEGIST": 2000, "ARCHITECT": 10000}}
        self.notifications = []
        self.positions = [
            {"position_id": "pos-1", "symbol": "BTCUSDT", "side": "LONG", "quantity": 0.01172, "entry_price": 63000.0,
             "current_price": 64000.0, "dollar_value": 750.08, "status": "OPEN"},
            {"position_id": "pos-2", "symbol": "ETHUSDT", "side": "LONG", "quantity": 0.03, "entry_price": 3400.0,
             "current_price": 3400.0, "dollar_value": 102.0, "status": "OPEN"},
        ]
        self.monitored_at = iso(now())
        self.strategies = {"momentum": {"state": "RUNNING", "enabled": True},
                           "mean_reversion": {"state": "RUNNING", "enabled": True},
                           "cluster_arbitrage": {"state": "STOPPED", "enabled": False}}
        self.safe_mode = {"enabled": False, "since": None, "reason": None}
        self.halted = False
        self.tickers = {"BTCUSDT": {"price": 64000.0}, "ETHUSDT": {"price": 3400.0}}
        self.close_all_failures = {}  # position_id -> error
        self.posts = []
        gets = {"/tilt/status": lambda r: dict(self.tilt), "/config/tier": lambda r: dict(self.tier),
                "/admin/notifications": lambda r: {"notifications": list(reversed(self.notifications)),
                                                   "count": len(self.notifications)},
                "/positions": self._positions, "/admin/strategies": lambda r: {"strategies": copy.deepcopy(self.strategies)},
                "/admin/safe-mode": lambda r: dict(self.safe_mode),
                "/account/status": lambda r: {"account_id": "acc-1", "tier": self.tier["tier"], "halted": self.halted,
                                              "safe_mode": self.safe_mode["enabled"]},
                "/admin/websocket": lambda r: {"mode": "websocket", "connections": {}, "tickers": self.tickers}}
        posts = {"/admin/tilt/cooldown": self._cooldown, "/admin/limits": self._limits,
                 "/admin/notifications": self._notify, "/admin/safe-mode": self._safe,
                 "/emergency/close-all": self._close_all}
        for name in ("momentum", "mean_reversion", "cluster_arbitrage"):
            posts["/admin/strategies/%s/disable" % name] = self._disable
        for path, handler in gets.items():
            http.route("GET", base + path, self._auth(handler))
        for path, handler in posts.items():
            http.route("POST", base + path, self._auth(handler, post=True))

    def _auth(self, handler, post=False):
        def wrapped(request):
            if self.down:
                return refused()
            if request.headers.get("X-API-Key") != self.api_key:
                return (401, {"error": "unauthorized", "message": "A valid X-API-Key header is required."}, {})
            if post:
                self.posts.append((request.path, request.json()))
            outcome = handler(request)
            return outcome if isinstance(outcome, tuple) else (200, outcome, {})
        return wrapped

    def _positions(self, request):
        rows = [p for p in self.positions if p["status"] == "OPEN"]
        return {"positions": copy.deepcopy(rows), "count": len(rows), "monitored_at": self.monitored_at}

    def _cooldown(self, request):
        minutes = request.json()["minutes"]
        requested = now() + datetime.timedelta(minutes=minutes)
        current = self.tilt["lockout_expiration"]
        if current and datetime.datetime.fromisoformat(current.replace("Z", "+00:00")) >= requested - \
                datetime.timedelta(seconds=60):
            return {"changed": False, "lockout_expiration": current, "minutes": minutes}
        self.tilt.update(lockout_expiration=iso(requested), cooldown_active=True, last_intervention_at=iso(now()))
        return {"changed": True, "lockout_expiration": self.tilt["lockout_expiration"], "minutes": minutes}

    def _limits(self, request):
        factor = float(request.json()["factor"])
        before = self.tier["limits_factor"]
        if abs(before - factor) < 1e-9:
            return {"changed": False, "before": before, "factor": factor}
        self.tier.update(limits_factor=factor, effective_max_position_size=self.tier["max_position_size"] * factor,
                         state="PROTECTED" if factor < 1 else "STABLE")
        return {"changed": True, "before": before, "factor": factor}

    def _notify(self, request):
        body = request.json()
        item = dict(notification_id=len(self.notifications) + 1, kind=body["kind"], severity=body["severity"],
                    message=body["message"], created_at=iso(now()), acknowledged_at=None)
        self.notifications.append(item)
        return {"changed": True, "notification_id": item["notification_id"]}

    def _safe(self, request):
        body = request.json()
        before = self.safe_mode["enabled"]
        if before == body["enabled"]:
            return {"changed": False, "before": before, "enabled": before}
        self.safe_mode = {"enabled": body["enabled"], "since": iso(now()), "reason": body.get("reason")}
        return {"changed": True, "before": before, "enabled": body["enabled"]}

    def _disable(self, request):
        name = request.path.split("/")[3]
        before = dict(self.strategies[name])
        self.strategies[name] = {"state": "STOPPED", "enabled": False}
        changed = before != self.strategies[name]
        return {"changed": changed, "name": name, "before": before, "after": self.strategies[name], "state": "STOPPED"}

    def _close_all(self, request):
        if request.json().get("confirmation") != "CLOSE ALL POSITIONS":
            return (403, {"error": "confirmation_required", "message": "confirmation must be 'CLOSE ALL POSITIONS'."}, {})
        closed, failed = [], []
        for index, position in enumerate(p for p in self.positions if p["status"] == "OPEN"):
            error = self.close_all_failures.get(position["position_id"])
            if error:
                failed.append({"position_id": position["position_id"], "symbol": position["symbol"], "error": error})
                continue
            position.update(status="CLOSED", close_reason="emergency")
            closed.append({"position_id": position["position_id"], "symbol": position["symbol"],
                           "quantity": position["quantity"], "order_id": "ord-em-%d" % index,
                           "exchange_order_id": str(9000 + index), "price": position["current_price"]})
        return {"changed": bool(closed), "closed": closed, "failed": failed}


# ---------------------------------------------------------------------------- exchange
class RiskExchange(FakeExchange):
    """FakeExchange plus exchangeInfo, klines, openOrders and MARKET orders (filled at a set price)."""

    def __init__(self, http, base="http://exchange.test"):
        super(RiskExchange, self).__init__(http, base, api_key=EX_KEY, secret=EX_SECRET)
        self.prices = {"BTCUSDT": 64000.0, "ETHUSDT": 3400.0, "SOLUSDT": 150.0}
        self.lots = {"BTCUSDT": ("0.00001", "0.00001"), "ETHUSDT": ("0.0001", "0.0001"), "SOLUSDT": ("0.001", "0.001")}
        self.klines = {}
        self.placed = []
        self.reject_orders = None  # (http status, code, msg) to answer every new order with
        self.stray_open = []       # orders open at the exchange unknown to the database
        self.next_id = 7000
        for method, path, handler, signed in (
                ("GET", "/api/v3/exchangeInfo", self._info, False),
                ("GET", "/api/v3/klines", self._klines, False),
                ("GET", "/api/v3/openOrders", self._open_orders, True),
                ("POST", "/api/v3/order", self._order, True)):
            http.route(method, base + path, self._wrap(handler, signed))

    def set_crash(self, symbol, start, end, seconds=60, start_ms=1795800000000):
        """1 s klines moving linearly from start to end over `seconds`."""
        rows = []
        for i in range(seconds + 1):
            close = start + (end - start) * i / float(seconds)
            rows.append([start_ms + i * 1000, str(close), str(close), str(close), "%.8f" % close, "1", 0, "0", 1, "0", "0", "0"])
        self.klines[symbol] = rows

    def _info(self, request):
        symbol = request.query.get("symbol")
        step, min_qty = self.lots[symbol]
        return {"symbols": [{"symbol": symbol, "status": "TRADING", "filters": [
            {"filterType": "LOT_SIZE", "minQty": min_qty, "maxQty": "9000", "stepSize": step},
            {"filterType": "MIN_NOTIONAL", "minNotional": "5"}]}]}

    def _klines(self, request):
        rows = self.klines.get(request.query.get("symbol"), [])
        return rows[-int(request.query.get("limit", 500)):]

    def _open_orders(self, request):
        open_ids = [{"clientOrderId": c, "symbol": s, "status": "NEW"} for c, s in self.open_orders.items()]
        return open_ids + [dict(o) for o in self.stray_open if o["clientOrderId"] in self.open_orders]

    def _order(self, request):
        if self.halted:
            return (400, {"code": -3044, "msg": "Trading halted: system maintenance."})
        if self.reject_orders:
            return (self.reject_orders[0], {"code": self.reject_orders[1], "msg": self.reject_orders[2]})
        symbol, qty = request.query["symbol"], decimal.Decimal(request.query["quantity"])
        step = decimal.Decimal(self.lots[symbol][0])
        if qty <= 0 or qty % step != 0:
            return (400, {"code": -1013, "msg": "Filter failure: LOT_SIZE"})
        price = self.prices[symbol]
        self.next_id += 1
        order = {"symbol": symbol, "orderId": self.next_id, "clientOrderId": request.query.get("newClientOrderId"),
                 "side": request.query["side"], "type": "MARKET", "status": "FILLED", "executedQty": str(qty),
                 "cummulativeQuoteQty": str(float(qty) * price), "fills": [{"price": str(price), "qty": str(qty)}]}
        self.placed.append(order)
        return order


# ---------------------------------------------------------------------------- PostgreSQL
class RiskCursor(FakeCursor):
    def execute(self, sql, params=None):
        pg = self.pg
        text = " ".join(sql.split())
        low = text.lower()
        handled = self._risk(text, low, params)
        if handled is NotImplemented:
            return super(RiskCursor, self).execute(sql, params)
        pg.statements.append((text, params))
        return None

    def _write(self):
        if self.conn.autocommit:
            raise AssertionError("writes must run inside a transaction")
        self.conn.begin()

    def _risk(self, text, low, params):  # pylint: disable=too-many-return-statements
        pg = self.pg
        for needle, error in list(pg.errors.items()):
            if needle.lower() in low:
                raise error
        if low.startswith("select order_id, symbol, side, type, quantity, filled_quantity, price, status, strategy"):
            rows = sorted([o for o in pg.orders if o["status"] == "FILLED"],
                          key=lambda o: o.get("executed_at") or o["created_at"], reverse=True)[:params[0]]
            cols = ["order_id", "symbol", "side", "type", "quantity", "filled_quantity", "price", "status", "strategy",
                    "position_id", "created_at", "executed_at"]
            self._result(cols, [tuple(o.get(c) for c in cols) for o in rows])
            return None
        if low.startswith("select count(*) as n from tilt_events"):
            since = datetime.datetime.fromisoformat(params[0].replace("Z", "+00:00"))
            n = len([e for e in pg.tilt_events if e["event_type"] == "RISK_LIMIT_VIOLATION" and e["created_at"] > since])
            self._result(["n"], [(n,)])
            return None
        if low.startswith("select order_id, client_order_id, exchange_order_id, symbol, side, type, quantity, status, "
                          "strategy, created_at from orders where status in"):
            rows = sorted([o for o in pg.orders if o["status"] in ("PENDING", "PARTIAL")], key=lambda o: o["created_at"])
            cols = ["order_id", "client_order_id", "exchange_order_id", "symbol", "side", "type", "quantity", "status",
                    "strategy", "created_at"]
            self._result(cols, [tuple(o.get(c) for c in cols) for o in rows[:params[0]]])
            return None
        if low.startswith("select position_id, account_id, symbol, side, entry_price, quantity, status from positions"):
            row = pg.position_rows.get(params[0])
            cols = ["position_id", "account_id", "symbol", "side", "entry_price", "quantity", "status"]
            self._result(cols, [tuple(row[c] for c in cols)] if row else [])
            return None
        if low.startswith("insert into orders"):
            self._write()
            cols = ["order_id", "account_id", "position_id", "client_order_id", "exchange_order_id", "symbol", "side",
                    "price", "quantity", "filled_quantity", "status", "last_error", "strategy", "node", "executed_at"]
            order = dict(zip(cols, params))
            order.update(type="MARKET", created_at=pg.now)
            pg.orders.append(order)
            return None
        if low.startswith("update positions set quantity"):
            self._write()
            row = pg.position_rows[params[3]]
            if row["status"] == "OPEN":
                row.update(quantity=params[0], current_price=params[1], dollar_value=params[2])
            return None
        if low.startswith("update positions set status = 'closed'"):
            self._write()
            row = pg.position_rows[params[4]]
            if row["status"] == "OPEN":
                row.update(status="CLOSED", close_reason=params[0], current_price=params[1], pnl_dollars=params[2],
                           dollar_value=params[3])
            return None
        if low.startswith("update accounts set balance_usdt"):
            self._write()
            pg.accounts[params[1]] = pg.accounts.get(params[1], decimal.Decimal(0)) + params[0]
            return None
        return NotImplemented


class RiskConnection(FakeConnection):
    def cursor(self):
        return RiskCursor(self)

    def _state(self):
        return copy.deepcopy((self.pg.orders, self.pg.events, self.pg.next_event_id, self.pg.position_rows,
                              self.pg.accounts))

    def _restore(self, state):
        super(RiskConnection, self)._restore(state[:3])
        self.pg.position_rows, self.pg.accounts = copy.deepcopy(state[3]), copy.deepcopy(state[4])


class RiskPg(FakePg):
    def __init__(self):
        super(RiskPg, self).__init__()
        self.position_rows = {}
        self.accounts = {"acc-1": decimal.Decimal("5000")}
        self.tilt_events = []

    def connect(self, dsn, **kwargs):
        if self.connect_error is not None:
            raise self.connect_error
        conn = RiskConnection(self, dsn, kwargs)
        self.connections.append(conn)
        return conn

    def add_position(self, position_id, symbol, side, quantity, entry_price, status="OPEN"):
        self.position_rows[position_id] = dict(
            position_id=position_id, account_id="acc-1", symbol=symbol, side=side, status=status,
            entry_price=decimal.Decimal(str(entry_price)), quantity=decimal.Decimal(str(quantity)), close_reason=None)


# ---------------------------------------------------------------------------- fixtures
@pytest.fixture
def risk_api(http):
    return RiskApi(http)


@pytest.fixture
def risk_exchange(http):
    return RiskExchange(http)


@pytest.fixture
def risk_pg(monkeypatch):
    fake = RiskPg()
    from ansible_collections.genesis.runbook.plugins.module_utils import db
    monkeypatch.setattr(db.psycopg2, "connect", fake.connect)
    return fake


@pytest.fixture
def base_args(risk_exchange):
    return dict(api_key=API_KEY, db_dsn=DSN, exchange_url=risk_exchange.base, exchange_api_key=EX_KEY,
                exchange_api_secret=EX_SECRET, node_name="node1", run_id="run-9", api_retries=0)


__all__ = ["RiskApi", "RiskExchange", "RiskPg", "risk_api", "risk_exchange", "risk_pg", "base_args", "genesis_fakes"]
