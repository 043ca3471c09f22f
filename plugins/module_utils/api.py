# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Client of the genesis control API (docs/genesis-contract.md section 3)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import time

from ansible_collections.genesis.runbook.plugins.module_utils._common import GenesisError, clause, redact_url
from ansible_collections.genesis.runbook.plugins.module_utils._http import (
    HttpConnectionError, call_with_retries, http_call,
)

from urllib.parse import urlencode, quote

IDEMPOTENT_METHODS = ("GET", "HEAD", "OPTIONS", "PUT", "DELETE")


class GenesisApiError(GenesisError):
    """A control API call failed. `status`/`code` are set when the API answered; `unreachable` when it did not."""

    def __init__(self, message, status=None, code=None, unreachable=False, body=None):
        super(GenesisApiError, self).__init__(message)
        self.status = status
        self.code = code
        self.unreachable = unreachable
        self.body = body


class ApiResponse(object):
    def __init__(self, status, data, elapsed_ms, url):
        self.status = status
        self.data = data
        self.elapsed_ms = elapsed_ms
        self.url = url

    @property
    def ok(self):
        return 200 <= self.status < 300


class GenesisApi(object):
    """X-API-Key authenticated JSON over HTTP with timeouts and bounded retries.

    GETs are retried on connection errors and 5xx; a POST is retried only when the caller
    declares it idempotent (the contract's mutating endpoints answer `changed: false` when
    repeated) or when the connection was refused before anything was sent.
    """

    def __init__(self, base_url, api_key=None, timeout=10, retries=2, validate_certs=True, sleep=None):
        self.base_url = (base_url or "").rstrip("/")
        self.api_key = api_key or None
        self.timeout = timeout
        self.retries = retries
        self.validate_certs = validate_certs
        self.sleep = sleep if sleep is not None else time.sleep

    @property
    def endpoint(self):
        return redact_url(self.base_url)

    def url(self, path, query=None):
        url = self.base_url + path
        if query:
            url += "?" + urlencode(query)
        return url

    @staticmethod
    def quote(name):
        return quote(str(name), safe="")

    def request(self, method, path, body=None, query=None, auth=True, accept=(), idempotent=None):
        """Call the API; returns ApiResponse for 2xx and for statuses in `accept`, raises GenesisApiError otherwise."""
        method = method.upper()
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        url = self.url(path, query)
        shown = redact_url(self.base_url) + path
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = "application/json"
        if auth and self.api_key:
            headers["X-API-Key"] = self.api_key

        def call():
            return http_call(url, method=method, data=data, headers=headers, timeout=self.timeout,
                             use_proxy=False, validate_certs=self.validate_certs)

        def retry_status(status):
            return idempotent and status >= 500 and status not in accept

        try:
            result = call_with_retries(call, self.retries, retry_sent=idempotent, retry_status=retry_status, sleep=self.sleep)
        except HttpConnectionError as exc:
            raise GenesisApiError("Control API %s %s is unreachable: %s." % (method, shown, clause(exc.reason)), unreachable=True)

        payload = self._decode(result.body)
        if 200 <= result.status < 300 or result.status in accept:
            if payload is _INVALID:
                raise GenesisApiError("Control API %s %s answered HTTP %s with a body that is not JSON." % (method, shown, result.status),
                                      status=result.status)
            return ApiResponse(result.status, payload if payload is not None else {}, result.elapsed_ms, shown)

        code = message = None
        if isinstance(payload, dict):
            code = payload.get("error")
            message = payload.get("message")
        text = "Control API %s %s answered HTTP %s" % (method, shown, result.status)
        if code:
            text += " %s" % code
        if result.status == 401:
            text += ": the API key was rejected (check api_key, inventory variable genesis_api_key)"
        elif message:
            text += ": %s" % clause(message)
        raise GenesisApiError(text + ".", status=result.status, code=code,
                              body=payload if isinstance(payload, dict) else None)

    @staticmethod
    def _decode(raw):
        if not raw:
            return None
        try:
            return json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
        except (ValueError, UnicodeDecodeError):
            return _INVALID

    def get(self, path, query=None, auth=True, accept=()):
        return self.request("GET", path, query=query, auth=auth, accept=accept)

    def post(self, path, body=None, idempotent=False, accept=()):
        return self.request("POST", path, body=body if body is not None else {}, idempotent=idempotent, accept=accept)


class _Invalid(object):
    pass


_INVALID = _Invalid()
