# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import hashlib
import hmac

import pytest

import genesis_fakes
from ansible_collections.genesis.runbook.plugins.module_utils.exchange import ExchangeClient, ExchangeError, sign


def client(fake, **kwargs):
    kwargs.setdefault("api_key", fake.api_key)
    kwargs.setdefault("api_secret", fake.secret)
    return ExchangeClient(fake.base, **kwargs)


def test_sign_is_hex_hmac_sha256():
    assert sign("secret", "a=1&b=2") == hmac.new(b"secret", b"a=1&b=2", hashlib.sha256).hexdigest()


def test_signed_call_carries_key_timestamp_window_and_signature(exchange_fake, http):
    answer = client(exchange_fake, recv_window=7000).account()
    assert answer.data["canTrade"] is True
    call = http.calls[-1]
    assert call.headers["X-MBX-APIKEY"] == exchange_fake.api_key
    assert call.query["recvWindow"] == "7000" and "timestamp" in call.query and "signature" in call.query
    assert answer.used_weight == exchange_fake.used_weight


def test_public_call_and_used_weight(exchange_fake):
    exchange_fake.set_book("BTCUSDT", 64000)
    ex = client(exchange_fake)
    depth = ex.depth("BTCUSDT", 20)
    assert len(depth.data["bids"]) == 20
    assert ex.used_weight == exchange_fake.used_weight


def test_clock_drift_maps_to_1021(exchange_fake):
    exchange_fake.clock_offset_ms = -30000
    with pytest.raises(ExchangeError) as caught:
        client(exchange_fake).account()
    assert caught.value.code == -1021
    assert "time sync" in str(caught.value) and "recvWindow 5000 ms" in str(caught.value)


def test_rejected_key_maps_to_2015_without_echoing_secrets(exchange_fake):
    with pytest.raises(ExchangeError) as caught:
        client(exchange_fake, api_secret="wrong-secret-value").account()
    message = str(caught.value)
    assert caught.value.code == -2015 and caught.value.status == 401
    assert "genesis_exchange_api_secret" in message
    assert "wrong-secret-value" not in message and exchange_fake.api_key not in message and "signature=" not in message


def test_bad_key_format_2014(http):
    http.route("GET", "http://x.test/api/v3/account", (401, {"code": -2014, "msg": "API-key format invalid."}, {}))
    with pytest.raises(ExchangeError) as caught:
        ExchangeClient("http://x.test", api_key="k", api_secret="s").account()
    assert caught.value.code == -2014 and "exchange_api_key" in str(caught.value)


def test_429_reports_retry_after_and_is_not_retried(exchange_fake, http):
    exchange_fake.ban_seconds = 42
    with pytest.raises(ExchangeError) as caught:
        client(exchange_fake, retries=3).ping()
    assert caught.value.status == 429 and caught.value.retry_after == 42
    assert str(caught.value).endswith("retry after 42 s.")
    assert len(http.calls) == 1


def test_trading_halted_3044(exchange_fake):
    exchange_fake.halted = True
    with pytest.raises(ExchangeError) as caught:
        client(exchange_fake).test_order([("symbol", "BTCUSDT"), ("side", "BUY"), ("type", "MARKET"), ("quantity", "1")])
    assert caught.value.code == -3044 and "trading is halted" in str(caught.value)


def test_unreachable_retries_get_then_one_sentence(http, no_sleep):
    http.route("GET", "http://x.test/api/v3/ping", genesis_fakes.refused())
    with pytest.raises(ExchangeError) as caught:
        ExchangeClient("http://x.test", retries=2).ping()
    assert len(http.calls) == 3 and caught.value.unreachable
    assert str(caught.value) == "Exchange GET http://x.test/api/v3/ping is unreachable: connection refused."


def test_retry_resigns_with_a_fresh_timestamp(http):
    seen = []

    def flaky(request):
        seen.append(request.query["timestamp"])
        return genesis_fakes.timed_out() if len(seen) == 1 else (200, {}, {})
    http.route("DELETE", "http://x.test/api/v3/order", flaky)
    ticks = iter([1.0, 2.0])
    ExchangeClient("http://x.test", api_key="k", api_secret="s", clock=lambda: next(ticks)).cancel_order("BTCUSDT", "c1")
    assert seen == ["1000", "2000"]


def test_signed_call_without_credentials_names_variables():
    with pytest.raises(ExchangeError) as caught:
        ExchangeClient("http://x.test").account()
    assert "genesis_exchange_api_key" in str(caught.value)


def test_cancel_unknown_order_is_2011(exchange_fake):
    with pytest.raises(ExchangeError) as caught:
        client(exchange_fake).cancel_order("BTCUSDT", "nope")
    assert caught.value.code == -2011
