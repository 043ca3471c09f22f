# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

import genesis_fakes
from ansible_collections.genesis.runbook.plugins.module_utils.api import GenesisApi, GenesisApiError

BASE = "http://127.0.0.1:8080"


def client(**kwargs):
    kwargs.setdefault("api_key", "k3y-api-secret")
    return GenesisApi(BASE, **kwargs)


def test_get_sends_api_key_and_decodes_json(http):
    http.route("GET", BASE + "/admin/safe-mode", (200, {"enabled": False}, {}))
    answer = client().get("/admin/safe-mode")
    assert answer.status == 200 and answer.data == {"enabled": False}
    call = http.calls[0]
    assert call.headers["X-API-Key"] == "k3y-api-secret"
    assert call.kwargs["timeout"] == 10 and call.kwargs["use_proxy"] is False


def test_health_without_key_and_accepted_503(http):
    http.route("GET", BASE + "/health", (503, {"status": "unhealthy"}, {}))
    answer = client().get("/health", auth=False, accept=(503,))
    assert answer.status == 503 and answer.data["status"] == "unhealthy"
    assert "X-API-Key" not in http.calls[0].headers
    assert len(http.calls) == 1  # an accepted 503 is an answer, not retried


def test_get_retries_connection_errors_with_backoff(http, no_sleep):
    http.route("GET", BASE + "/admin/safe-mode", [genesis_fakes.refused(), genesis_fakes.timed_out(), (200, {"enabled": True}, {})])
    assert client(retries=2).get("/admin/safe-mode").data == {"enabled": True}
    assert len(http.calls) == 3
    assert no_sleep == [0.5, 1.0]


def test_get_retries_5xx_then_fails_with_one_sentence(http):
    http.route("GET", BASE + "/admin/cluster", (503, {"error": "unavailable", "message": "redis is down"}, {}))
    with pytest.raises(GenesisApiError) as caught:
        client(retries=2).get("/admin/cluster")
    assert len(http.calls) == 3
    assert str(caught.value) == "Control API GET http://127.0.0.1:8080/admin/cluster answered HTTP 503 unavailable: redis is down."
    assert caught.value.status == 503 and caught.value.code == "unavailable"


def test_post_not_retried_after_a_timeout_unless_idempotent(http):
    http.route("POST", BASE + "/admin/notifications", genesis_fakes.timed_out())
    with pytest.raises(GenesisApiError) as caught:
        client().post("/admin/notifications", {"kind": "x"})
    assert len(http.calls) == 1
    assert caught.value.unreachable
    assert "timed out" in str(caught.value)


def test_post_retried_when_refused_before_sending(http):
    http.route("POST", BASE + "/admin/notifications", [genesis_fakes.refused(), (200, {"changed": True}, {})])
    assert client().post("/admin/notifications", {"kind": "x"}).data == {"changed": True}
    assert len(http.calls) == 2


def test_idempotent_post_retried_on_5xx(http):
    http.route("POST", BASE + "/admin/circuit-breakers/orders/reset", [(502, b"bad gateway", {}), (200, {"changed": True}, {})])
    assert client().post("/admin/circuit-breakers/orders/reset", idempotent=True).data["changed"] is True
    assert http.calls[0].json() == {}


def test_non_idempotent_post_not_retried_on_5xx(http):
    http.route("POST", BASE + "/admin/notifications", (500, {"error": "internal", "message": "boom"}, {}))
    with pytest.raises(GenesisApiError):
        client().post("/admin/notifications", {"kind": "x"})
    assert len(http.calls) == 1


def test_401_names_the_api_key_variable_and_never_the_key(http):
    http.route("GET", BASE + "/admin/strategies", (401, {"error": "unauthorized", "message": "bad key k3y-api-secret"}, {}))
    with pytest.raises(GenesisApiError) as caught:
        client().get("/admin/strategies")
    message = str(caught.value)
    assert "genesis_api_key" in message and "k3y-api-secret" not in message
    assert message.count(".") >= 1 and "\n" not in message


def test_unreachable_names_endpoint_without_password(http):
    base = "http://ops:pa55word@127.0.0.1:8080"
    http.route("GET", base + "/health", genesis_fakes.refused())
    with pytest.raises(GenesisApiError) as caught:
        GenesisApi(base, retries=0).get("/health", auth=False)
    assert str(caught.value) == "Control API GET http://ops:********@127.0.0.1:8080/health is unreachable: connection refused."
    assert caught.value.unreachable


def test_non_json_body_is_an_error(http):
    http.route("GET", BASE + "/admin/websocket", (200, b"<html>", {}))
    with pytest.raises(GenesisApiError) as caught:
        client().get("/admin/websocket")
    assert "not JSON" in str(caught.value)


def test_query_and_quote():
    api = client()
    assert api.url("/system/events", {"after": 5}) == BASE + "/system/events?after=5"
    assert api.quote("a/b c") == "a%2Fb%20c"
