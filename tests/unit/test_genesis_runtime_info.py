# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.genesis.runbook.plugins.modules import genesis_runtime_info

ARGS = dict(api_key="k3y-api-secret")


def test_all_sections(run_module, api_fake):
    result, failed = run_module(genesis_runtime_info.main, ARGS)
    assert not failed and result["changed"] is False and result["reachable"] is True and result["errors"] == {}
    assert result["circuit_breakers"]["orders"]["state"] == "open"
    assert result["strategies"]["momentum"]["state"] == "RUNNING"
    assert result["websocket"]["tickers"]["BTCUSDT"]["age_s"] == 0.5
    for section in ("rate_limits", "safe_mode", "cluster", "tilt", "account", "tier"):
        assert section in result
    assert result["positions"]["count"] == 1 and result["positions"]["monitored_age_s"] > 0


def test_positions_without_monitor_time(run_module, api_fake):
    api_fake.sections["/positions"] = {"positions": [], "count": 0, "monitored_at": None}
    result, failed = run_module(genesis_runtime_info.main, dict(ARGS, sections=["positions"]))
    assert not failed and result["positions"]["monitored_age_s"] is None


def test_sections_limit_and_check_mode(run_module, api_fake, http):
    result, failed = run_module(genesis_runtime_info.main, dict(ARGS, sections=["tilt"]), check_mode=True)
    assert not failed and result["changed"] is False and result["tilt"]["score"] == 12.5
    assert "circuit_breakers" not in result
    assert [c.path for c in http.calls] == ["/tilt/status"]


def test_idempotent(run_module, api_fake):
    first, _failed = run_module(genesis_runtime_info.main, ARGS)
    second, _failed = run_module(genesis_runtime_info.main, ARGS)
    for result in (first, second):  # an age grows between two calls; everything else is equal
        result["positions"].pop("monitored_age_s")
    assert first == second and second["changed"] is False


def test_unreachable_is_evidence(run_module, api_fake):
    api_fake.down = True
    result, failed = run_module(genesis_runtime_info.main, dict(ARGS, api_retries=0))
    assert not failed and result["reachable"] is False
    assert result["error"] == "Control API GET http://127.0.0.1:8080/admin/circuit-breakers is unreachable: connection refused."
    assert "circuit_breakers" not in result


def test_section_error_is_kept_per_section(run_module, api_fake, http):
    http.route("GET", "http://127.0.0.1:8080/admin/cluster", (404, {"error": "not_found", "message": "no cluster"}, {}))
    result, failed = run_module(genesis_runtime_info.main, ARGS)
    assert not failed and "cluster" not in result
    assert result["errors"]["cluster"].endswith("answered HTTP 404 not_found: no cluster.")


def test_rejected_key_fails_naming_the_variable(run_module, api_fake):
    result, failed = run_module(genesis_runtime_info.main, dict(api_key="wrong-key-1234"))
    assert failed and "genesis_api_key" in result["msg"] and "wrong-key-1234" not in result["msg"]


@pytest.mark.parametrize("args, option", [
    (dict(api_key=""), "api_key"),
    (dict(ARGS, sections=["bogus"]), "sections"),
    (dict(ARGS, sections=[]), "sections"),
])
def test_bad_input(run_module, api_fake, args, option):
    result, failed = run_module(genesis_runtime_info.main, args)
    assert failed and option in result["msg"]
