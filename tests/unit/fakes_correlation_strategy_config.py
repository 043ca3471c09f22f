# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fakes of scenarios 12, 15 and 19: position_correlations and strategy orders in PostgreSQL, the strategy and
config endpoints of the control API, the exchange's klines, and a genesis_home tree."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import copy
import datetime
import json
import math
import random
import re

import genesis_fakes

UTC = datetime.timezone.utc
SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
GOOD = [[1.0, 0.82, 0.71], [0.82, 1.0, 0.76], [0.71, 0.76, 1.0]]


# ---------------------------------------------------------------------------- PostgreSQL
class CorrelationCursor(genesis_fakes.FakeCursor):
    def execute(self, sql, params=None):
        pg = self.pg
        text = " ".join(sql.split())
        low = text.lower()
        if low.startswith("select symbol_1, symbol_2, correlation_coefficient from position_correlations"):
            if self.conn.closed:
                raise genesis_fakes.psycopg2.InterfaceError("connection already closed")
            pg.statements.append((text, params))
            for needle, error in list(pg.errors.items()):
                if needle.lower() in low:
                    raise error
            rows = [(a, b, v) for (a, b), v in sorted(pg.correlations.items())]
            return self._result(["symbol_1", "symbol_2", "correlation_coefficient"], rows)
        if low.startswith("insert into position_correlations"):
            pg.statements.append((text, params))
            if self.conn.autocommit:
                raise AssertionError("writes must run inside a transaction: %s" % text)
            for needle, error in list(pg.errors.items()):
                if needle.lower() in low:
                    raise error
            self.conn.begin()
            pg.correlations[(params[0], params[1])] = params[2]
            return None
        if low.startswith("select status, count(*) as n, min(created_at) as first_at"):
            pg.statements.append((text, params))
            name, node, since = params
            since_dt = datetime.datetime.fromtimestamp(since, UTC)
            groups = {}
            for order in pg.orders:
                if order.get("strategy") == name and order.get("node") == node and order["created_at"] >= since_dt:
                    groups.setdefault(order["status"], []).append(order)
            rows = []
            for status, orders in sorted(groups.items()):
                rows.append((status, len(orders), min(o["created_at"] for o in orders), max(o["created_at"] for o in orders),
                             max(float(o["quantity"]) * float(o.get("price") or 0) for o in orders)))
            return self._result(["status", "n", "first_at", "last_at", "max_notional"], rows)
        return super(CorrelationCursor, self).execute(sql, params)


class CorrelationConnection(genesis_fakes.FakeConnection):
    def cursor(self):
        return CorrelationCursor(self)

    def _state(self):
        return copy.deepcopy((self.pg.orders, self.pg.events, self.pg.next_event_id, self.pg.correlations))

    def _restore(self, state):
        foreign = [e for e in self.pg.events if e.get("foreign")]
        next_id = self.pg.next_event_id
        self.pg.orders, self.pg.events, _old, self.pg.correlations = copy.deepcopy(state)
        known = set(e["event_id"] for e in self.pg.events)
        self.pg.events.extend(e for e in foreign if e["event_id"] not in known)
        self.pg.next_event_id = next_id


class Pg(genesis_fakes.FakePg):
    def __init__(self):
        super(Pg, self).__init__()
        self.correlations = {}
        self.fail_commit = False
        self.set_matrix(SYMBOLS, GOOD)

    def set_matrix(self, symbols, matrix):
        self.correlations = {}
        for i, a in enumerate(symbols):
            for j, b in enumerate(symbols):
                if i != j:
                    self.correlations[(a, b)] = matrix[i][j]

    def connect(self, dsn, **kwargs):
        if self.connect_error is not None:
            raise self.connect_error
        conn = CorrelationConnection(self, dsn, kwargs)
        if self.fail_commit:
            def commit():
                raise genesis_fakes.psycopg2.OperationalError("server closed the connection unexpectedly")
            conn.commit = commit
        self.connections.append(conn)
        return conn


# ---------------------------------------------------------------------------- genesis_home
def write_matrix(path, matrix, symbols=SYMBOLS, source="klines"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"symbols": list(symbols), "matrix": matrix, "calculated_at": "2026-11-27T18:00:00.000Z",
                                "source": source}, indent=2) + "\n")


def make_home(tmp_path):
    home = tmp_path / "app"
    for folder in ("config", "config.backup", ".genesis/state", ".genesis/logs"):
        (home / folder).mkdir(parents=True, exist_ok=True)
    write_matrix(home / ".genesis" / "state" / "correlation_matrix.json", GOOD)
    write_matrix(home / "config" / "default_correlations.json", GOOD, source="defaults")
    return home


def log(home, records):
    path = home / ".genesis" / "logs" / "trading.log"
    with open(str(path), "a") as handle:
        for record in records:
            handle.write(json.dumps(record) + "\n")


# ---------------------------------------------------------------------------- exchange klines
def correlated_klines(seed=7, count=200, interval_ms=3600000):
    """{symbol: klines} of a common-factor random walk (BTC/ETH/SOL correlated around 0.6 to 0.8)."""
    rng = random.Random(seed)
    prices = {"BTCUSDT": 64000.0, "ETHUSDT": 3400.0, "SOLUSDT": 150.0}
    betas = {"BTCUSDT": 0.9, "ETHUSDT": 0.85, "SOLUSDT": 0.8}
    start = 1795800000000
    out = dict((s, []) for s in prices)
    for k in range(count):
        market = rng.gauss(0, 0.004)
        for symbol in prices:
            previous = prices[symbol]
            prices[symbol] = previous * math.exp(betas[symbol] * market + rng.gauss(0, 0.002))
            out[symbol].append([start + k * interval_ms, "%.8f" % previous, "0", "0", "%.8f" % prices[symbol], "1.0",
                                start + (k + 1) * interval_ms - 1, "0", 1, "0", "0", "0"])
    return out


def route_klines(http, base, klines):
    calls = []

    def handler(request):
        calls.append(request.query)
        symbol = request.query.get("symbol")
        if symbol not in klines:
            return (400, {"code": -1121, "msg": "Invalid symbol."}, {})
        limit = int(request.query.get("limit", 500))
        return (200, klines[symbol][-limit:], {"X-MBX-USED-WEIGHT-1M": 2 * len(calls)})
    http.route("GET", base + "/api/v3/klines", handler)
    return calls


# ---------------------------------------------------------------------------- control API
def strategy_view(state="RUNNING", enabled=True, safe_mode=False, errors=0, last_error=None, primary_only=False):
    return {"state": state, "enabled": enabled, "safe_mode": safe_mode, "primary_only": primary_only,
            "errors_total": errors, "errors_last_5m": errors, "last_error": last_error,
            "last_trade_at": "2026-11-27T18:39:00.000Z", "trades_last_5m": 4}


class StrategyApi(object):
    """GET /admin/strategies and POST /admin/strategies/<name>/<action>, with the contract's changed rules."""

    def __init__(self, api_fake):
        self.api = api_fake
        self.posts = []
        self.fail_post = None
        self.strategies = {"mean_reversion": strategy_view(), "momentum": strategy_view(),
                           "cluster_arbitrage": strategy_view(primary_only=True)}
        http, base = api_fake.http, api_fake.base
        http.route("GET", base + "/admin/strategies",
                   api_fake._auth(lambda r: (200, {"strategies": copy.deepcopy(self.strategies)}, {})))
        for name in list(self.strategies) + ["bogus"]:
            for action in ("disable", "reset", "enable"):
                http.route("POST", "%s/admin/strategies/%s/%s" % (base, name, action), api_fake._auth(self._post))

    def _post(self, request):
        if self.fail_post is not None:
            return self.fail_post
        name, action = request.path.split("/")[3:5]
        self.posts.append((name, action, request.json()))
        if name not in self.strategies:
            return (404, {"error": "not_found", "message": "Unknown strategy %s." % name}, {})
        view = self.strategies[name]
        before = {"state": view["state"], "enabled": view["enabled"], "safe_mode": view["safe_mode"]}
        changed = False
        if action == "disable" and (view["enabled"] or view["state"] != "STOPPED"):
            view.update(enabled=False, state="STOPPED")
            changed = True
        elif action == "enable":
            safe = bool((request.json() or {}).get("safe_mode", False))
            if not view["enabled"] or view["safe_mode"] != safe or view["state"] in ("STOPPED", "STOPPING", "ERROR", "IDLE"):
                view.update(enabled=True, safe_mode=safe, state="RUNNING")
                changed = True
        elif action == "reset" and (view["errors_total"] or view["last_error"] or view["state"] == "ERROR"):
            view.update(errors_total=0, errors_last_5m=0, last_error=None)
            if view["state"] in ("ERROR", "RECOVERING"):
                view["state"] = "IDLE"
            changed = True
        after = {"state": view["state"], "enabled": view["enabled"], "safe_mode": view["safe_mode"]}
        return (200, {"changed": changed, "name": name, "before": before, "after": after, "state": view["state"]}, {})


class ConfigApi(object):
    """GET /admin/config/validate (a stand-in validator) and POST /admin/config/reload (digest of config/)."""

    def __init__(self, api_fake, home):
        self.api = api_fake
        self.home = home
        self.reloads = 0
        self.running = self.digest()
        http, base = api_fake.http, api_fake.base
        http.route("GET", base + "/admin/config/validate", api_fake._auth(self._validate))
        http.route("POST", base + "/admin/config/reload", api_fake._auth(self._reload))

    def digest(self):
        return tuple(sorted((p.name, p.read_bytes()) for p in (self.home / "config").iterdir() if p.is_file()))

    def errors(self):
        errors = []
        rules = self.home / "config" / "trading_rules.yaml"
        if rules.exists():
            match = re.search(r"(?m)^max_leverage:\s*(\S+)", rules.read_text())
            if match and not 1 <= float(match.group(1)) <= 10:
                errors.append("trading_rules.yaml: max_leverage %s is outside 1..10" % match.group(1))
        else:
            errors.append("trading_rules.yaml: file is missing")
        return errors

    def version(self):
        node = self.home / "config" / "node.yaml"
        match = re.search(r"(?m)^version:\s*(\d+)", node.read_text()) if node.exists() else None
        return int(match.group(1)) if match else None

    def _validate(self, request):
        errors = self.errors()
        return (200, {"valid": not errors, "errors": errors, "version": self.version()}, {})

    def _reload(self, request):
        errors = self.errors()
        if errors:
            return (422, {"error": "invalid_config", "message": "The configuration on disk is invalid (%d error(s)); "
                          "the running configuration is kept." % len(errors), "errors": errors, "version": self.version()}, {})
        digest = self.digest()
        changed = digest != self.running
        if changed:
            self.running = digest
            self.reloads += 1
        return (200, {"changed": changed, "version": self.version(), "files": ["config/node.yaml"]}, {})


CONFIG_FILES = {
    "node.yaml": "version: 7\nnode: node1\nheartbeat_interval: 5\nsymbols: [BTCUSDT, ETHUSDT, SOLUSDT]\n",
    "trading_rules.yaml": "version: 1\nmax_leverage: 3\nstop_loss_percent: 2.0\n",
    "tier_gates.yaml": "version: 1\ntiers: {SNIPER: {max_position_size: 100}}\n",
}


def make_config(home, files=None):
    for folder in ("config", "config.backup"):
        for name, text in (files or CONFIG_FILES).items():
            path = home / folder / name
            path.write_text(text)
            path.chmod(0o640)
