# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Stand-ins for the market-data endpoints of a genesis control API, a Redis that runs the
conditional-delete script, and a clock that sleeps instantly (runbook scenario 3)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import copy

import genesis_fakes

SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
CONNECTIONS = ("execution", "monitoring", "backup")


def feed(mode="websocket", state="connected", age=0.5, message_age=0.4, symbols=SYMBOLS, error=None):
    """A GET /admin/websocket answer."""
    return {"mode": mode,
            "connections": dict((c, {"state": state, "since": "2026-11-27T18:40:00.000Z", "last_message_age_s": message_age,
                                     "last_error": error}) for c in CONNECTIONS),
            "tickers": dict((s, {"price": 100.0 + i, "age_s": age, "source": "rest" if mode == "rest" else "websocket"})
                            for i, s in enumerate(symbols))}


class FakeClock(object):
    """time() that only sleep() advances."""

    def __init__(self, start=1795800000.0):
        self.now = start
        self.sleeps = []

    def time(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


class FeedApi(object):
    """GET /admin/websocket, POST /admin/websocket/restart and /admin/market-data/mode with X-API-Key checks.

    `feeds` is a list of answers: each GET takes the next one and the last one repeats.
    A restart request makes the streams connected and fresh from the next GET on (like genesis within 3 s).
    """

    def __init__(self, http, base="http://127.0.0.1:8080", api_key="k3y-api-secret", feeds=None):
        self.http = http
        self.base = base
        self.api_key = api_key
        self.feeds = list(feeds or [feed()])
        self.restarts = 0
        self.mode_posts = []
        self.down = False
        self.heal_on_restart = True
        http.route("GET", base + "/admin/websocket", self._auth(self._get))
        http.route("POST", base + "/admin/websocket/restart", self._auth(self._restart))
        http.route("POST", base + "/admin/market-data/mode", self._auth(self._mode))

    def _auth(self, handler):
        def wrapped(request):
            if self.down:
                return genesis_fakes.refused()
            if request.headers.get("X-API-Key") != self.api_key:
                return (401, {"error": "unauthorized", "message": "Missing or invalid X-API-Key."}, {})
            return handler(request)
        return wrapped

    def current(self):
        return self.feeds[0]

    def _get(self, request):
        answer = copy.deepcopy(self.feeds[0])
        if len(self.feeds) > 1:
            self.feeds.pop(0)
        return (200, answer, {})

    def _restart(self, request):
        self.restarts += 1
        if self.heal_on_restart:
            self.feeds = [feed(mode=self.feeds[-1]["mode"])]
        return (202, {"changed": True, "requested_at": "2026-11-27T18:41:00.000Z"}, {})

    def _mode(self, request):
        wanted = request.json().get("mode")
        self.mode_posts.append(wanted)
        before = self.feeds[-1]["mode"]
        for answer in self.feeds:
            answer["mode"] = wanted
        return (200, {"changed": before != wanted, "before": before, "mode": wanted}, {})


class MarketRedis(genesis_fakes.FakeRedis):
    """FakeRedis plus EVAL of the conditional delete (DEL while `ts` < cutoff) and a hook run before it."""

    def __init__(self):
        super(MarketRedis, self).__init__()
        self.before_eval = None
        self.evals = []

    def eval(self, script, numkeys, *args):
        self._check()
        assert "redis.call('DEL', KEYS[1])" in script and numkeys == 1
        key, cutoff = args[0], float(args[1])
        self.evals.append(key)
        if self.before_eval is not None:
            self.before_eval(key)
        self.commands.append("EVAL " + key)
        value = self.data.get(key)
        try:
            ts = float(value.get("ts")) if isinstance(value, dict) else None
        except (TypeError, ValueError):
            ts = None
        if ts is not None and ts < cutoff:
            del self.data[key]
            return 1
        return 0
