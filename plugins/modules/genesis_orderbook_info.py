#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: genesis_orderbook_info
short_description: Compare a genesis node's order books with the exchange (runbook scenario 13)
version_added: 0.1.0
description:
  - For each symbol, reads the node's Redis hash C(orderbook:<SYMBOL>) and the exchange's C(GET /api/v3/depth) (20 levels).
  - Reports both sides' best bid and ask, whether the local book is crossed, the spreads in basis points, the deviation
    of the local mid-price from the exchange's in basis points, and the local book's age.
  - A symbol is in sync when its local book exists, is not crossed, is not older than O(max_age) and its mid-price
    deviates at most O(tolerance_bps) from the exchange's.
  - Read-only; fails with one sentence when Redis or the exchange cannot be reached.
author:
  - genesis.runbook maintainers (@genesis-runbook)
extends_documentation_fragment:
  - genesis.runbook.connection
  - genesis.runbook.orderbook
attributes:
  check_mode:
    description: Runs normally in check mode (read-only).
    support: full
  diff_mode:
    description: Read-only; there is no diff.
    support: N/A
requirements:
  - redis (redis-py) on the node
'''

EXAMPLES = r'''
- name: Compare the books of the configured symbols
  genesis.runbook.genesis_orderbook_info:
    symbols: [BTCUSDT, ETHUSDT, SOLUSDT]
    tolerance_bps: 10
  register: books

- name: Report desynchronized books
  ansible.builtin.debug:
    msg: "{{ books.out_of_sync }} out of sync"
  when: not books.in_sync
'''

RETURN = r'''
in_sync:
  description: True when every compared symbol is in sync (false when there was nothing to compare).
  returned: always
  type: bool
  sample: false
out_of_sync:
  description: The symbols not in sync.
  returned: always
  type: list
  elements: str
  sample: [BTCUSDT]
symbols:
  description: The comparison per symbol.
  returned: always
  type: dict
  sample:
    BTCUSDT:
      symbol: BTCUSDT
      key: orderbook:BTCUSDT
      in_sync: false
      reasons: ["the local book is crossed (best bid 65280.0 >= best ask 64000.0)"]
      local: {best_bid: 65280.0, best_ask: 64000.0, crossed: true, spread_bps: -198.0, mid: 64640.0, age_s: 0.4,
              bid_levels: 20, ask_levels: 20, lastUpdateId: "1234"}
      exchange: {best_bid: 63999.9, best_ask: 64000.1, crossed: false, spread_bps: 0.03, mid: 64000.0,
                 bid_levels: 20, ask_levels: 20, lastUpdateId: 1240}
      deviation_bps: 100.0
      tolerance_bps: 10.0
used_weight:
  description: The last C(X-MBX-USED-WEIGHT-1M) the exchange answered.
  returned: always
  type: int
  sample: 105
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.genesis.runbook.plugins.module_utils._common import GenesisModule, genesis_common_argument_spec
from ansible_collections.genesis.runbook.plugins.module_utils import orderbook


def main():
    argument_spec = genesis_common_argument_spec()
    argument_spec.update(orderbook.orderbook_argument_spec())
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    gm = GenesisModule(module, "genesis_orderbook_info")
    entries, warnings, exchange, dummy = orderbook.compare_all(gm)
    for warning in warnings:
        module.warn(warning)
    out = sorted(s for s, e in entries.items() if not e["in_sync"])
    module.exit_json(changed=False, in_sync=bool(entries) and not out, out_of_sync=out,
                     symbols=dict((s, orderbook.public(e)) for s, e in entries.items()), used_weight=exchange.used_weight)


if __name__ == "__main__":
    main()
