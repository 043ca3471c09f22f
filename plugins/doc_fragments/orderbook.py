# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):
    """The order-book comparison options (module_utils.orderbook.orderbook_argument_spec)."""

    DOCUMENTATION = r'''
options:
  symbols:
    description:
      - Symbols to compare. By default every C(orderbook:*) key found in Redis.
      - Pass the node's configured symbols so that a missing book counts as out of sync
        (and M(genesis.runbook.genesis_orderbook) recreates it).
    type: list
    elements: str
  tolerance_bps:
    description:
      - Largest deviation of the local mid-price from the exchange's, in basis points, that counts as in sync.
    type: float
    default: 10
  max_age:
    description:
      - Largest age in seconds of the local book's C(ts) that counts as in sync; C(0) disables the check.
    type: float
    default: 10
'''
