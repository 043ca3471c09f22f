# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Semantic bad inputs of the fix_correlations, strategy_recovery and config_restore roles: one clear sentence
naming the variable, before anything is read or changed (one ansible-playbook run, one local host per case)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CASES = {
    # host: (role, bad variables, what the failure message must say)
    "corr_limit": ("fix_correlations", {"fix_correlations_limit": 5000}, "fix_correlations_limit must be 2..1000"),
    "corr_points": ("fix_correlations", {"fix_correlations_min_points": 200}, "fix_correlations_min_points 2..limit-1"),
    "corr_source": ("fix_correlations", {"fix_correlations_sources": ["stored"]}, "fix_correlations_sources"),
    "strat_watch": ("strategy_recovery", {"strategy_recovery_watch_seconds": 9999}, "watch_seconds 0..600"),
    "strat_errors": ("strategy_recovery", {"strategy_recovery_max_errors": -1}, "max_errors must be 0 or more"),
    "strat_names": ("strategy_recovery", {"strategy_recovery_strategies": [" "]}, "strategy names not empty"),
    "conf_lines": ("config_restore", {"config_restore_diff_lines": 0}, "config_restore_diff_lines must be 1..10000"),
    "conf_same": ("config_restore", {"config_restore_config_dir": "/app/config", "config_restore_known_good_dir": "/app/config"},
                  "config_restore_config_dir must differ from config_restore_known_good_dir"),
    "conf_order": ("config_restore", {"config_restore_test_order": {"symbol": "BTCUSDT", "side": "HOLD", "quantity": "1"}},
                   "config_restore_test_order"),
}


@pytest.fixture(scope="module")
def outcome(tmp_path_factory):
    work = tmp_path_factory.mktemp("roles")
    hosts = {}
    for host, (role, variables, dummy) in CASES.items():
        hosts[host] = dict(variables, case_role=role, ansible_connection="local", ansible_python_interpreter=sys.executable,
                           genesis_api_key="k3y", genesis_api_url="http://127.0.0.1:9", genesis_home=str(work / "app"))
    (work / "inventory.json").write_text(json.dumps({"genesis": {"hosts": hosts}}))
    # one play (a play whose hosts all fail ends the run): each host includes its own role
    plays = [{"name": "bad inputs", "hosts": "genesis", "gather_facts": False,
              "tasks": [{"name": "Run the role", "ansible.builtin.include_role": {"name": "genesis.runbook.{{ case_role }}"}}]}]
    (work / "play.yml").write_text(json.dumps(plays))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="json",
               ANSIBLE_LOAD_CALLBACK_PLUGINS="1", GENESIS_REPORT_DIR=str(work / "reports"), ANSIBLE_LOCALHOST_WARNING="0")
    run = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", str(work / "inventory.json"),
                          str(work / "play.yml")], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    doc = json.loads(run.stdout[run.stdout.index("{"):])
    failures = {}
    for play in doc["plays"]:
        for task in play["tasks"]:
            for host, result in task["hosts"].items():
                if result.get("failed") and host not in failures:
                    failures[host] = (task["task"]["name"], result.get("msg", ""))
    return failures


@pytest.mark.parametrize("host", sorted(CASES))
def test_bad_input_fails_with_one_sentence_before_any_change(outcome, host):
    assert host in outcome, "%s did not fail" % host
    task, message = outcome[host]
    role, dummy, expected = CASES[host]
    assert expected in message, (task, message)
    # the argument spec or the first assertion stops the role: nothing was read from the node or changed
    assert task.split(" : ")[-1].startswith(("Validating arguments against arg spec", "Check the role's inputs")), task
    assert role in task
