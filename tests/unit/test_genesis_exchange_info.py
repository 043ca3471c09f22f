# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.genesis.runbook.plugins.modules import genesis_exchange_info

ORDER = dict(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.0002")


@pytest.fixture
def args(exchange_fake):
    return dict(exchange_url=exchange_fake.base, exchange_api_key=exchange_fake.api_key, exchange_api_secret=exchange_fake.secret)


def test_healthy_exchange(run_module, exchange_fake, args):
    result, failed = run_module(genesis_exchange_info.main, dict(args, test_order=ORDER))
    assert not failed and result["changed"] is False and result["reachable"] is True
    assert abs(result["drift_ms"]) < 1000 and result["server_time"] > 0
    assert result["system_status"] == {"status": 0, "msg": "normal", "error": None}
    assert result["auth"]["checked"] and result["auth"]["ok"] and result["auth"]["can_trade"] is True
    assert result["test_order"] == {"ok": True, "code": None, "status": 200, "retry_after": None, "error": None}
    assert result["used_weight"] == exchange_fake.used_weight


def test_drift_and_1021(run_module, exchange_fake, args):
    exchange_fake.clock_offset_ms = -20000
    result, failed = run_module(genesis_exchange_info.main, args, check_mode=True)
    assert not failed and result["drift_ms"] > 19000
    assert result["auth"]["ok"] is False and result["auth"]["code"] == -1021 and "time sync" in result["auth"]["error"]


def test_revoked_key_is_evidence_without_secrets(run_module, exchange_fake, args):
    result, failed = run_module(genesis_exchange_info.main, dict(args, exchange_api_secret="wrong-secret-xyz"))
    assert not failed and result["auth"]["code"] == -2015 and result["auth"]["status"] == 401
    assert "wrong-secret-xyz" not in str(result) and exchange_fake.api_key not in str(result)


def test_ban_reports_retry_after(run_module, exchange_fake, args):
    exchange_fake.ban_seconds = 30
    result, failed = run_module(genesis_exchange_info.main, args)
    assert not failed and result["reachable"] is True and "retry after 30 s" in result["error"]


def test_halted_exchange_and_rejected_test_order(run_module, exchange_fake, args):
    exchange_fake.status = {"status": 1, "msg": "system maintenance"}
    exchange_fake.halted = True
    result, failed = run_module(genesis_exchange_info.main, dict(args, test_order=ORDER, check_auth=False))
    assert not failed and result["system_status"]["status"] == 1
    assert result["test_order"]["ok"] is False and result["test_order"]["code"] == -3044
    assert result["auth"]["checked"] is False


def test_idempotent(run_module, exchange_fake, args):
    first, _failed = run_module(genesis_exchange_info.main, dict(args, test_order=ORDER))
    second, _failed = run_module(genesis_exchange_info.main, dict(args, test_order=ORDER))
    assert first["changed"] is False and second["changed"] is False


def test_without_keys_auth_is_not_checked(run_module, exchange_fake):
    result, failed = run_module(genesis_exchange_info.main, dict(exchange_url=exchange_fake.base))
    assert not failed and result["auth"]["checked"] is False and "genesis_exchange_api_key" in result["auth"]["error"]


def test_unreachable(run_module, exchange_fake, args):
    exchange_fake.down = True
    result, failed = run_module(genesis_exchange_info.main, dict(args, api_retries=0))
    assert not failed and result["reachable"] is False
    assert result["error"] == "Exchange GET http://exchange.test/api/v3/ping is unreachable: connection refused."


@pytest.mark.parametrize("override, option", [
    (dict(exchange_url=""), "exchange_url"),
    (dict(test_order=dict(ORDER, quantity="-1")), "test_order.quantity"),
    (dict(test_order=dict(ORDER, type="LIMIT")), "test_order.price"),
    (dict(test_order=dict(ORDER, side="HOLD")), "side"),
    (dict(test_order=ORDER, exchange_api_secret=""), "exchange_api_secret"),
    (dict(exchange_recv_window=0), "exchange_recv_window"),
])
def test_bad_input(run_module, exchange_fake, args, override, option):
    result, failed = run_module(genesis_exchange_info.main, dict(args, **override))
    assert failed and option in result["msg"]
