# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A stand-in for the rate-limit endpoints of a genesis control API (runbook scenario 7)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import copy
import datetime

import genesis_fakes

UTC = datetime.timezone.utc


def iso(epoch):
    dt = datetime.datetime.fromtimestamp(epoch, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (dt.microsecond // 1000)


class RateLimitApi(object):
    """GET/POST /admin/rate-limits and POST /admin/request-queue/clear with the contract's answers."""

    def __init__(self, http, clock, base="http://127.0.0.1:8080", api_key="k3y-api-secret"):
        self.http = http
        self.clock = clock
        self.base = base
        self.api_key = api_key
        self.down = False
        self.posts = []
        self.clears = 0
        self.state = {"exchange_limit": 1200, "limit_per_minute": 900, "protection": True, "warn_ratio": 0.8,
                      "used_weight_1m": 40, "recent_429": 0, "last_429_at": None, "retry_after_until": None,
                      "queue_length": 0}
        self.post_error = None
        http.route("GET", base + "/admin/rate-limits", self._auth(self._get))
        http.route("POST", base + "/admin/rate-limits", self._auth(self._post))
        http.route("POST", base + "/admin/request-queue/clear", self._auth(self._clear))

    def storm(self, last_429_ago=0.5, retry_after=55, recent=120, used=1040, queue=370):
        """The lab's scenario 7: protection off, 6000 a minute, 429s still coming, a full queue."""
        now = self.clock.time()
        self.state.update(protection=False, limit_per_minute=6000, used_weight_1m=used, usage_ratio=used / 1200.0,
                          recent_429=recent, last_429_at=iso(now - last_429_ago), retry_after_until=iso(now + retry_after),
                          queue_length=queue)

    def _auth(self, handler):
        def wrapped(request):
            if self.down:
                return genesis_fakes.refused()
            if request.headers.get("X-API-Key") != self.api_key:
                return (401, {"error": "unauthorized", "message": "Missing or invalid X-API-Key."}, {})
            return handler(request)
        return wrapped

    def _get(self, request):
        return (200, copy.deepcopy(self.state), {})

    def _post(self, request):
        if self.post_error is not None:
            return self.post_error
        body = request.json()
        self.posts.append(body)
        before = dict(protection=self.state["protection"], limit_per_minute=self.state["limit_per_minute"])
        after = dict(before)
        if "protection" in body:
            after["protection"] = body["protection"]
        if "limit_per_minute" in body:
            after["limit_per_minute"] = body["limit_per_minute"]
        self.state.update(after)
        return (200, {"changed": before != after, "before": before, "after": after}, {})

    def _clear(self, request):
        self.clears += 1
        cleared = self.state["queue_length"]
        self.state["queue_length"] = 0
        return (200, {"changed": cleared > 0, "cleared": cleared}, {})
