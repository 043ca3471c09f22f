#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: genesis_triage_info
short_description: One read-only sweep of a genesis node against the detection criteria of all 20 runbook scenarios
version_added: 0.2.0
description:
  - Reads each surface of the node once (control API, supervisord, PostgreSQL, Redis, the exchange, the node's files)
    and checks it against every runbook scenario's detection criteria with the contract's thresholds (section 7),
    then walks the runbook's quick-reference decision tree (accepting trades? executing? market data active?).
  - A surface that cannot be read makes only the checks that need it inconclusive (RV(checks[].detected) is null
    and RV(checks[].error) says why); the sweep itself fails only on bad input.
  - Triage is a screen for the whole fleet at once. Each scenario role detects again with its own, fuller evidence
    before it changes anything.
author:
  - genesis.runbook maintainers (@genesis-runbook)
extends_documentation_fragment:
  - genesis.runbook.connection
attributes:
  check_mode:
    description: Read-only; runs the same in check mode.
    support: full
  diff_mode:
    description: Read-only, no diff.
    support: none
options:
  scenarios:
    description:
      - Runbook scenario numbers to check (1 to 20). Default all.
    type: list
    elements: int
  thresholds:
    description:
      - Overrides of the detection thresholds, by name. Known names and defaults are C(heartbeat_max_age=60),
        C(pending_max_age=30), C(breakers=[orders]), C(market_data_max_age=10), C(market_data_fresh_age=2),
        C(memory_percent=90), C(tilt_score=70), C(rate_warn_ratio=0.8), C(rate_limit_per_minute=600),
        C(rate_quiet_window=60), C(cert_min_days=30), C(cert_critical_days=7), C(disk_critical_percent=95),
        C(disk_warn_percent=90), C(orderbook_tolerance_bps=10), C(orderbook_max_age=10), C(max_drift_ms=1000),
        C(strategy_max_errors=0), C(backup_max_age_h=24), C(response_ms=1000), C(cpu_percent=80), C(cpu_window=1.0)
        (seconds of CPU sampling, 0 to skip), C(move_percent=10), C(move_window=60), C(move_lookback=300).
    type: dict
    default: {}
  symbols:
    description:
      - Symbols for the market-data, order-book and volatility checks. Default the node's own tickers.
    type: list
    elements: str
  memory_budget_mb:
    description:
      - Memory budget of the genesis programs in MB. Default C(memory_budget_mb) of C(config/node.yaml).
    type: float
  cert_path:
    description:
      - The node certificate. Default C(cert_path) of C(config/node.yaml).
    type: path
  clock_offset_file:
    description:
      - File holding a simulated clock error in ms (genesis-lab only).
    type: path
  restic_path:
    description: The restic binary.
    type: path
    default: restic
  restic_repository:
    description: The restic repository. Default the contract's C(<genesis_home>/.genesis/backups/restic-repo).
    type: path
  restic_password_file:
    description: The repository's password file. Default the contract's C(<genesis_home>/.genesis/backups/restic-password).
    type: path
  backup_cron_file:
    description: The backup schedule's cron file; when set, its absence is a scenario 16 fault.
    type: path
'''

EXAMPLES = r'''
- name: Sweep the node against every runbook scenario
  genesis.runbook.genesis_triage_info:
    thresholds:
      cpu_window: 0.5
  register: triage

- name: Show what was found
  ansible.builtin.debug:
    msg: "{{ triage.detected }} on the {{ triage.tree.path | join(' -> ') }} branch"
'''

RETURN = r'''
checks:
  description: One entry per scenario checked, in scenario order.
  returned: always
  type: list
  elements: dict
  contains:
    scenario:
      description: Runbook scenario number.
      type: int
    detected:
      description: True when the scenario's detection criteria are met, false when not, null when inconclusive.
      type: bool
    reasons:
      description: Why the scenario is detected, one short clause each.
      type: list
      elements: str
    evidence:
      description: The figures the decision was made on.
      type: dict
    error:
      description: Why the check was inconclusive; null otherwise.
      type: str
    elapsed_s:
      description: Seconds the check took (surfaces already read by an earlier check cost nothing).
      type: float
  sample: [{scenario: 13, detected: true, reasons: ["BTCUSDT: the local book is crossed"], evidence: {}, error: null,
            elapsed_s: 0.04}]
detected:
  description: Scenario numbers whose detection criteria are met.
  returned: always
  type: list
  elements: int
  sample: [13]
inconclusive:
  description: Scenario numbers that could not be checked.
  returned: always
  type: list
  elements: int
  sample: []
tree:
  description:
    - The runbook's decision tree over the sweep. C(branch) is 1, 2 or 3 when the node stops at the tree's first,
      second or third question, null when it reaches the specific symptoms.
  returned: always
  type: dict
  sample: {accepting_trades: true, executing: true, market_data_active: true, branch: null,
           path: ["accepting trades? yes", "executing? yes", "market data active? yes", "specific symptoms"]}
swept_at:
  description: When the sweep ran (UTC).
  returned: always
  type: str
  sample: "2026-11-28T01:11:55.858Z"
elapsed_s:
  description: Seconds the whole sweep took.
  returned: always
  type: float
  sample: 1.93
'''

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.genesis.runbook.plugins.module_utils._common import GenesisModule, genesis_common_argument_spec
from ansible_collections.genesis.runbook.plugins.module_utils import triage


def thresholds_of(gm, given):
    merged = dict(triage.DEFAULTS)
    unknown = sorted(k for k in given if k not in merged)
    if unknown:
        gm.fail("thresholds has unknown names %s: expected some of %s." % (", ".join(unknown), ", ".join(sorted(merged))))
    for name, value in given.items():
        if name == "breakers":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                gm.fail("thresholds.breakers must be a list of circuit-breaker names, got %r." % (value,))
        else:
            try:
                value = float(value)
            except (TypeError, ValueError):
                gm.fail("thresholds.%s must be a number, got %r." % (name, value))
            if value < 0:
                gm.fail("thresholds.%s must not be negative, got %s." % (name, value))
        merged[name] = value
    return merged


def main():
    argument_spec = genesis_common_argument_spec()
    argument_spec.update(
        scenarios=dict(type="list", elements="int"),
        thresholds=dict(type="dict", default={}),
        symbols=dict(type="list", elements="str"),
        memory_budget_mb=dict(type="float"),
        cert_path=dict(type="path"),
        clock_offset_file=dict(type="path"),
        restic_path=dict(type="path", default="restic"),
        restic_repository=dict(type="path"),
        restic_password_file=dict(type="path", no_log=False),
        backup_cron_file=dict(type="path"),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    gm = GenesisModule(module, "genesis_triage_info")
    params = dict(module.params)
    scenarios = params["scenarios"] if params["scenarios"] is not None else list(triage.SCENARIOS)
    bad = sorted(set(n for n in scenarios if n not in triage.SCENARIOS))
    if bad or not scenarios:
        gm.fail("scenarios must list runbook scenario numbers between 1 and 20, got %s." % (bad or "an empty list"))
    params.update(thresholds_of(gm, params["thresholds"]))
    if params["memory_budget_mb"] is not None and params["memory_budget_mb"] <= 0:
        gm.fail("memory_budget_mb must be greater than 0, got %s." % params["memory_budget_mb"])

    started = time.time()
    result = triage.sweep(gm, params, sorted(set(scenarios)))
    checks = [result["checks"][n] for n in sorted(result["checks"])]
    for check in checks:
        check["reasons"] = [gm.clean(r) for r in check["reasons"]]
        if check["error"]:
            check["error"] = gm.clean(check["error"])
    module.exit_json(changed=False, checks=checks, detected=result["detected"], inconclusive=result["inconclusive"],
                     tree=result["tree"], swept_at=result["swept_at"], elapsed_s=round(time.time() - started, 3))


if __name__ == "__main__":
    main()
