#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: genesis_positions_info
short_description: Compare a genesis node's open positions with its tier's position limit (runbook scenario 8)
version_added: 0.1.0
description:
  - Reads the open positions (C(GET /positions?status=open)) and the tier (C(GET /config/tier)).
  - A position violates the limit when its C(dollar_value) exceeds the tier's position limit, taken from
    O(limit_source) or given as O(limit).
  - Reports the violations (largest excess first), the tier and its state (C(STABLE), C(PROTECTED), C(LOCKED)), and
    when the position monitor last refreshed the values (C(monitored_at)).
  - Read-only; fails with one sentence when the control API cannot be reached.
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
  limit_source:
    description:
      - Which limit of C(GET /config/tier) applies - the tier's C(max_position_size) (the contract's threshold) or
        C(effective_max_position_size) (the tier limit times the limits factor a tilt intervention may have lowered).
    type: str
    choices: [max_position_size, effective_max_position_size]
    default: max_position_size
  limit:
    description:
      - A position limit in USDT that overrides O(limit_source) (greater than 0).
    type: float
'''

EXAMPLES = r'''
- name: Positions against the tier limit
  genesis.runbook.genesis_positions_info:
  register: positions

- name: List the violations
  ansible.builtin.debug:
    msg: "{{ item.position_id }} {{ item.symbol }}: {{ item.dollar_value }} USDT > {{ item.limit }}"
  loop: "{{ positions.violations }}"
'''

RETURN = r'''
compliant:
  description: True when no open position exceeds the limit.
  returned: always
  type: bool
  sample: false
limit:
  description: The position limit applied, in USDT.
  returned: always
  type: float
  sample: 500.0
violations:
  description: The open positions above the limit, largest excess first.
  returned: always
  type: list
  elements: dict
  sample: [{position_id: pos-node1-open1, symbol: BTCUSDT, side: LONG, quantity: 0.01172, current_price: 64000.0,
            dollar_value: 750.08, limit: 500.0, excess: 250.08}]
positions:
  description: Every open position (C(GET /positions?status=open)).
  returned: always
  type: list
  elements: dict
  sample: [{position_id: pos-node1-open1, symbol: BTCUSDT, side: LONG, quantity: 0.01172, dollar_value: 750.08}]
open_count:
  description: Number of open positions.
  returned: always
  type: int
  sample: 3
exposure:
  description: Sum of the open positions' dollar values in USDT.
  returned: always
  type: float
  sample: 1018.5
tier:
  description: The tier as C(GET /config/tier) reports it (tier, limits, limits_factor, state).
  returned: always
  type: dict
  sample: {tier: HUNTER, max_position_size: 500, limits_factor: 1.0, effective_max_position_size: 500.0, state: STABLE}
monitored_at:
  description: When the position monitor last refreshed prices and values (ISO 8601), or null.
  returned: always
  type: str
  sample: "2026-11-27T18:40:01.123Z"
monitored_at_ts:
  description: RV(monitored_at) in epoch seconds, or null.
  returned: always
  type: float
  sample: 1795804801.123
'''


from ansible.module_utils.basic import AnsibleModule
from ansible_collections.genesis.runbook.plugins.module_utils._common import (
    GenesisModule, genesis_common_argument_spec, parse_iso,
)
from ansible_collections.genesis.runbook.plugins.module_utils.api import GenesisApiError
from ansible_collections.genesis.runbook.plugins.module_utils.trading import LIMIT_SOURCES, number, tier_limit, violations


def main():
    argument_spec = genesis_common_argument_spec()
    argument_spec.update(
        limit_source=dict(type="str", choices=list(LIMIT_SOURCES), default="max_position_size"),
        limit=dict(type="float"),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    gm = GenesisModule(module, "genesis_positions_info")
    params = module.params
    if params["limit"] is not None and params["limit"] <= 0:
        gm.fail("limit must be greater than 0 USDT, got %s." % params["limit"])
    gm.require("api_key", "read the positions and the tier")

    api = gm.api()
    try:
        tier = api.get("/config/tier").data
        answer = api.get("/positions", query=dict(status="open")).data
    except GenesisApiError as exc:
        gm.fail(exc.message)
    if not isinstance(answer, dict) or not isinstance(answer.get("positions"), list):
        gm.fail("Control API %s/positions answered without a positions list." % api.endpoint)
    limit = tier_limit(tier if isinstance(tier, dict) else {}, params["limit_source"], params["limit"])
    if limit is None:
        gm.fail("Control API %s/config/tier answered without %s for tier %s: set limit." % (
            api.endpoint, params["limit_source"], (tier or {}).get("tier")))
    positions = answer["positions"]
    found = violations(positions, limit)
    monitored_at = answer.get("monitored_at")
    module.exit_json(changed=False, compliant=not found, limit=limit, violations=found, positions=positions,
                     open_count=len(positions), exposure=round(sum(number(p.get("dollar_value"), 0.0) for p in positions), 8),
                     tier=tier, monitored_at=monitored_at, monitored_at_ts=parse_iso(monitored_at))


if __name__ == "__main__":
    main()
