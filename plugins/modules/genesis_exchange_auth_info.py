#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: genesis_exchange_auth_info
short_description: Check that a genesis node can authenticate at the exchange, as the node itself signs (runbook scenario 14)
version_added: 0.1.0
description:
  - Makes a signed C(GET /api/v3/account) with the credentials the node trades with (by default
    C(GENESIS_EXCHANGE_API_KEY) and C(GENESIS_EXCHANGE_API_SECRET) of C(<genesis_home>/.env)) and the node's clock,
    and reports whether the exchange accepts it, or its error code (C(-2015) invalid key, C(-2014) bad key format,
    C(-1021) timestamp outside the receive window) as evidence.
  - Measures the drift of the node's clock against the exchange's C(GET /api/v3/time).
  - With O(samples) greater than 1, repeats the signed call across a window (O(interval) seconds apart), which
    proves a fix over a fresh window rather than with one lucky call.
  - Counts the executor's C(Order rejected) lines in C(trading.log) whose exchange answer was an authentication
    failure (HTTP 401/403 or the codes above) since O(rejections_since).
  - With O(new_api_key), says whether a key rotation is pending (the supplied key differs from the installed one).
  - Keys and secrets are never returned; keys are shown as fingerprints C(sha256:<12 hex digits>).
  - An unreachable exchange is evidence (C(reachable=false)), not a failure.
author:
  - genesis.runbook maintainers (@genesis-runbook)
extends_documentation_fragment:
  - genesis.runbook.connection
attributes:
  check_mode:
    description: Runs normally in check mode (read-only; the signed call reads the account).
    support: full
  diff_mode:
    description: Read-only; there is no diff.
    support: N/A
options:
  credentials:
    description:
      - C(env_file) checks the key and secret the node trades with, read from C(<genesis_home>/.env).
      - C(options) checks O(exchange_api_key) and O(exchange_api_secret) instead.
    type: str
    choices: [env_file, options]
    default: env_file
  clock_offset_file:
    description:
      - genesis-lab only. A file holding the node's simulated clock error in milliseconds, which the lab's
        programs add to the real clock when signing. Leave unset in production, where the node's clock is used as it is.
    type: path
  samples:
    description:
      - How many signed calls to make (1 to 30); each one weighs 20 at the exchange.
    type: int
    default: 1
  interval:
    description:
      - Seconds between two signed calls when O(samples) is more than 1 (0 to 10).
    type: float
    default: 1.0
  rejections_since:
    description:
      - Count the executor's authentication rejections logged at or after this time (ISO 8601 or epoch seconds).
      - When not set, the last O(rejections_lookback) seconds.
      - Ignored with O(fresh_window=true).
    type: str
  fresh_window:
    description:
      - Count only the rejections logged while this call runs (from its start, across the O(samples) window), so a
        fix is proven by a window that began after it.
    type: bool
    default: false
  rejections_lookback:
    description:
      - Seconds of C(trading.log) to read when O(rejections_since) is not set.
    type: int
    default: 300
  new_api_key:
    description:
      - A replacement key supplied for rotation; only compared with the installed key, never sent or returned.
    type: str
'''

EXAMPLES = r'''
- name: Does the exchange accept the key the node trades with, and is the node's clock right?
  genesis.runbook.genesis_exchange_auth_info:
    exchange_url: "{{ genesis_exchange_url }}"
  register: auth

- name: Prove it over a fresh window of 5 signed calls
  genesis.runbook.genesis_exchange_auth_info:
    exchange_url: "{{ genesis_exchange_url }}"
    samples: 5
    interval: 2
    fresh_window: true
  register: window
  failed_when: not window.all_ok or window.rejections.count > 0
'''

RETURN = r'''
reachable:
  description: Whether the exchange answered.
  returned: always
  type: bool
  sample: true
error:
  description: Why the exchange could not be reached, as one sentence; null when it answered.
  returned: always
  type: str
  sample: "Exchange GET http://10.231.0.2:9000/api/v3/time is unreachable: connection refused."
credentials:
  description: Where the checked credentials come from and their key fingerprint (never the key).
  returned: always
  type: dict
  sample: {source: env_file, path: /app/.env, installed: true, key_id: "sha256:4f1c2a9be0d3"}
drift_ms:
  description: The node's clock minus the exchange's, in milliseconds (positive when the node is ahead); null when unknown.
  returned: always
  type: int
  sample: 2493
clock_offset_ms:
  description: The simulated clock error read from O(clock_offset_file) (0 without it).
  returned: always
  type: float
  sample: 2500.0
server_time:
  description: The exchange's time in epoch milliseconds.
  returned: when reachable
  type: int
  sample: 1795804801123
auth:
  description: The first signed call's outcome.
  returned: always
  type: dict
  sample: {ok: false, code: -2015, status: 401, can_trade: null, unreachable: false, at: "2026-11-27T18:40:01.123Z",
           error: "Exchange GET http://10.231.0.2:9000/api/v3/account rejected the API key, its permissions or the signature (-2015)."}
samples:
  description: Every signed call's outcome, oldest first.
  returned: always
  type: list
  elements: dict
  sample: [{ok: true, code: null, status: 200, at: "2026-11-27T18:40:01.123Z"}]
all_ok:
  description: Whether every signed call succeeded.
  returned: always
  type: bool
  sample: true
key_rejected:
  description: Whether the exchange rejected the key itself (C(-2014), C(-2015), C(-1022) or 401/403 without a code).
  returned: always
  type: bool
  sample: false
rejections:
  description: The executor's authentication rejections in C(trading.log) since the time in its C(since) field.
  returned: always
  type: dict
  sample: {since: "2026-11-27T18:35:01.123Z", count: 3, codes: {"-2015": 3}, last_at: "2026-11-27T18:40:00.877Z",
           log: /app/.genesis/logs/trading.log, readable: true}
rotation_pending:
  description: Whether O(new_api_key) is set and differs from the installed key.
  returned: always
  type: bool
  sample: true
new_key_id:
  description: Fingerprint of O(new_api_key); null when it is not set.
  returned: always
  type: str
  sample: "sha256:9b2e77c01d4f"
used_weight:
  description: The last C(X-MBX-USED-WEIGHT-1M) the exchange answered.
  returned: always
  type: int
  sample: 61
'''

import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.genesis.runbook.plugins.module_utils._common import (
    GenesisError, GenesisModule, genesis_common_argument_spec, is_set,
)
from ansible_collections.genesis.runbook.plugins.module_utils.envfile import EnvFile, EnvFileError, env_path, fingerprint
from ansible_collections.genesis.runbook.plugins.module_utils.exchange import ExchangeError
from ansible_collections.genesis.runbook.plugins.module_utils import exchange_auth


def main():
    argument_spec = genesis_common_argument_spec()
    argument_spec.update(
        credentials=dict(type="str", choices=["env_file", "options"], default="env_file"),
        clock_offset_file=dict(type="path"),
        samples=dict(type="int", default=1),
        interval=dict(type="float", default=1.0),
        rejections_since=dict(type="str"),
        rejections_lookback=dict(type="int", default=300),
        fresh_window=dict(type="bool", default=False),
        new_api_key=dict(type="str", no_log=True),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    started = time.time()
    gm = GenesisModule(module, "genesis_exchange_auth_info")
    params = module.params
    if not 1 <= params["samples"] <= 30:
        gm.fail("samples must be between 1 and 30, got %s." % params["samples"])
    if not 0 <= params["interval"] <= 10:
        gm.fail("interval must be between 0 and 10 seconds, got %s." % params["interval"])
    if params["rejections_lookback"] < 1:
        gm.fail("rejections_lookback must be at least 1 second, got %s." % params["rejections_lookback"])
    gm.require("exchange_url", "check authentication at the exchange")
    try:
        if params["fresh_window"]:
            since = started
        else:
            since = exchange_auth.since_epoch(params["rejections_since"], params["rejections_lookback"])
        offset = exchange_auth.clock_offset_ms(params["clock_offset_file"])
    except GenesisError as exc:
        gm.fail(exc.message)

    if params["credentials"] == "env_file":
        path = env_path(params["genesis_home"])
        try:
            env = EnvFile.read(path)
        except EnvFileError as exc:
            gm.fail(exc.message)
        key, secret = env.get(exchange_auth.ENV_KEY), env.get(exchange_auth.ENV_SECRET)
        source = dict(source="env_file", path=path)
    else:
        key, secret = params.get("exchange_api_key"), params.get("exchange_api_secret")
        source = dict(source="options", path=None)
    installed = is_set(key) and is_set(secret)
    source.update(installed=installed, key_id=fingerprint(key))
    # the node's key and secret may come from the file: mask them in any message too
    gm.secrets = sorted(set(gm.secrets) | set(s for s in (key, secret, params.get("new_api_key")) if s and len(s) >= 4),
                        key=len, reverse=True)

    clock = exchange_auth.node_clock(params["clock_offset_file"])
    exchange = exchange_auth.client(params, key if installed else None, secret if installed else None, clock)
    new_key = params.get("new_api_key")
    result = dict(changed=False, reachable=False, error=None, credentials=source, drift_ms=None, clock_offset_ms=offset,
                  auth=dict(ok=False, code=None, status=None, error=None, can_trade=None, unreachable=False, at=None),
                  samples=[], all_ok=False, key_rejected=False,
                  rotation_pending=bool(is_set(new_key) and new_key != key), new_key_id=fingerprint(new_key),
                  used_weight=None)

    try:
        result["drift_ms"], result["server_time"] = exchange_auth.measure_drift(exchange, clock)
        result["reachable"] = True
    except ExchangeError as exc:
        result["error"] = exc.message
        result["reachable"] = not exc.unreachable

    if result["reachable"]:
        if not installed:
            where = source["path"] or "exchange_api_key and exchange_api_secret"
            result["auth"]["error"] = "No exchange API key and secret are set in %s, so the node cannot sign." % where
            result["key_rejected"] = True
        else:
            for index in range(params["samples"]):
                if index:
                    time.sleep(params["interval"])
                outcome = exchange_auth.signed_probe(exchange, "the key %s from %s" % (source["key_id"], source["path"] or "exchange_api_key"))
                result["samples"].append(outcome)
                if outcome["unreachable"]:
                    result["error"] = outcome["error"]
                    break
            result["auth"] = dict(result["samples"][0])
            result["all_ok"] = all(s["ok"] for s in result["samples"])
            result["key_rejected"] = any(exchange_auth.is_key_problem(s) for s in result["samples"])

    log = os.path.join(params["genesis_home"] or "/app", ".genesis", "logs", "trading.log")
    result["rejections"] = exchange_auth.auth_rejections(log, since)
    result["used_weight"] = exchange.used_weight
    module.exit_json(**result)


if __name__ == "__main__":
    main()
