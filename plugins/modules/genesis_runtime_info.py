#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: genesis_runtime_info
short_description: Gather a genesis node's runtime state from its control API in one call
version_added: 0.1.0
description:
  - Reads the admin state of the control API, one section per endpoint, read-only
    (C(/admin/circuit-breakers), C(/admin/websocket), C(/admin/rate-limits), C(/admin/strategies),
    C(/admin/safe-mode), C(/admin/cluster), C(/tilt/status), C(/account/status), C(/config/tier)).
  - An unreachable API is evidence, not a failure; the result is C(reachable=false) with an error sentence.
  - A section whose endpoint answers an error is left out and its error sentence is in C(errors).
  - A rejected O(api_key) (HTTP 401) fails the module.
author:
  - genesis.runbook maintainers (@genesis-runbook)
extends_documentation_fragment:
  - genesis.runbook.connection
attributes:
  check_mode:
    description: Runs normally in check mode (read-only).
    support: full
  diff_mode:
    description: Read-only; there is no diff.
    support: N/A
options:
  sections:
    description:
      - The sections to gather; all of them by default.
    type: list
    elements: str
    choices: [circuit_breakers, websocket, rate_limits, strategies, safe_mode, cluster, tilt, account, tier, positions]
    default: [circuit_breakers, websocket, rate_limits, strategies, safe_mode, cluster, tilt, account, tier, positions]
'''

EXAMPLES = r'''
- name: Is the orders breaker open?
  genesis.runbook.genesis_runtime_info:
    api_key: "{{ genesis_api_key }}"
    sections: [circuit_breakers, strategies]
  register: runtime

- name: Show it
  ansible.builtin.debug:
    msg: "orders breaker is {{ runtime.circuit_breakers.orders.state }}"
  when: runtime.reachable and runtime.circuit_breakers is defined
'''

RETURN = r'''
reachable:
  description: Whether the control API answered.
  returned: always
  type: bool
  sample: true
error:
  description: Why the control API could not be read, as one sentence; null when it answered.
  returned: always
  type: str
  sample: "Control API GET http://127.0.0.1:8080/admin/circuit-breakers is unreachable: connection refused."
errors:
  description: Error sentence per section that could not be read.
  returned: always
  type: dict
  sample: {cluster: "Control API GET http://127.0.0.1:8080/admin/cluster answered HTTP 404 not_found: no such endpoint."}
circuit_breakers:
  description: Breakers by name (C(state) closed, open or half_open, C(failures), C(opened_at), C(last_failure)).
  returned: when the section is requested and answered
  type: dict
  sample: {orders: {state: open, failures: 5, opened_at: "2026-11-27T18:40:01.123Z", last_failure: "2026-11-27T18:40:01.123Z"}}
websocket:
  description: Market-data mode, stream connections and ticker ages.
  returned: when the section is requested and answered
  type: dict
  sample:
    mode: websocket
    connections: {execution: {state: connected, since: "2026-11-27T18:20:00.000Z", last_message_age_s: 0.4, last_error: null}}
    tickers: {BTCUSDT: {price: 64000.1, age_s: 0.5}}
rate_limits:
  description: The node's exchange rate-limit state.
  returned: when the section is requested and answered
  type: dict
  sample: {exchange_limit: 1200, limit_per_minute: 1000, protection: true, warn_ratio: 0.8, used_weight_1m: 240,
           usage_ratio: 0.2, recent_429: 0, last_429_at: null, retry_after_until: null, queue_length: 0}
strategies:
  description: Strategies by name with their state and error counters.
  returned: when the section is requested and answered
  type: dict
  sample: {mean_reversion: {state: RUNNING, enabled: true, safe_mode: false, primary_only: false, errors_total: 0,
           errors_last_5m: 0, last_error: null, last_trade_at: "2026-11-27T18:40:01.123Z", trades_last_5m: 12}}
safe_mode:
  description: Safe mode state.
  returned: when the section is requested and answered
  type: dict
  sample: {enabled: false, since: null, reason: null}
cluster:
  description: The node's cluster membership and its view of the peers.
  returned: when the section is requested and answered
  type: dict
  sample: {node: node1, cluster: glab, role: primary, term: 3, fenced: false, priority: 1, split_brain: false,
           lease: {holder: node1, term: 3, expires_at: "2026-11-27T18:40:07.000Z"}, peers: {}}
tilt:
  description: Tilt score, level and recent tilt events.
  returned: when the section is requested and answered
  type: dict
  sample: {score: 12.5, level: NORMAL, consecutive_losses: 0, lockout_expiration: null, cooldown_active: false,
           violations_last_hour: 0, last_intervention_at: null, recent_events: []}
account:
  description: Account status.
  returned: when the section is requested and answered
  type: dict
  sample: {account_id: acc-1, balance_usdt: 10000.0, tier: HUNTER, locked_features: [], trading_enabled: true,
           safe_mode: false, halted: false}
tier:
  description: Tier configuration and limits.
  returned: when the section is requested and answered
  type: dict
  sample: {tier: HUNTER, max_position_size: 500, limits_factor: 1.0, effective_max_position_size: 500,
           tiers: {SNIPER: 100, HUNTER: 500, STRATEGIST: 2000, ARCHITECT: 10000}, state: STABLE}
positions:
  description:
    - The open positions (C(GET /positions)), their count and C(monitored_at), the last time the position monitor refreshed
      their prices; C(monitored_age_s) is its age in seconds.
  returned: when the section is requested and answered
  type: dict
  sample: {count: 1, monitored_at: "2026-11-27T18:40:01.123Z", monitored_age_s: 0.8,
           positions: [{position_id: pos-1, symbol: BTCUSDT, side: LONG, dollar_value: 320.5, status: OPEN}]}
'''

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.genesis.runbook.plugins.module_utils._common import (
    GenesisModule, genesis_common_argument_spec, parse_iso,
)
from ansible_collections.genesis.runbook.plugins.module_utils.api import GenesisApiError

# section -> (path, key to unwrap or None)
SECTIONS = dict(
    circuit_breakers=("/admin/circuit-breakers", "breakers"),
    websocket=("/admin/websocket", None),
    rate_limits=("/admin/rate-limits", None),
    strategies=("/admin/strategies", "strategies"),
    safe_mode=("/admin/safe-mode", None),
    cluster=("/admin/cluster", None),
    tilt=("/tilt/status", None),
    account=("/account/status", None),
    tier=("/config/tier", None),
    positions=("/positions", None),
)
ORDER = ["circuit_breakers", "websocket", "rate_limits", "strategies", "safe_mode", "cluster", "tilt", "account", "tier",
         "positions"]


def main():
    argument_spec = genesis_common_argument_spec()
    argument_spec.update(sections=dict(type="list", elements="str", choices=ORDER, default=list(ORDER)))
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    gm = GenesisModule(module, "genesis_runtime_info")
    gm.require("api_key", "read the control API's admin endpoints")
    sections = [s for s in ORDER if s in module.params["sections"]]
    if not sections:
        gm.fail("sections is empty: name at least one section to gather.")

    api = gm.api()
    result = dict(changed=False, reachable=False, error=None, errors={})
    for section in sections:
        path, key = SECTIONS[section]
        try:
            response = api.get(path)
        except GenesisApiError as exc:
            if exc.unreachable:
                result["reachable"] = False
                result["error"] = exc.message
                for name in ORDER:
                    result.pop(name, None)
                result["errors"] = {}
                module.exit_json(**result)
            if exc.status == 401:
                gm.fail(exc.message)
            result["reachable"] = True
            result["errors"][section] = exc.message
            continue
        result["reachable"] = True
        data = response.data
        if key and isinstance(data, dict) and key in data:
            data = data[key]
        if section == "positions" and isinstance(data, dict):
            monitored = parse_iso(data.get("monitored_at"))
            data["monitored_age_s"] = round(time.time() - monitored, 3) if monitored is not None else None
        result[section] = data
    module.exit_json(**result)


if __name__ == "__main__":
    main()
