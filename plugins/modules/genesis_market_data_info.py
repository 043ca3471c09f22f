#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: genesis_market_data_info
short_description: Diagnose a genesis node's market-data feed (runbook scenario 3)
version_added: 0.1.0
description:
  - Reads C(GET /admin/websocket) of the control API, the feed mode (C(websocket) or the C(rest) fallback),
    each stream connection's state and silence, and each ticker's price and age.
  - Checks connectivity to the configured exchange (O(exchange_url), never a hard-coded public host) with
    C(GET /api/v3/ping) and C(GET /sapi/v1/system/status), weight 1 each. An unreachable exchange is evidence,
    returned as C(exchange.reachable=false) with an error sentence, not a failure.
  - Reports the supervisor state of the market-data program when O(supervisor_socket) is set.
  - The feed is healthy when every ticker is at most O(max_age) seconds old, every stream is connected and has
    spoken within O(max_age) seconds, and the REST fallback is not active while the streams are fine.
  - With O(wait_for), polls every half second, at most O(wait_timeout) seconds, until the condition has held for
    O(stable_for) seconds; it never fails when the time runs out, C(condition_met) says so.
  - Read-only; fails with one sentence when the control API cannot be read.
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
      - Symbols whose tickers to check; by default every ticker the node reports.
      - Pass the node's configured symbols so that a missing ticker counts as stale.
    type: list
    elements: str
  max_age:
    description:
      - Seconds after which a ticker is stale and a connected stream is silent (the contract's detection threshold).
    type: float
    default: 10
  fresh_age:
    description:
      - Seconds under which a ticker counts as fresh (the runbook's validation threshold); at most O(max_age).
    type: float
    default: 2
  exchange_check:
    description:
      - Check connectivity to the configured exchange O(exchange_url).
    type: bool
    default: true
  program:
    description:
      - The supervisor program that keeps the feed, as supervisorctl names it.
    type: str
    default: "genesis:market_data"
  wait_for:
    description:
      - C(none) reads once.
      - C(websocket) waits until every stream is connected and every ticker is fresh.
      - C(fresh) waits until every ticker is fresh, whatever the mode.
      - C(updating) waits until every ticker is fresh and its timestamp has moved forward since the first read.
    type: str
    choices: [none, websocket, fresh, updating]
    default: none
  wait_timeout:
    description:
      - Longest wait in seconds for O(wait_for) (0 to 600).
    type: int
    default: 0
  stable_for:
    description:
      - Seconds for which O(wait_for) must hold on every poll before it counts (0 to 60), so that a stream that
        connects for a moment and drops again is not taken for a recovered feed.
    type: float
    default: 2
requirements:
  - supervisor's XML-RPC socket readable by the connecting user, for O(program)
'''

EXAMPLES = r'''
- name: Diagnose the feed
  genesis.runbook.genesis_market_data_info:
    symbols: [BTCUSDT, ETHUSDT, SOLUSDT]
    max_age: 10
  register: feed

- name: Wait up to 15 s for the streams to reconnect
  genesis.runbook.genesis_market_data_info:
    symbols: [BTCUSDT, ETHUSDT, SOLUSDT]
    exchange_check: false
    wait_for: websocket
    wait_timeout: 15
  register: reconnected
'''

RETURN = r'''
healthy:
  description: True when no reason was found.
  returned: always
  type: bool
  sample: false
reasons:
  description: Why the feed is not healthy, one clause each.
  returned: always
  type: list
  elements: str
  sample: ["BTCUSDT price is 14.2 s old (max 10 s)", "websocket execution is disconnected (lab fault: streams closed)"]
mode:
  description: The feed mode, C(websocket) or C(rest).
  returned: always
  type: str
  sample: websocket
fallback_active:
  description: True while the node runs on the REST fallback.
  returned: always
  type: bool
  sample: false
degraded:
  description: True while the node runs on the REST fallback (genesis reports itself degraded then).
  returned: always
  type: bool
  sample: false
websocket_healthy:
  description: Every stream is connected and spoke within O(max_age) seconds.
  returned: always
  type: bool
  sample: false
fresh:
  description: Every checked ticker is at most O(fresh_age) seconds old.
  returned: always
  type: bool
  sample: false
stale:
  description: Symbols whose ticker is missing or older than O(max_age).
  returned: always
  type: list
  elements: str
  sample: [BTCUSDT]
not_fresh:
  description: Symbols whose ticker is missing or older than O(fresh_age).
  returned: always
  type: list
  elements: str
  sample: [BTCUSDT]
disconnected:
  description: Streams not C(connected).
  returned: always
  type: list
  elements: str
  sample: [execution, monitoring, backup]
silent:
  description: Streams connected but without a message for more than O(max_age) seconds.
  returned: always
  type: list
  elements: str
  sample: []
max_ticker_age_s:
  description: Age of the oldest checked ticker.
  returned: always
  type: float
  sample: 14.2
connections:
  description: Each stream's state, seconds since its last message, since when and its last error.
  returned: always
  type: dict
  sample: {execution: {state: disconnected, last_message_age_s: 14.2, since: "2026-11-27T18:40:01.123Z",
                       last_error: "lab fault: streams closed"}}
tickers:
  description: Each checked ticker's price, age, source and the epoch seconds of its last update.
  returned: always
  type: dict
  sample: {BTCUSDT: {price: 64000.1, age_s: 14.2, source: websocket, updated_ts: 1795804787.1}}
exchange:
  description: Connectivity to the configured exchange; null when O(exchange_check=false).
  returned: always
  type: dict
  sample: {url: "http://10.231.80.2:9000", reachable: true, ok: true, latency_ms: 2.1, status: 0, msg: normal,
           status_code: 200, used_weight: 40, error: null}
program:
  description: The supervisor state of O(program); C(state) is null with an C(error) when it cannot be read.
  returned: always
  type: dict
  sample: {name: "genesis:market_data", state: RUNNING, pid: 4242, error: null}
condition_met:
  description: Whether O(wait_for) held at the end; null when nothing was waited for.
  returned: always
  type: bool
  sample: true
prices_updating:
  description: With O(wait_for=updating), whether every ticker's timestamp moved forward; null otherwise.
  returned: always
  type: bool
  sample: true
waited_s:
  description: Seconds spent reading and waiting.
  returned: always
  type: float
  sample: 2.5
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.genesis.runbook.plugins.module_utils._common import GenesisModule, genesis_common_argument_spec
from ansible_collections.genesis.runbook.plugins.module_utils.api import GenesisApiError
from ansible_collections.genesis.runbook.plugins.module_utils import market_data

MAX_WAIT = 600
MAX_STABLE = 60


def main():
    argument_spec = genesis_common_argument_spec()
    argument_spec.update(market_data.market_data_argument_spec())
    argument_spec.update(
        exchange_check=dict(type="bool", default=True),
        program=dict(type="str", default="genesis:market_data"),
        wait_for=dict(type="str", choices=list(market_data.WAIT_FOR), default="none"),
        wait_timeout=dict(type="int", default=0),
        stable_for=dict(type="float", default=2),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    gm = GenesisModule(module, "genesis_market_data_info")
    params = module.params
    symbols = market_data.check_params(gm)
    if not 0 <= params["wait_timeout"] <= MAX_WAIT:
        gm.fail("wait_timeout must be between 0 and %d seconds, got %s." % (MAX_WAIT, params["wait_timeout"]))
    if not 0 <= params["stable_for"] <= MAX_STABLE:
        gm.fail("stable_for must be between 0 and %d seconds, got %s." % (MAX_STABLE, params["stable_for"]))
    gm.require("api_key", "read the market-data state")
    exchange = None
    if params["exchange_check"]:
        gm.require("exchange_url", "check connectivity to the configured exchange")
        exchange = gm.exchange("check connectivity to the configured exchange")

    try:
        state = market_data.observe(gm.api(), symbols, params["max_age"], params["fresh_age"], params["wait_for"],
                                    params["wait_timeout"], params["stable_for"])
    except GenesisApiError as exc:
        gm.fail(exc.message)
    state["exchange"] = market_data.probe_exchange(exchange) if exchange is not None else None
    state["program"] = market_data.program_state(params.get("supervisor_socket"), params["program"], gm.timeout)
    state.pop("wait_for", None)
    module.exit_json(changed=False, **state)


if __name__ == "__main__":
    main()
