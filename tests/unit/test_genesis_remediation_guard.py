# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import time

import pytest

from ansible_collections.genesis.runbook.plugins.modules import genesis_remediation_guard as guard


@pytest.fixture
def base(tmp_path, monkeypatch):
    monkeypatch.setattr(guard, "POLL_S", 0.05)
    return dict(state_dir=str(tmp_path / "guard"), node_name="node1", run_id="run-a", scenario="fix_execution")


def test_lock_take_is_idempotent_and_release_frees_it(run_module, base):
    first, failed = run_module(guard.main, dict(base, state="locked"))
    assert not failed and first["changed"] is False and first["lock"]["run_id"] == "run-a"
    again, failed = run_module(guard.main, dict(base, state="locked"))
    assert not failed and again["lock"]["acquired_at"] == first["lock"]["acquired_at"]
    released, failed = run_module(guard.main, dict(base, state="unlocked"))
    assert not failed and released["lock"] is None


def test_other_run_waits_then_fails_naming_the_holder(run_module, base):
    run_module(guard.main, dict(base, state="locked"))
    started = time.time()
    result, failed = run_module(guard.main, dict(base, state="locked", run_id="run-b", lock_wait=1))
    assert failed and time.time() - started >= 1
    assert "node1 is being remediated by run run-a (scenario fix_execution)" in result["msg"]
    assert result["msg"].endswith("nothing was done.")


def test_release_by_another_run_keeps_the_lock(run_module, base):
    run_module(guard.main, dict(base, state="locked"))
    result, failed = run_module(guard.main, dict(base, state="unlocked", run_id="run-b"))
    assert not failed and result["lock"]["run_id"] == "run-a"


def test_abandoned_lock_is_taken_over(run_module, base, tmp_path):
    run_module(guard.main, dict(base, state="locked"))
    path = tmp_path / "guard" / "remediation.lock"
    lock = json.loads(path.read_text())
    lock["expires_at"] = time.time() - 1
    path.write_text(json.dumps(lock))
    result, failed = run_module(guard.main, dict(base, state="locked", run_id="run-b", lock_wait=0))
    assert not failed and result["lock"]["run_id"] == "run-b"


def test_check_mode_writes_nothing(run_module, base, tmp_path):
    result, failed = run_module(guard.main, dict(base, state="locked"), check_mode=True)
    assert not failed and result["lock"]["run_id"] == "run-a"
    assert not (tmp_path / "guard").exists()
    result, failed = run_module(guard.main, dict(base, state="spent"), check_mode=True)
    assert not failed and result["changed"] is True and result["budget_used"] == 1
    assert not (tmp_path / "guard").exists()
    run_module(guard.main, dict(base, state="spent"))
    again, failed = run_module(guard.main, dict(base, state="spent", run_id="run-b"), check_mode=True)
    assert not failed and again["changed"] is True and again["budget_used"] == 2
    assert json.loads((tmp_path / "guard" / "budget.json").read_text())["fix_execution"][0]["run_id"] == "run-a"
    assert len(json.loads((tmp_path / "guard" / "budget.json").read_text())["fix_execution"]) == 1


def test_budget_allows_three_per_window_then_is_exhausted(run_module, base):
    for number, run_id in enumerate(["r1", "r2", "r3"], start=1):
        result, failed = run_module(guard.main, dict(base, state="spent", run_id=run_id))
        assert not failed and result["changed"] is True and result["budget_used"] == number
    assert result["budget_remaining"] == 0
    fourth, failed = run_module(guard.main, dict(base, state="spent", run_id="r4"))
    assert not failed and fourth["budget_exhausted"] is True and fourth["changed"] is False and fourth["budget_used"] == 3


def test_spending_twice_in_one_run_counts_once(run_module, base):
    run_module(guard.main, dict(base, state="spent"))
    again, failed = run_module(guard.main, dict(base, state="spent"))
    assert not failed and again["changed"] is False and again["budget_used"] == 1


def test_budget_is_per_scenario_and_slides(run_module, base, tmp_path):
    run_module(guard.main, dict(base, state="spent", budget=1))
    other, failed = run_module(guard.main, dict(base, state="spent", scenario="orderbook_sync", budget=1))
    assert not failed and other["changed"] is True
    path = tmp_path / "guard" / "budget.json"
    data = json.loads(path.read_text())
    data["fix_execution"][0]["at"] = time.time() - 7200
    path.write_text(json.dumps(data))
    slid, failed = run_module(guard.main, dict(base, state="spent", run_id="run-b", budget=1))
    assert not failed and slid["changed"] is True and slid["budget_used"] == 1


def test_unreadable_budget_file_is_rewritten(run_module, base, tmp_path):
    (tmp_path / "guard").mkdir()
    (tmp_path / "guard" / "budget.json").write_text("{torn")
    result, failed = run_module(guard.main, dict(base, state="spent"))
    assert not failed and result["budget_used"] == 1


@pytest.mark.parametrize("args, option", [
    (dict(lock_wait=-1), "lock_wait"),
    (dict(lock_ttl=5), "lock_ttl"),
    (dict(budget=0), "budget"),
    (dict(budget_window=1), "budget_window"),
    (dict(run_id=""), "run_id"),
    (dict(scenario=""), "scenario"),
    (dict(state="open"), "state"),
])
def test_bad_input_names_the_option(run_module, base, args, option):
    result, failed = run_module(guard.main, dict(dict(base, state="spent"), **args))
    assert failed and option in result["msg"]


def test_unwritable_state_dir_is_one_sentence(run_module, base, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result, failed = run_module(guard.main, dict(base, state="locked", state_dir=str(blocker / "sub")))
    assert failed and result["msg"].startswith("state_dir %s could not be created" % (blocker / "sub"))
