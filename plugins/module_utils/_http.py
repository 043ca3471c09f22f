# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""One HTTP exchange over ansible.module_utils.urls.open_url, with bounded retries.

Shared by the control API client (api.py) and the exchange client (exchange.py).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import socket
import time

from ansible.module_utils.urls import open_url
from ansible.module_utils.urls import ConnectionError as UrlsConnectionError

from http.client import HTTPException
from urllib.error import HTTPError, URLError

BACKOFF_BASE = 0.5
BACKOFF_MAX = 4.0


class HttpResult(object):
    """An HTTP answer (any status): status, raw body, headers (case-insensitive get), elapsed ms."""

    def __init__(self, status, body, headers, elapsed_ms):
        self.status = status
        self.body = body or b""
        self.headers = headers
        self.elapsed_ms = elapsed_ms

    def header(self, name, default=None):
        headers = self.headers
        if headers is None:
            return default
        try:
            value = headers.get(name)
        except Exception:  # pylint: disable=broad-except
            value = None
        if value is None and hasattr(headers, "items"):
            for key, item in headers.items():
                if str(key).lower() == name.lower():
                    return item
        return default if value is None else value


class HttpConnectionError(Exception):
    """No HTTP answer. `sent` is False when the request certainly never reached the server."""

    def __init__(self, reason, sent):
        super(HttpConnectionError, self).__init__(reason)
        self.reason = reason
        self.sent = sent


def _reason(exc):
    """A short human reason for a connection-level failure, and whether the request may have been sent."""
    inner = exc
    if isinstance(exc, URLError) and not isinstance(exc, HTTPError):
        inner = exc.reason if exc.reason is not None else exc
    if isinstance(inner, socket.timeout) or "timed out" in str(inner).lower():
        return "timed out", True
    if isinstance(inner, ConnectionRefusedError) or getattr(inner, "errno", None) == errno.ECONNREFUSED:
        return "connection refused", False
    if isinstance(inner, socket.gaierror):
        return "name resolution failed (%s)" % (inner.strerror or inner), False
    if isinstance(inner, (ConnectionResetError, BrokenPipeError)):
        return "connection reset", True
    if isinstance(inner, (OSError, IOError)) and getattr(inner, "errno", None) in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return "network unreachable", False
    if isinstance(inner, UrlsConnectionError):
        return str(inner).splitlines()[0] if str(inner) else "TLS or proxy error", False
    text = getattr(inner, "strerror", None) or str(inner) or inner.__class__.__name__
    return text, True


def http_call(url, method="GET", data=None, headers=None, timeout=10, use_proxy=True, validate_certs=True):
    """One request. Returns HttpResult for every HTTP status; raises HttpConnectionError otherwise."""
    start = time.time()
    try:
        response = open_url(url, data=data, headers=headers or {}, method=method, use_proxy=use_proxy,
                            timeout=timeout, validate_certs=validate_certs, follow_redirects="none",
                            use_netrc=False)
        status = response.getcode() if hasattr(response, "getcode") else response.status
        body = response.read()
        result_headers = getattr(response, "headers", None)
    except HTTPError as exc:
        status = exc.code
        try:
            body = exc.read()
        except Exception:  # pylint: disable=broad-except
            body = b""
        result_headers = getattr(exc, "headers", None) or getattr(exc, "hdrs", None)
    except (URLError, HTTPException, UrlsConnectionError, socket.timeout, OSError, IOError, ValueError) as exc:
        if isinstance(exc, ValueError) and not isinstance(exc, UnicodeError):
            raise HttpConnectionError("invalid URL (%s)" % exc, False)
        reason, sent = _reason(exc)
        raise HttpConnectionError(reason, sent)
    return HttpResult(status, body, result_headers, round((time.time() - start) * 1000.0, 1))


def call_with_retries(call, retries, retry_sent, retry_status, sleep=None):
    """Run call() up to 1 + retries times with exponential backoff.

    A connection failure is retried when the request never reached the server, or when
    `retry_sent` (the request is safe to repeat). An HTTP answer is retried when
    `retry_status(status)` says so. The last outcome is returned or raised.
    """
    sleep = sleep if sleep is not None else time.sleep
    attempt = 0
    while True:
        try:
            result = call()
        except HttpConnectionError as exc:
            if attempt >= retries or (exc.sent and not retry_sent):
                raise
        else:
            if attempt >= retries or not retry_status(result.status):
                return result
        sleep(min(BACKOFF_MAX, BACKOFF_BASE * (2 ** attempt)))
        attempt += 1
