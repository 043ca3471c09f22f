# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Signed Binance spot REST client (docs/genesis-contract.md section 6)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import hashlib
import hmac
import json
import time

from ansible_collections.genesis.runbook.plugins.module_utils._common import GenesisError, clause, redact_url
from ansible_collections.genesis.runbook.plugins.module_utils._http import (
    HttpConnectionError, call_with_retries, http_call,
)

from urllib.parse import urlencode

UNKNOWN_ORDER = -2011
NO_SUCH_ORDER = -2013
TIMESTAMP_OUTSIDE_RECV_WINDOW = -1021
BAD_API_KEY_FORMAT = -2014
REJECTED_API_KEY = -2015
TRADING_HALTED = -3044


class ExchangeError(GenesisError):
    """An exchange call failed: `code` is the exchange's error code, `status` the HTTP status,
    `retry_after` the seconds of a 429/418, `unreachable` when no HTTP answer came back."""

    def __init__(self, message, code=None, status=None, retry_after=None, unreachable=False, used_weight=None):
        super(ExchangeError, self).__init__(message)
        self.code = code
        self.status = status
        self.retry_after = retry_after
        self.unreachable = unreachable
        self.used_weight = used_weight


class ExchangeResponse(object):
    def __init__(self, data, status, used_weight, elapsed_ms):
        self.data = data
        self.status = status
        self.used_weight = used_weight
        self.elapsed_ms = elapsed_ms


def sign(secret, query):
    """Hex HMAC-SHA256 of the query string with the API secret."""
    return hmac.new(secret.encode("utf-8"), query.encode("utf-8"), hashlib.sha256).hexdigest()


def _int(value):
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


class ExchangeClient(object):
    def __init__(self, base_url, api_key=None, api_secret=None, recv_window=5000, timeout=10, retries=2,
                 clock=None, sleep=None):
        self.base_url = (base_url or "").rstrip("/")
        self.api_key = api_key or None
        self.api_secret = api_secret or None
        self.recv_window = int(recv_window or 5000)
        self.timeout = timeout
        self.retries = retries
        self.clock = clock if clock is not None else time.time
        self.sleep = sleep if sleep is not None else time.sleep
        self.used_weight = None

    @property
    def endpoint(self):
        return "Exchange %s" % redact_url(self.base_url)

    # -- transport ---------------------------------------------------------------
    def request(self, method, path, params=None, signed=False, idempotent=None):
        method = method.upper()
        if idempotent is None:
            idempotent = method in ("GET", "DELETE")
        params = list(params.items()) if isinstance(params, dict) else list(params or [])
        headers = {"Accept": "application/json"}
        if self.api_key:
            headers["X-MBX-APIKEY"] = self.api_key
        shown = "%s %s%s" % (method, redact_url(self.base_url), path)
        if signed and not (self.api_key and self.api_secret):
            raise ExchangeError("%s needs exchange_api_key and exchange_api_secret (inventory variables genesis_exchange_api_key "
                                "and genesis_exchange_api_secret) for the signed call %s." % (self.endpoint, path))

        def call():
            query_params = list(params)
            if signed:
                query_params += [("timestamp", int(self.clock() * 1000)), ("recvWindow", self.recv_window)]
            query = urlencode(query_params)
            if signed:
                query += "&signature=" + sign(self.api_secret, query)
            url = self.base_url + path + ("?" + query if query else "")
            return http_call(url, method=method, headers=headers, timeout=self.timeout)

        def retry_status(status):
            return idempotent and status >= 500

        try:
            result = call_with_retries(call, self.retries, retry_sent=idempotent, retry_status=retry_status, sleep=self.sleep)
        except HttpConnectionError as exc:
            raise ExchangeError("Exchange %s is unreachable: %s." % (shown, clause(exc.reason)), unreachable=True)

        used = _int(result.header("X-MBX-USED-WEIGHT-1M"))
        if used is not None:
            self.used_weight = used
        try:
            data = json.loads(result.body.decode("utf-8")) if result.body else {}
        except (ValueError, UnicodeDecodeError):
            data = None
        if 200 <= result.status < 300:
            if data is None:
                raise ExchangeError("Exchange %s answered HTTP %s with a body that is not JSON." % (shown, result.status),
                                    status=result.status, used_weight=used)
            return ExchangeResponse(data, result.status, used, result.elapsed_ms)
        raise self._error(shown, result, data, used)

    def _error(self, shown, result, data, used):
        code = msg = None
        if isinstance(data, dict):
            code = data.get("code")
            msg = data.get("msg")
        status = result.status
        if status in (418, 429):
            retry_after = _int(result.header("Retry-After"))
            text = "Exchange %s rate-limited the request (HTTP %s%s)" % (shown, status, ", code %s" % code if code else "")
            text += ": retry after %s s." % retry_after if retry_after is not None else "."
            return ExchangeError(text, code=code, status=status, retry_after=retry_after, used_weight=used)
        if code == TIMESTAMP_OUTSIDE_RECV_WINDOW:
            text = ("Exchange %s rejected the request timestamp (-1021, outside recvWindow %d ms): "
                    "the node clock drifts from the exchange and needs a time sync." % (shown, self.recv_window))
        elif code == BAD_API_KEY_FORMAT:
            text = ("Exchange %s rejected the API key format (-2014): check exchange_api_key "
                    "(inventory variable genesis_exchange_api_key)." % shown)
        elif code == REJECTED_API_KEY:
            text = ("Exchange %s rejected the API key, its permissions or the signature (-2015): check exchange_api_key "
                    "and exchange_api_secret (inventory variables genesis_exchange_api_key and genesis_exchange_api_secret)." % shown)
        elif code == TRADING_HALTED:
            text = "Exchange %s refused the order because trading is halted (-3044)%s." % (shown, ": " + clause(msg) if msg else "")
        else:
            text = "Exchange %s answered HTTP %s" % (shown, status)
            if code is not None:
                text += " code %s" % code
            text += ": %s." % clause(msg) if msg else "."
        return ExchangeError(text, code=code, status=status, used_weight=used)

    # -- endpoints -----------------------------------------------------------------
    def ping(self):
        return self.request("GET", "/api/v3/ping")

    def server_time(self):
        return self.request("GET", "/api/v3/time")

    def system_status(self):
        return self.request("GET", "/sapi/v1/system/status")

    def depth(self, symbol, limit=20):
        return self.request("GET", "/api/v3/depth", [("symbol", symbol), ("limit", limit)])

    def account(self):
        return self.request("GET", "/api/v3/account", signed=True)

    def test_order(self, params):
        """POST /api/v3/order/test: validated by the exchange, never placed (safe to repeat)."""
        return self.request("POST", "/api/v3/order/test", params, signed=True, idempotent=True)

    def cancel_order(self, symbol, orig_client_order_id):
        """DELETE /api/v3/order by origClientOrderId (a repeat answers -2011, so it is safe to retry)."""
        return self.request("DELETE", "/api/v3/order", [("symbol", symbol), ("origClientOrderId", orig_client_order_id)],
                            signed=True, idempotent=True)

    def get_order(self, symbol, orig_client_order_id):
        return self.request("GET", "/api/v3/order", [("symbol", symbol), ("origClientOrderId", orig_client_order_id)],
                            signed=True)


FILLED_STATUSES = ("FILLED", "PARTIALLY_FILLED")


def cancel_at_exchange(exchange, symbol, client_order_id):
    """Cancel one order at the exchange by its client order id.

    Returns (outcome, filled_status). outcome is `cancelled_at_exchange`, `unknown_at_exchange`
    (the order never got there) or `final_at_exchange_<status>`; it is None when the exchange
    reports the order FILLED or PARTIALLY_FILLED, named by filled_status: such an order needs
    reconciling, not cancelling. Other exchange errors are raised as ExchangeError.
    """
    try:
        exchange.cancel_order(symbol, client_order_id)
        return "cancelled_at_exchange", None
    except ExchangeError as exc:
        if exc.code != UNKNOWN_ORDER:
            raise
    # not open at the exchange: find out whether it never got there or is already final there
    try:
        answer = exchange.get_order(symbol, client_order_id)
    except ExchangeError as exc:
        if exc.code == NO_SUCH_ORDER:
            return "unknown_at_exchange", None
        raise
    status = (answer.data or {}).get("status") if isinstance(answer.data, dict) else None
    if status in FILLED_STATUSES:
        return None, status
    return "final_at_exchange_%s" % (status or "UNKNOWN").lower(), None
