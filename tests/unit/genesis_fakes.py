# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""In-memory stand-ins for open_url, a genesis control API, a Binance-like exchange, PostgreSQL and Redis."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import copy
import datetime
import email.message
import fnmatch
import hashlib
import hmac
import io
import json
import re
import os
import socket
import socketserver
import tempfile
import threading
import time
import xmlrpc.client
from urllib.error import HTTPError, URLError
from urllib.parse import parse_qsl, urlsplit
from xmlrpc.server import SimpleXMLRPCDispatcher, SimpleXMLRPCRequestHandler

import psycopg2
import psycopg2.errors
import redis

UTC = datetime.timezone.utc


def refused():
    return URLError(ConnectionRefusedError(111, "Connection refused"))


def timed_out():
    return URLError(socket.timeout("timed out"))


# ---------------------------------------------------------------------------- HTTP
class Request(object):
    def __init__(self, method, url, headers, data, kwargs):
        parts = urlsplit(url)
        self.method = method
        self.url = url
        self.base = "%s://%s%s" % (parts.scheme, parts.netloc, parts.path)
        self.path = parts.path
        self.query_string = parts.query
        self.query = dict(parse_qsl(parts.query, keep_blank_values=True))
        self.headers = dict(headers or {})
        self.data = data
        self.kwargs = kwargs

    def json(self):
        return json.loads(self.data) if self.data else None


class FakeResponse(object):
    def __init__(self, status, body, headers):
        self.status = status
        self._body = body
        self.headers = headers

    def getcode(self):
        return self.status

    def read(self):
        return self._body


def _headers(values):
    message = email.message.Message()
    for key, value in (values or {}).items():
        message[key] = str(value)
    return message


class FakeHttp(object):
    """Replaces open_url. Routes map (METHOD, url without query) to a handler(request) returning
    (status, body, headers) or an exception to raise; a list of outcomes is consumed in order."""

    def __init__(self):
        self.routes = {}
        self.calls = []

    def route(self, method, url, handler):
        self.routes[(method.upper(), url)] = handler

    def calls_to(self, path, method=None):
        return [c for c in self.calls if c.path == path and (method is None or c.method == method)]

    def open_url(self, url, data=None, headers=None, method=None, **kwargs):
        method = (method or ("POST" if data else "GET")).upper()
        request = Request(method, url, headers, data, kwargs)
        self.calls.append(request)
        handler = self.routes.get((method, request.base))
        if handler is None:
            outcome = (404, {"error": "not_found", "message": "no route %s %s" % (method, request.path)}, {})
        elif isinstance(handler, list):
            outcome = handler.pop(0) if len(handler) > 1 else handler[0]
        elif callable(handler):
            outcome = handler(request)
        else:
            outcome = handler
        if callable(outcome) and not isinstance(outcome, BaseException):
            outcome = outcome(request)
        if isinstance(outcome, BaseException):
            raise outcome
        status, body, response_headers = outcome
        if not isinstance(body, bytes):
            body = json.dumps(body).encode("utf-8")
        if status >= 400:
            raise HTTPError(url, status, "error", _headers(response_headers), io.BytesIO(body))
        return FakeResponse(status, body, _headers(response_headers))


class FakeGenesisApi(object):
    """The control API endpoints the modules use, with X-API-Key checks."""

    def __init__(self, http, base, api_key):
        self.http = http
        self.base = base
        self.api_key = api_key
        self.health = {"status": "healthy", "timestamp": "2026-11-27T18:40:01.123Z", "node": "node1",
                       "components": {"database": "up", "redis": "up"},
                       "heartbeat": {"last": "2026-11-27T18:40:00.000Z", "age_s": 1.2}, "safe_mode": False}
        self.health_status = 200
        self.ready = {"ready": True}
        self.breakers = {"binance_api": {"state": "closed", "failures": 0}, "api": {"state": "closed", "failures": 0},
                         "websocket": {"state": "closed", "failures": 0},
                         "orders": {"state": "open", "failures": 5, "opened_at": "2026-11-27T18:39:00.000Z"}}
        self.resets = []
        self.sections = {
            "/admin/websocket": {"mode": "websocket", "connections": {"execution": {"state": "connected"}},
                                 "tickers": {"BTCUSDT": {"price": 64000.1, "age_s": 0.5}}},
            "/admin/rate-limits": {"exchange_limit": 1200, "used_weight_1m": 240, "recent_429": 0},
            "/admin/strategies": {"strategies": {"momentum": {"state": "RUNNING", "errors_last_5m": 0}}},
            "/admin/safe-mode": {"enabled": False, "since": None, "reason": None},
            "/admin/cluster": {"node": "node1", "role": "primary", "term": 3, "fenced": False},
            "/tilt/status": {"score": 12.5, "level": "NORMAL"},
            "/account/status": {"account_id": "acc-1", "tier": "HUNTER", "halted": False},
            "/config/tier": {"tier": "HUNTER", "max_position_size": 500},
            "/positions": {"positions": [{"position_id": "pos-1", "symbol": "BTCUSDT", "dollar_value": 320.5}],
                           "count": 1, "monitored_at": "2026-11-27T18:40:01.123Z"},
        }
        self.down = False
        http.route("GET", base + "/health", self._health)
        http.route("GET", base + "/health/ready", self._ready)
        http.route("GET", base + "/admin/circuit-breakers", self._auth(lambda r: (200, {"breakers": copy.deepcopy(self.breakers)}, {})))
        for name in self.breakers:
            http.route("POST", base + "/admin/circuit-breakers/%s/reset" % name, self._auth(self._reset))
        for path in self.sections:
            http.route("GET", base + path, self._auth(self._section))

    def _auth(self, handler):
        def wrapped(request):
            if self.down:
                return refused()
            if request.headers.get("X-API-Key") != self.api_key:
                return (401, {"error": "unauthorized", "message": "Missing or invalid X-API-Key."}, {})
            return handler(request)
        return wrapped

    def _health(self, request):
        if self.down:
            return refused()
        return (self.health_status, self.health, {})

    def _ready(self, request):
        if self.down:
            return refused()
        return (200 if self.ready.get("ready") else 503, self.ready, {})

    def _section(self, request):
        return (200, self.sections[request.path], {})

    def _reset(self, request):
        name = request.path.split("/")[3]
        before = self.breakers[name]["state"]
        self.resets.append(name)
        self.breakers[name] = {"state": "closed", "failures": 0}
        return (200, {"changed": before != "closed", "name": name, "before": before, "state": "closed"}, {})


class FakeExchange(object):
    """GET ping/time/depth/status/account/order, POST order/test, DELETE order; checks signatures and recvWindow."""

    def __init__(self, http, base, api_key="ex-k3y-0123456789", secret="ex-s3cret-abcdef"):
        self.http = http
        self.base = base
        self.api_key = api_key
        self.secret = secret
        self.clock_offset_ms = 0
        self.status = {"status": 0, "msg": "normal"}
        self.used_weight = 0
        self.ban_seconds = None
        self.down = False
        self.halted = False
        self.books = {}
        self.open_orders = {}  # clientOrderId -> symbol
        self.final_orders = {}  # clientOrderId -> status (FILLED, CANCELED...)
        self.cancelled = []
        for method, path, handler, signed in (
                ("GET", "/api/v3/ping", lambda r: {}, False),
                ("GET", "/api/v3/time", lambda r: {"serverTime": self.server_ms()}, False),
                ("GET", "/sapi/v1/system/status", lambda r: self.status, False),
                ("GET", "/api/v3/depth", self._depth, False),
                ("GET", "/api/v3/account", lambda r: {"canTrade": True, "accountType": "SPOT", "balances": []}, True),
                ("POST", "/api/v3/order/test", self._test_order, True),
                ("DELETE", "/api/v3/order", self._cancel, True),
                ("GET", "/api/v3/order", self._get_order, True)):
            http.route(method, base + path, self._wrap(handler, signed))

    def server_ms(self):
        return int(time.time() * 1000) + self.clock_offset_ms

    def set_book(self, symbol, mid, spread=0.2, levels=20):
        bids = [["%.2f" % (mid - spread / 2 - i * 0.1), "1.0"] for i in range(levels)]
        asks = [["%.2f" % (mid + spread / 2 + i * 0.1), "1.0"] for i in range(levels)]
        self.books[symbol] = {"lastUpdateId": 1000 + len(self.books), "bids": bids, "asks": asks}

    def _wrap(self, handler, signed):
        def wrapped(request):
            if self.down:
                return refused()
            self.used_weight += 1
            headers = {"X-MBX-USED-WEIGHT-1M": self.used_weight}
            if self.ban_seconds:
                headers["Retry-After"] = self.ban_seconds
                return (429, {"code": -1003, "msg": "Too many requests."}, headers)
            if signed:
                error = self._check_signature(request)
                if error:
                    return (error[0], {"code": error[1], "msg": error[2]}, headers)
            outcome = handler(request)
            if isinstance(outcome, tuple):
                return (outcome[0], outcome[1], headers)
            return (200, outcome, headers)
        return wrapped

    def _check_signature(self, request):
        if request.headers.get("X-MBX-APIKEY") != self.api_key:
            return (401, -2015, "Invalid API-key, IP, or permissions for action.")
        query, _sep, signature = request.query_string.rpartition("&signature=")
        expected = hmac.new(self.secret.encode(), query.encode(), hashlib.sha256).hexdigest()
        if signature != expected:
            return (401, -2015, "Invalid API-key, IP, or permissions for action.")
        timestamp = int(request.query["timestamp"])
        window = int(request.query.get("recvWindow", 5000))
        now = self.server_ms()
        if timestamp > now + 1000 or now - timestamp > window:
            return (400, -1021, "Timestamp for this request is outside of the recvWindow.")
        return None

    def _depth(self, request):
        book = self.books.get(request.query.get("symbol"))
        if book is None:
            return (400, {"code": -1121, "msg": "Invalid symbol."})
        limit = int(request.query.get("limit", 100))
        return {"lastUpdateId": book["lastUpdateId"], "bids": book["bids"][:limit], "asks": book["asks"][:limit]}

    def _test_order(self, request):
        if self.halted:
            return (400, {"code": -3044, "msg": "Trading is halted."})
        if float(request.query.get("quantity", 0)) <= 0:
            return (400, {"code": -1013, "msg": "Invalid quantity."})
        return {}

    def _cancel(self, request):
        coid = request.query.get("origClientOrderId")
        if coid in self.open_orders:
            del self.open_orders[coid]
            self.final_orders[coid] = "CANCELED"
            self.cancelled.append(coid)
            return {"symbol": request.query["symbol"], "origClientOrderId": coid, "status": "CANCELED"}
        return (400, {"code": -2011, "msg": "Unknown order sent."})

    def _get_order(self, request):
        coid = request.query.get("origClientOrderId")
        if coid in self.open_orders:
            return {"clientOrderId": coid, "status": "NEW"}
        if coid in self.final_orders:
            return {"clientOrderId": coid, "status": self.final_orders[coid]}
        return (400, {"code": -2013, "msg": "Order does not exist."})


# ---------------------------------------------------------------------------- Redis
class FakePipeline(object):
    def __init__(self, owner):
        self.owner = owner
        self.ops = []

    def delete(self, key):
        self.ops.append(("delete", key))

    def hset(self, key, mapping=None):
        self.ops.append(("hset", key, dict(mapping)))

    def execute(self):
        self.owner._check()
        results = []
        for op in self.ops:
            self.owner.commands.append(op[0].upper() + " " + op[1])
            if op[0] == "delete":
                results.append(1 if self.owner.data.pop(op[1], None) is not None else 0)
            else:
                self.owner.data.setdefault(op[1], {}).update(op[2])
                results.append(len(op[2]))
        return results


class FakeRedis(object):
    def __init__(self):
        self.data = {}
        self.fail = None
        self.url = None
        self.kwargs = None
        self.commands = []

    def from_url(self, url, **kwargs):
        self.url = url
        self.kwargs = kwargs
        return self

    def _check(self):
        if self.fail is not None:
            raise self.fail

    def ping(self):
        self._check()
        return True

    def hgetall(self, key):
        self._check()
        self.commands.append("HGETALL " + key)
        value = self.data.get(key)
        return dict(value) if isinstance(value, dict) else {}

    def exists(self, key):
        self._check()
        return int(key in self.data)

    def scan_iter(self, match=None, count=None):
        self._check()
        self.commands.append("SCAN " + str(match))
        return iter([k for k in sorted(self.data) if match is None or fnmatch.fnmatchcase(k, match)])

    def pipeline(self, transaction=True):
        return FakePipeline(self)

    def flushdb(self, *args, **kwargs):
        raise AssertionError("FLUSHDB must never be called")

    flushall = flushdb


def redis_down():
    return redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")


# ---------------------------------------------------------------------------- PostgreSQL
def _split_select(columns):
    names = []
    depth = 0
    current = ""
    for char in columns:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            names.append(current.strip())
            current = ""
        else:
            current += char
    names.append(current.strip())
    result = []
    for name in names:
        match = re.search(r"\s+as\s+(\w+)$", name, re.I)
        result.append(match.group(1) if match else name.split(".")[-1])
    return result


class FakeCursor(object):
    def __init__(self, conn):
        self.conn = conn
        self.pg = conn.pg
        self.description = None
        self.rowcount = -1
        self._rows = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def _result(self, columns, rows):
        self.description = [(c,) for c in columns]
        self._rows = list(rows)
        self.rowcount = len(self._rows)

    def fetchone(self):
        return self._rows.pop(0) if self._rows else None

    def fetchall(self):
        rows, self._rows = self._rows, []
        return rows

    def execute(self, sql, params=None):
        pg = self.pg
        if self.conn.closed:
            raise psycopg2.InterfaceError("connection already closed")
        text = " ".join(sql.split())
        low = text.lower()
        pg.statements.append((text, params))
        for needle, error in list(pg.errors.items()):
            if needle.lower() in low:
                raise error
        self.description = None
        self._rows = []
        if low.startswith(("savepoint", "release savepoint", "rollback to savepoint")):
            self.conn.savepoint(low)
            return
        if low == "select 1":
            return self._result(["?column?"], [(1,)])
        if low.startswith(("insert", "update")) and not self.conn.autocommit:
            self.conn.begin()
        elif low.startswith(("insert", "update")):
            raise AssertionError("writes must run inside a transaction: %s" % text)
        now = pg.now

        def age(order):
            return (now - order["created_at"]).total_seconds()

        if low.startswith("select count(*) as n from orders where status = 'pending' and created_at <"):
            older = params[0]
            return self._result(["n"], [(len([o for o in pg.orders if o["status"] == "PENDING" and age(o) > older]),)])
        match = re.match(r"select count\(\*\) as n from (\w+)$", low)
        if match:
            table = match.group(1)
            count = pg.positions if table == "positions" else len(getattr(pg, table))
            return self._result(["n"], [(count,)])
        if low.startswith("select status, count(*) as n from orders group by status"):
            counts = {}
            for order in pg.orders:
                counts[order["status"]] = counts.get(order["status"], 0) + 1
            return self._result(["status", "n"], sorted(counts.items()))
        if low.startswith("select coalesce(max(event_id), 0) as id from events"):
            return self._result(["id"], [(max([e["event_id"] for e in pg.events] or [0]),)])
        if low.startswith("select coalesce(max(sequence_number), 0) + 1 from events where aggregate_id = %s"):
            seqs = [e["sequence_number"] for e in pg.events if e["aggregate_id"] == params[0]]
            return self._result(["next"], [(max(seqs or [0]) + 1,)])
        if low.startswith("select event_id from events where event_type = %s and aggregate_id = %s"):
            rows = [(e["event_id"],) for e in pg.events if e["event_type"] == params[0] and e["aggregate_id"] == params[1]
                    and e["event_data"].get("run_id") == params[2] and e["event_data"].get("step") == params[3]]
            return self._result(["event_id"], rows[:1])
        if low.startswith("select") and " from orders " in low:
            columns = _split_select(re.match(r"select (.*?) from orders ", text, re.I).group(1))
            if "where status = 'filled'" in low:
                chosen = sorted([o for o in pg.orders if o["status"] == "FILLED"],
                                key=lambda o: o.get("executed_at") or o["created_at"], reverse=True)[:params[0]]
            elif "where status = 'pending' and created_at <" in low:
                chosen = sorted([o for o in pg.orders if o["status"] == "PENDING" and age(o) > params[0]],
                                key=lambda o: o["created_at"])[:params[1]]
            elif "where status = %s and created_at <" in low:
                chosen = sorted([o for o in pg.orders if o["status"] == params[0] and age(o) > params[1]],
                                key=lambda o: o["created_at"])[:params[2]]
            else:
                raise AssertionError("unexpected orders query: %s" % text)
            rows = []
            for order in chosen:
                values = dict(order, age_s=age(order))
                rows.append(tuple(values.get(c) for c in columns))
            return self._result(columns, rows)
        if low.startswith("insert into events"):
            event_type, aggregate, payload, sequence = params
            if pg.steal_sequence.get(aggregate):
                pg.steal_sequence[aggregate] -= 1
                pg.add_event("ORDER_SUBMITTED", aggregate, {"by": "concurrent writer"}, sequence, foreign=True)
            if any(e["aggregate_id"] == aggregate and e["sequence_number"] == sequence for e in pg.events):
                raise psycopg2.errors.UniqueViolation(
                    'duplicate key value violates unique constraint "events_aggregate_id_sequence_number_key"')
            event = pg.add_event(event_type, aggregate, json.loads(payload), sequence)
            return self._result(["event_id", "created_at"], [(event["event_id"], event["created_at"])])
        if low.startswith("update orders set status = 'cancelled', last_error = %s where order_id = %s and status = %s"):
            last_error, order_id, status = params
            changed = 0
            for order in pg.orders:
                if order["order_id"] == order_id and order["status"] == status:
                    order["status"] = "CANCELLED"
                    order["last_error"] = last_error
                    changed += 1
            self.rowcount = changed
            return
        raise AssertionError("unexpected SQL: %s" % text)


class FakeConnection(object):
    def __init__(self, pg, dsn, kwargs):
        self.pg = pg
        self.dsn = dsn
        self.kwargs = kwargs
        self.autocommit = False
        self.closed = False
        self._snapshot = None
        self._savepoints = []

    def cursor(self):
        return FakeCursor(self)

    def _state(self):
        return copy.deepcopy((self.pg.orders, self.pg.events, self.pg.next_event_id))

    def _restore(self, state):
        # events committed by concurrent writers survive our rollbacks
        foreign = [e for e in self.pg.events if e.get("foreign")]
        next_id = self.pg.next_event_id
        self.pg.orders, self.pg.events, _old_next = copy.deepcopy(state)
        known = set(e["event_id"] for e in self.pg.events)
        self.pg.events.extend(e for e in foreign if e["event_id"] not in known)
        self.pg.next_event_id = next_id

    def begin(self):
        if self._snapshot is None:
            self._snapshot = self._state()

    def savepoint(self, statement):
        if statement.startswith("savepoint"):
            self._savepoints.append(self._state())
        elif statement.startswith("release"):
            self._savepoints.pop()
        else:
            self._restore(self._savepoints[-1])

    def commit(self):
        self._snapshot = None
        self._savepoints = []
        self.pg.commits += 1

    def rollback(self):
        if self._snapshot is not None:
            self._restore(self._snapshot)
        self._snapshot = None
        self._savepoints = []
        self.pg.rollbacks += 1

    def close(self):
        if self._snapshot is not None:
            self.rollback()
        self.closed = True


class FakePg(object):
    def __init__(self):
        self.now = datetime.datetime.now(UTC)
        self.orders = []
        self.positions = 3
        self.events = []
        self.next_event_id = 1
        self.connect_error = None
        self.errors = {}  # SQL fragment -> exception raised when a statement contains it
        self.steal_sequence = {}  # aggregate -> how many INSERTs a concurrent writer races
        self.statements = []
        self.connections = []
        self.commits = 0
        self.rollbacks = 0

    def connect(self, dsn, **kwargs):
        if self.connect_error is not None:
            raise self.connect_error
        conn = FakeConnection(self, dsn, kwargs)
        self.connections.append(conn)
        return conn

    def add_order(self, order_id, status="PENDING", age_s=60, symbol="BTCUSDT", **extra):
        order = dict(order_id=order_id, client_order_id="gen-" + order_id, exchange_order_id=None, symbol=symbol, side="BUY",
                     type="MARKET", quantity=0.001, price=None, filled_quantity=0, status=status, last_error=None,
                     strategy="momentum", node="node1", created_at=self.now - datetime.timedelta(seconds=age_s),
                     executed_at=None)
        order.update(extra)
        self.orders.append(order)
        return order

    def add_event(self, event_type, aggregate, data, sequence, foreign=False):
        event = dict(event_id=self.next_event_id, event_type=event_type, aggregate_id=aggregate, event_data=data,
                     sequence_number=sequence, created_at=self.now)
        if foreign:
            event["foreign"] = True
        self.next_event_id += 1
        self.events.append(event)
        return event

    def order(self, order_id):
        return [o for o in self.orders if o["order_id"] == order_id][0]

    def events_of(self, aggregate=None, event_type=None):
        return [e for e in self.events if (aggregate is None or e["aggregate_id"] == aggregate)
                and (event_type is None or e["event_type"] == event_type)]


def pg_down():
    return psycopg2.OperationalError('connection to server at "127.0.0.1", port 5432 failed: Connection refused\n'
                                     '\tIs the server running on that host and accepting TCP/IP connections?')


# ---------------------------------------------------------------------------- supervisord
PROGRAMS = [
    {"name": "genesis", "group": "genesis", "statename": "RUNNING", "pid": 4242, "start": 1000, "now": 1812, "exitstatus": 0,
     "spawnerr": "", "description": "pid 4242, uptime 0:13:32"},
    {"name": "executor", "group": "genesis", "statename": "FATAL", "pid": 0, "start": 1000, "now": 1812, "exitstatus": 1,
     "spawnerr": "Exited too quickly", "description": "Exited too quickly"},
    {"name": "backup", "group": "backup", "statename": "STOPPED", "pid": 0, "start": 0, "now": 1812, "exitstatus": 0,
     "spawnerr": "", "description": "Not started"},
]


class _Namespace(object):
    programs = PROGRAMS

    @staticmethod
    def getAllProcessInfo():
        return _Namespace.programs

    @staticmethod
    def getProcessInfo(name):
        for program in _Namespace.programs:
            if "%s:%s" % (program["group"], program["name"]) == name or program["name"] == name:
                return program
        raise xmlrpc.client.Fault(10, "BAD_NAME: %s" % name)


class UnixXMLRPCServer(socketserver.UnixStreamServer, SimpleXMLRPCDispatcher):
    def __init__(self, path):
        SimpleXMLRPCDispatcher.__init__(self, allow_none=True, encoding=None)
        self.logRequests = False
        socketserver.UnixStreamServer.__init__(self, path, _Handler)
        self.register_function(_Namespace.getAllProcessInfo, "supervisor.getAllProcessInfo")
        self.register_function(_Namespace.getProcessInfo, "supervisor.getProcessInfo")


class _Handler(SimpleXMLRPCRequestHandler):
    rpc_paths = ("/RPC2",)
    disable_nagle_algorithm = False

    def address_string(self):
        return "unix"

    def log_message(self, *args):
        pass


class Supervisord(object):
    """A supervisord-like XML-RPC server on a unix socket (start/stop)."""

    def __init__(self, programs=None):
        _Namespace.programs = programs if programs is not None else PROGRAMS
        self.directory = tempfile.mkdtemp(prefix="sv-")
        self.path = os.path.join(self.directory, "supervisor.sock")
        self.server = UnixXMLRPCServer(self.path)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        os.unlink(self.path)
        os.rmdir(self.directory)


# ---------------------------------------------------------------------------- /proc
def make_proc(root, listeners, processes):
    """listeners: [(port, inode, ipv6)]; processes: {pid: (name, ppid, [inodes])}."""
    net = root / "net"
    net.mkdir(parents=True)
    header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    v4 = [header]
    v6 = [header]
    for index, (port, inode, ipv6) in enumerate(listeners):
        if ipv6:
            v6.append("   %d: 00000000000000000000000000000000:%04X 00000000000000000000000000000000:0000 0A 00000000:00000000 "
                      "00:00000000 00000000     0        0 %s 1 0000000000000000 100 0 0 10 0\n" % (index, port, inode))
        else:
            v4.append("   %d: 00000000:%04X 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 %s 1 "
                      "0000000000000000 100 0 0 10 0\n" % (index, port, inode))
    v4.append("   9: 0100007F:1F90 0100007F:D3C2 01 00000000:00000000 00:00000000 00000000     0        0 999 1\n")
    (net / "tcp").write_text("".join(v4))
    (net / "tcp6").write_text("".join(v6))
    for pid, (name, ppid, inodes) in processes.items():
        proc = root / str(pid)
        (proc / "fd").mkdir(parents=True)
        (proc / "comm").write_text(name + "\n")
        (proc / "stat").write_text("%d (%s) S %d 1 1 0 -1\n" % (pid, name, ppid))
        for fd, inode in enumerate(inodes):
            os.symlink("socket:[%s]" % inode, str(proc / "fd" / str(fd + 3)))
    (root / "meminfo").write_text("MemTotal:        4000000 kB\nMemFree:  100000 kB\nMemAvailable:    1000000 kB\n")
    (root / "loadavg").write_text("0.50 0.40 0.30 1/100 4242\n")
