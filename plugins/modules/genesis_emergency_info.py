#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: genesis_emergency_info
short_description: Read the market conditions and a genesis node's exposure to them (runbook scenario 20)
version_added: 0.1.0
description:
  - Market - for each symbol, the largest price move between two 1-second closes at most O(move_window) seconds apart
    within the last O(lookback) seconds (C(GET /api/v3/klines?interval=1s)), and the exchange's system status
    (C(GET /sapi/v1/system/status), C(1) is a trading halt).
  - Exposure - the node's open positions (C(GET /positions)), its pending orders (C(PENDING) or C(PARTIAL) rows of
    C(orders)), its strategies (C(GET /admin/strategies)), safe mode (C(GET /admin/safe-mode)) and halt flag
    (C(GET /account/status)).
  - RV(emergency) is true when a move reaches O(move_percent) or the exchange reports a halt; RV(exposed) is true while
    the node still has open positions, pending orders, an enabled strategy or safe mode off.
  - Read-only. An exchange that cannot be reached is reported in RV(market) (C(exchange_error)), not a failure;
    the control API or the database not answering fails with one sentence.
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
  symbols:
    description:
      - Symbols to watch. By default the symbols of the node's tickers (C(GET /admin/websocket)).
    type: list
    elements: str
  move_percent:
    description:
      - A move of at least this many percent within O(move_window) seconds is an emergency (greater than 0).
    type: float
    default: 10
  move_window:
    description:
      - Seconds within which a move counts (1 to 3600).
    type: int
    default: 60
  lookback:
    description:
      - Seconds of 1-second klines examined (O(move_window) to 1000), so that an emergency that began a few minutes ago
        is still seen while the node is exposed.
    type: int
    default: 300
  max_orders:
    description:
      - At most this many pending orders are listed (1 to 1000).
    type: int
    default: 500
requirements:
  - psycopg2 (psycopg2-binary) on the node
'''

EXAMPLES = r'''
- name: Market conditions and exposure
  genesis.runbook.genesis_emergency_info:
    move_percent: 10
    move_window: 60
  register: emergency

- name: Say what was found
  ansible.builtin.debug:
    msg: "{{ emergency.emergency_reasons + emergency.exposure_reasons }}"
'''

RETURN = r'''
emergency:
  description: Whether the market conditions are an emergency (a move of at least O(move_percent), or an exchange halt).
  returned: always
  type: bool
  sample: true
emergency_reasons:
  description: Why, one sentence each.
  returned: always
  type: list
  elements: str
  sample: ["BTCUSDT moved 15.0 % down within 60 s", "the exchange reports status 1 (system maintenance)"]
exposed:
  description: Whether the node is still exposed (open positions, pending orders, an enabled strategy, safe mode off).
  returned: always
  type: bool
  sample: true
exposure_reasons:
  description: Why, one sentence each.
  returned: always
  type: list
  elements: str
  sample: ["3 open positions", "safe mode is off"]
market:
  description: Per-symbol largest move, the exchange's system status and any error reaching it.
  returned: always
  type: dict
  sample: {symbols: {BTCUSDT: {move_percent: 15.0, direction: down, from_price: 64000.0, to_price: 54400.0}},
           max_move_percent: 15.0, system_status: {status: 1, msg: system maintenance}, exchange_error: null}
exposure:
  description: Open positions, pending orders, strategies, safe mode and halt flag of the node.
  returned: always
  type: dict
  sample: {open_count: 3, open_positions: [], pending_count: 0, pending_orders: [], running_strategies: [momentum],
           strategies: {momentum: {state: RUNNING, enabled: true}}, safe_mode: {enabled: false}, halted: false}
'''


from ansible.module_utils.basic import AnsibleModule
from ansible_collections.genesis.runbook.plugins.module_utils._common import GenesisModule, genesis_common_argument_spec
from ansible_collections.genesis.runbook.plugins.module_utils.api import GenesisApiError
from ansible_collections.genesis.runbook.plugins.module_utils.db import GenesisDbError, plain_row
from ansible_collections.genesis.runbook.plugins.module_utils.exchange import ExchangeError
from ansible_collections.genesis.runbook.plugins.module_utils.trading import move_reason, number, symbol_move

PENDING_SQL = ("SELECT order_id, client_order_id, exchange_order_id, symbol, side, type, quantity, status, strategy, "
               "created_at FROM orders WHERE status IN ('PENDING', 'PARTIAL') ORDER BY created_at LIMIT %s")


def enabled_strategies(strategies):
    """Names of the strategies that can still create orders."""
    return sorted(name for name, s in (strategies or {}).items()
                  if s.get("enabled", True) or s.get("state") not in ("STOPPED", "STOPPING"))


def read_market(exchange, symbols, params):
    market = dict(symbols={}, max_move_percent=0.0, system_status=None, exchange_error=None)
    try:
        market["system_status"] = exchange.system_status().data
        for symbol in symbols:
            market["symbols"][symbol] = symbol_move(exchange, symbol, params["move_window"], params["lookback"])
    except ExchangeError as exc:
        market["exchange_error"] = exc.message
    moves = [m["move_percent"] for m in market["symbols"].values()]
    market["max_move_percent"] = max(moves) if moves else 0.0
    return market


def main():
    argument_spec = genesis_common_argument_spec()
    argument_spec.update(
        symbols=dict(type="list", elements="str"),
        move_percent=dict(type="float", default=10),
        move_window=dict(type="int", default=60),
        lookback=dict(type="int", default=300),
        max_orders=dict(type="int", default=500),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    gm = GenesisModule(module, "genesis_emergency_info")
    params = module.params
    if params["move_percent"] <= 0:
        gm.fail("move_percent must be greater than 0, got %s." % params["move_percent"])
    if not 1 <= params["move_window"] <= 3600:
        gm.fail("move_window must be between 1 and 3600 seconds, got %s." % params["move_window"])
    if not params["move_window"] <= params["lookback"] <= 1000:
        gm.fail("lookback must be between move_window (%s) and 1000 seconds, got %s." % (params["move_window"], params["lookback"]))
    if not 1 <= params["max_orders"] <= 1000:
        gm.fail("max_orders must be between 1 and 1000, got %s." % params["max_orders"])
    gm.require("api_key", "read the node's positions, strategies and safe mode")
    exchange = gm.exchange("read the market conditions")

    api = gm.api()
    try:
        positions = api.get("/positions", query=dict(status="open")).data
        strategies = (api.get("/admin/strategies").data or {}).get("strategies") or {}
        safe_mode = api.get("/admin/safe-mode").data
        account = api.get("/account/status").data
        symbols = [s.strip().upper() for s in params["symbols"] or [] if s and s.strip()]
        if not symbols:
            symbols = sorted(((api.get("/admin/websocket").data or {}).get("tickers") or {}).keys())
    except GenesisApiError as exc:
        gm.fail(exc.message)
    except AttributeError:
        gm.fail("Control API %s answered a non-object where an object was expected." % api.endpoint)

    db = gm.db("list the pending orders")
    try:
        pending = [plain_row(r) for r in db.query(PENDING_SQL, (params["max_orders"],), what="listing pending orders")]
    except GenesisDbError as exc:
        gm.fail(exc.message)
    finally:
        db.close()

    market = read_market(exchange, symbols, params)
    reasons = []
    for symbol, move in sorted(market["symbols"].items()):
        if move["move_percent"] >= params["move_percent"]:
            reasons.append(move_reason(symbol, move, params["move_window"]))
    status = market["system_status"] or {}
    if number(status.get("status"), 0) != 0:
        reasons.append("the exchange reports status %s (%s)" % (status.get("status"), status.get("msg") or "halt"))

    open_positions = (positions or {}).get("positions") or []
    running = enabled_strategies(strategies)
    exposure = dict(open_count=len(open_positions), open_positions=open_positions, pending_count=len(pending),
                    pending_orders=pending, strategies=dict((n, dict(state=s.get("state"), enabled=s.get("enabled")))
                                                            for n, s in strategies.items()),
                    running_strategies=running, safe_mode=safe_mode, halted=bool((account or {}).get("halted")))
    exposed = []
    if open_positions:
        exposed.append("%d open position%s" % (len(open_positions), "" if len(open_positions) == 1 else "s"))
    if pending:
        exposed.append("%d pending order%s" % (len(pending), "" if len(pending) == 1 else "s"))
    if running:
        exposed.append("strategies still enabled: %s" % ", ".join(running))
    if not (safe_mode or {}).get("enabled"):
        exposed.append("safe mode is off")
    module.exit_json(changed=False, emergency=bool(reasons), emergency_reasons=reasons, exposed=bool(exposed),
                     exposure_reasons=exposed, market=market, exposure=exposure)


if __name__ == "__main__":
    main()
