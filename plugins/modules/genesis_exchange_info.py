#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: genesis_exchange_info
short_description: Check the exchange as a genesis node sees it (reachability, clock drift, authentication, test order)
version_added: 0.1.0
description:
  - Pings the exchange, reads its server time and the drift of the node's clock against it, and its system status.
  - With O(check_auth=true) and the API key and secret set, makes a signed C(GET /api/v3/account) and reports whether
    authentication works, or the exchange's error code (C(-1021) clock, C(-2014)/C(-2015) key, 429 rate limit) and sentence.
  - With O(test_order), sends C(POST /api/v3/order/test), which the exchange validates but never places.
  - Reports the used request weight from C(X-MBX-USED-WEIGHT-1M).
  - Exchange answers, errors included, are evidence and never fail the module; an unreachable exchange gives C(reachable=false).
author:
  - genesis.runbook maintainers (@genesis-runbook)
extends_documentation_fragment:
  - genesis.runbook.connection
attributes:
  check_mode:
    description: Runs normally in check mode; the test order is read-only on the exchange.
    support: full
  diff_mode:
    description: Read-only; there is no diff.
    support: N/A
options:
  check_auth:
    description:
      - Make the signed account call (weight 20) when O(exchange_api_key) and O(exchange_api_secret) are set.
    type: bool
    default: true
  test_order:
    description:
      - An order to validate with C(POST /api/v3/order/test) (needs the API key and secret).
    type: dict
    suboptions:
      symbol:
        description: Symbol, for example C(BTCUSDT).
        type: str
        required: true
      side:
        description: Order side.
        type: str
        choices: [BUY, SELL]
        required: true
      type:
        description: Order type.
        type: str
        choices: [MARKET, LIMIT]
        default: MARKET
      quantity:
        description: Base-asset quantity, as the exchange expects it (for example C("0.0002")).
        type: str
        required: true
      price:
        description: Limit price, required for C(LIMIT).
        type: str
      time_in_force:
        description: Time in force of a C(LIMIT) order.
        type: str
        choices: [GTC, IOC, FOK]
        default: GTC
'''

EXAMPLES = r'''
- name: Is the exchange reachable, our clock right and our key accepted?
  genesis.runbook.genesis_exchange_info:
    exchange_url: "{{ genesis_exchange_url }}"
    exchange_api_key: "{{ genesis_exchange_api_key }}"
    exchange_api_secret: "{{ genesis_exchange_api_secret }}"
  register: exchange

- name: Prove orders would be accepted
  genesis.runbook.genesis_exchange_info:
    check_auth: false
    test_order: {symbol: BTCUSDT, side: BUY, type: MARKET, quantity: "0.0002"}
  register: probe
  failed_when: not probe.test_order.ok
'''

RETURN = r'''
reachable:
  description: Whether the exchange answered the ping.
  returned: always
  type: bool
  sample: true
error:
  description: Why the exchange could not be reached, as one sentence; null when it answered.
  returned: always
  type: str
  sample: "Exchange GET http://10.231.0.2:9000/api/v3/ping is unreachable: connection refused."
ping_ms:
  description: Round trip of the ping in milliseconds.
  returned: when reachable
  type: float
  sample: 2.4
server_time:
  description: The exchange's time in epoch milliseconds.
  returned: when reachable
  type: int
  sample: 1795804801123
drift_ms:
  description: Local clock minus exchange clock in milliseconds (positive when the node is ahead), corrected for latency.
  returned: when reachable
  type: int
  sample: -12
time_error:
  description: Why the server time could not be read, as one sentence.
  returned: when the server time could not be read
  type: str
  sample: "Exchange GET http://10.231.0.2:9000/api/v3/time answered HTTP 500."
system_status:
  description: The exchange's system status (C(0) normal, C(1) maintenance) or the error reading it.
  returned: when reachable
  type: dict
  sample: {status: 0, msg: normal, error: null}
auth:
  description: The signed account call's outcome.
  returned: always
  type: dict
  sample: {checked: true, ok: false, code: -2015, status: 401, retry_after: null, can_trade: null, account_type: null,
           error: "Exchange GET http://10.231.0.2:9000/api/v3/account rejected the API key, its permissions or the signature (-2015)."}
test_order:
  description: The test order's outcome.
  returned: when test_order is set
  type: dict
  sample: {ok: true, code: null, status: 200, error: null}
used_weight:
  description: The last C(X-MBX-USED-WEIGHT-1M) the exchange answered.
  returned: always
  type: int
  sample: 42
'''

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.genesis.runbook.plugins.module_utils._common import (
    GenesisModule, genesis_common_argument_spec, is_set,
)
from ansible_collections.genesis.runbook.plugins.module_utils.exchange import ExchangeError


def outcome(exc):
    return dict(ok=False, code=exc.code, status=exc.status, retry_after=exc.retry_after, error=exc.message)


def main():
    argument_spec = genesis_common_argument_spec()
    argument_spec.update(
        check_auth=dict(type="bool", default=True),
        test_order=dict(type="dict", options=dict(
            symbol=dict(type="str", required=True),
            side=dict(type="str", choices=["BUY", "SELL"], required=True),
            type=dict(type="str", choices=["MARKET", "LIMIT"], default="MARKET"),
            quantity=dict(type="str", required=True),
            price=dict(type="str"),
            time_in_force=dict(type="str", choices=["GTC", "IOC", "FOK"], default="GTC"),
        )),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    gm = GenesisModule(module, "genesis_exchange_info")
    params = module.params
    order = params["test_order"]
    order_params = None
    if order:
        try:
            if float(order["quantity"]) <= 0:
                raise ValueError()
        except ValueError:
            gm.fail("test_order.quantity must be a positive number, got %s." % order["quantity"])
        order_params = [("symbol", order["symbol"].upper()), ("side", order["side"]), ("type", order["type"]),
                        ("quantity", order["quantity"])]
        if order["type"] == "LIMIT":
            if not is_set(order.get("price")):
                gm.fail("test_order.price is required for a LIMIT test order.")
            order_params += [("timeInForce", order["time_in_force"]), ("price", order["price"])]
        gm.require("exchange_api_key", "send the test order")
        gm.require("exchange_api_secret", "sign the test order")

    exchange = gm.exchange("check the exchange")
    result = dict(changed=False, reachable=False, error=None, used_weight=None,
                  auth=dict(checked=False, ok=None, code=None, status=None, retry_after=None, can_trade=None,
                            account_type=None, error=None))
    try:
        result["ping_ms"] = exchange.ping().elapsed_ms
    except ExchangeError as exc:
        result["error"] = exc.message
        result["used_weight"] = exchange.used_weight
        if not exc.unreachable:
            result["reachable"] = True
        module.exit_json(**result)
    result["reachable"] = True

    try:
        before = time.time()
        answer = exchange.server_time()
        after = time.time()
        server = int(answer.data.get("serverTime"))
        result["server_time"] = server
        result["drift_ms"] = int(round((before + after) / 2.0 * 1000.0 - server))
    except ExchangeError as exc:
        result["server_time"] = result["drift_ms"] = None
        result["time_error"] = exc.message
    except (TypeError, ValueError, AttributeError):
        result["server_time"] = result["drift_ms"] = None
        result["time_error"] = "Exchange /api/v3/time answered without a serverTime."

    try:
        data = exchange.system_status().data
        result["system_status"] = dict(status=data.get("status"), msg=data.get("msg"), error=None)
    except ExchangeError as exc:
        result["system_status"] = dict(status=None, msg=None, error=exc.message)

    if params["check_auth"]:
        if is_set(params.get("exchange_api_key")) and is_set(params.get("exchange_api_secret")):
            result["auth"]["checked"] = True
            try:
                data = exchange.account().data
                result["auth"].update(ok=True, status=200, can_trade=data.get("canTrade"), account_type=data.get("accountType"))
            except ExchangeError as exc:
                result["auth"].update(outcome(exc))
        else:
            result["auth"]["error"] = ("exchange_api_key and exchange_api_secret (inventory variables genesis_exchange_api_key and "
                                       "genesis_exchange_api_secret) are not both set, so authentication was not checked.")

    if order_params:
        try:
            answer = exchange.test_order(order_params)
            result["test_order"] = dict(ok=True, code=None, status=answer.status, retry_after=None, error=None)
        except ExchangeError as exc:
            result["test_order"] = outcome(exc)
    result["used_weight"] = exchange.used_weight
    module.exit_json(**result)


if __name__ == "__main__":
    main()
