# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Exchange authentication as the node itself sees it (runbook scenario 14).

The node signs with the credentials of its `.env` (GENESIS_EXCHANGE_API_KEY / _SECRET) and
with its own clock. These helpers rebuild exactly that: the credentials are read from the
file (never returned: only fingerprints leave this code), the clock is the node's clock plus,
in genesis-lab only, the simulated clock error of `clock_offset_file`.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import time

from ansible_collections.genesis.runbook.plugins.module_utils._common import GenesisError, clause, iso, parse_iso, redact_url
from ansible_collections.genesis.runbook.plugins.module_utils.exchange import (
    BAD_API_KEY_FORMAT, REJECTED_API_KEY, TIMESTAMP_OUTSIDE_RECV_WINDOW, ExchangeClient, ExchangeError,
)
from ansible_collections.genesis.runbook.plugins.module_utils.logs import reverse_lines

ENV_KEY = "GENESIS_EXCHANGE_API_KEY"
ENV_SECRET = "GENESIS_EXCHANGE_API_SECRET"
# Exchange codes that mean "this key/signature/clock is not accepted" (contract section 6).
AUTH_CODES = (BAD_API_KEY_FORMAT, REJECTED_API_KEY, TIMESTAMP_OUTSIDE_RECV_WINDOW, -1022)
KEY_CODES = (BAD_API_KEY_FORMAT, REJECTED_API_KEY, -1022)
AUTH_STATUSES = (401, 403)


class ClockError(GenesisError):
    pass


def clock_offset_ms(path):
    """The simulated clock error in ms from `path` (genesis-lab); 0 when no path is given or the file is absent."""
    if not path:
        return 0.0
    try:
        with open(path) as handle:
            text = handle.read().strip()
    except (IOError, OSError):
        return 0.0
    try:
        return float(text or 0)
    except ValueError:
        raise ClockError("clock_offset_file %s does not hold a number of milliseconds (found %r)." % (path, text[:40]))


def node_clock(path):
    """A clock() that returns the node's time in epoch seconds, as genesis signs with it."""
    def clock():
        return time.time() + clock_offset_ms(path) / 1000.0
    return clock


def client(params, api_key, api_secret, clock):
    return ExchangeClient(params["exchange_url"], api_key=api_key, api_secret=api_secret,
                          recv_window=params.get("exchange_recv_window") or 5000, timeout=params.get("api_timeout") or 10,
                          retries=2 if params.get("api_retries") is None else params["api_retries"], clock=clock)


def describe_rejection(exchange, exc, key_label):
    """One sentence for a rejected signed call that names the key actually used (never the key itself)."""
    shown = "GET %s/api/v3/account" % redact_url(exchange.base_url)
    if exc.code in KEY_CODES:
        return "Exchange %s rejected %s (%s, HTTP %s)." % (shown, key_label, exc.code, exc.status)
    if exc.code == TIMESTAMP_OUTSIDE_RECV_WINDOW:
        return "Exchange %s rejected the request timestamp (-1021): the node's clock is outside the receive window." % shown
    return exc.message


def signed_probe(exchange, key_label="the API key"):
    """One signed GET /api/v3/account: {ok, code, status, error, can_trade, at} (the exchange's answer is evidence)."""
    outcome = dict(ok=False, code=None, status=None, error=None, can_trade=None, unreachable=False, at=iso(time.time()))
    try:
        data = exchange.account().data
    except ExchangeError as exc:
        outcome.update(code=exc.code, status=exc.status, unreachable=bool(exc.unreachable),
                       error=exc.message if exc.unreachable else describe_rejection(exchange, exc, key_label))
        return outcome
    outcome.update(ok=True, status=200, can_trade=data.get("canTrade") if isinstance(data, dict) else None)
    return outcome


def measure_drift(exchange, clock):
    """(drift_ms, server_time_ms): node clock minus exchange clock, at the midpoint of the round trip."""
    before = clock()
    answer = exchange.server_time()
    after = clock()
    try:
        server = int(answer.data.get("serverTime"))
    except (TypeError, ValueError, AttributeError):
        raise ExchangeError("Exchange %s/api/v3/time answered without a serverTime." % exchange.endpoint)
    return int(round((before + after) / 2.0 * 1000.0 - server)), server


def is_key_problem(outcome):
    """True when the exchange rejected the key itself (not the clock, not a rate limit)."""
    return bool(outcome) and not outcome.get("ok") and (
        outcome.get("code") in KEY_CODES or (outcome.get("status") in AUTH_STATUSES and outcome.get("code") is None))


def since_epoch(value, lookback):
    """Epoch seconds of `value` (ISO 8601 or epoch seconds), else now minus `lookback` seconds."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return time.time() - lookback
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        parsed = parse_iso(text)
        if parsed is None:
            raise GenesisError("rejections_since must be an ISO 8601 timestamp or epoch seconds, got %s." % text[:40])
        return parsed


def auth_rejections(path, since, max_bytes=8 * 1048576):
    """Executor `Order rejected` lines at or after `since` whose exchange answer was an authentication failure.

    Returns {since, count, codes, last_at, log, readable}; a missing log counts nothing (readable=false).
    """
    result = dict(since=iso(since), count=0, codes={}, last_at=None, log=path, readable=True)
    if not os.path.exists(path):
        result["readable"] = False
        return result
    try:
        for line in reverse_lines(path, max_bytes):
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if not isinstance(record, dict):
                continue
            stamp = parse_iso(record.get("timestamp"))
            if stamp is not None and stamp < since:
                break
            if not str(record.get("event", "")).startswith("Order rejected"):
                continue
            code = record.get("code")
            status = record.get("http_status")
            if code in AUTH_CODES or status in AUTH_STATUSES:
                result["count"] += 1
                key = str(code if code is not None else status)
                result["codes"][key] = result["codes"].get(key, 0) + 1
                if result["last_at"] is None:
                    result["last_at"] = record.get("timestamp")
    except (IOError, OSError) as exc:
        result["readable"] = False
        result["error"] = "%s cannot be read: %s." % (path, clause(getattr(exc, "strerror", None) or str(exc)))
    return result
