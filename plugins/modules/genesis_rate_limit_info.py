#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: genesis_rate_limit_info
short_description: Diagnose a genesis node's exchange rate limiting (runbook scenario 7)
version_added: 0.1.0
description:
  - Reads C(GET /admin/rate-limits) of the control API (protection, C(limit_per_minute), used weight, 429s in the last
    300 s, the last 429, the Retry-After deadline, the request queue).
  - Probes the configured exchange with the node's own API key (O(probe)), so the used weight is the exchange's count
    right now and the answer shows whether the node's calls succeed.
  - It is a fault when the used weight is at least O(warn_ratio) of the exchange's 1200 per minute, a 429 came within
    the last O(quiet_window) seconds, the Retry-After is still running, the exchange answers 429 to the key, or 429s
    came in the last 300 s while protection is off or C(limit_per_minute) is above O(target_limit_per_minute).
  - With O(wait_for), polls every second, at most O(wait_timeout) seconds; O(wait_for=reset) gives up at once when the
    Retry-After ends beyond that bound. It never fails when the time runs out, C(condition_met) says so.
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
  target_limit_per_minute:
    description:
      - The request weight per minute the node should be held to (1 to 1200); a higher configured limit with recent
        429s is a fault.
    type: int
    default: 600
  warn_ratio:
    description:
      - Share of the exchange's weight limit from which usage is a fault (above 0, at most 1).
    type: float
    default: 0.8
  quiet_window:
    description:
      - Seconds without a 429 that make a fresh window (1 to 600).
    type: int
    default: 60
  probe:
    description:
      - C(ping) calls C(GET /api/v3/ping) (weight 1) with the node's key; C(signed) calls C(GET /api/v3/account)
        (weight 20, signed with O(exchange_api_secret)); C(none) calls nothing.
    type: str
    choices: [none, ping, signed]
    default: ping
  wait_for:
    description:
      - C(none) reads once.
      - C(reset) waits until the Retry-After has passed and the exchange no longer answers 429.
      - C(quiet) waits for a fresh window, no 429 for O(quiet_window) seconds, usage under O(warn_ratio) and, with a
        probe, a successful call.
    type: str
    choices: [none, reset, quiet]
    default: none
  wait_timeout:
    description:
      - Longest wait in seconds for O(wait_for) (0 to 900).
    type: int
    default: 0
'''

EXAMPLES = r'''
- name: Diagnose rate limiting
  genesis.runbook.genesis_rate_limit_info:
    target_limit_per_minute: 600
  register: rate

- name: Honour the Retry-After, at most two minutes
  genesis.runbook.genesis_rate_limit_info:
    wait_for: reset
    wait_timeout: 120
  register: reset
'''

RETURN = r'''
fault:
  description: True when a reason was found.
  returned: always
  type: bool
  sample: true
reasons:
  description: Why the node's rate limiting is a fault, one clause each.
  returned: always
  type: list
  elements: str
  sample: ["the last 429 was 0.4 s ago, within the 60 s quiet window", "25 429s in the last 300 s with rate-limit protection off"]
used_weight:
  description: The weight used in the last minute (the probe's answer, else the node's last seen).
  returned: always
  type: int
  sample: 1047
node_used_weight:
  description: The last C(X-MBX-USED-WEIGHT-1M) the node itself saw.
  returned: always
  type: int
  sample: 1047
usage_ratio:
  description: C(used_weight) over the exchange's limit.
  returned: always
  type: float
  sample: 0.8725
under_limit:
  description: C(usage_ratio) is under O(warn_ratio).
  returned: always
  type: bool
  sample: false
exchange_limit:
  description: The exchange's weight limit per minute.
  returned: always
  type: int
  sample: 1200
protection:
  description: Whether the node's rate-limit protection is on.
  returned: always
  type: bool
  sample: false
limit_per_minute:
  description: The node's configured weight budget per minute.
  returned: always
  type: int
  sample: 6000
protected:
  description: Protection is on and C(limit_per_minute) is at most O(target_limit_per_minute).
  returned: always
  type: bool
  sample: false
recent_429:
  description: 429 answers in the last 300 s.
  returned: always
  type: int
  sample: 25
last_429_at:
  description: When the last 429 came (ISO 8601), or null.
  returned: always
  type: str
  sample: "2026-11-27T21:31:34.642Z"
seconds_since_last_429:
  description: Seconds since the last 429, or null.
  returned: always
  type: float
  sample: 0.4
retry_after_until:
  description: Until when the exchange asked the node to wait (ISO 8601), or null.
  returned: always
  type: str
  sample: "2026-11-27T21:32:28.642Z"
retry_after_remaining_s:
  description: Seconds of Retry-After still to run (0 when none).
  returned: always
  type: float
  sample: 54.0
queue_length:
  description: Queued non-order exchange requests.
  returned: always
  type: int
  sample: 370
quiet:
  description: No 429 for O(quiet_window) seconds, no Retry-After running and no 429 to the probe.
  returned: always
  type: bool
  sample: false
calls_ok:
  description: Whether the probe call succeeded; null without a probe.
  returned: always
  type: bool
  sample: true
probe:
  description: The probe's answer; null with O(probe=none).
  returned: always
  type: dict
  sample: {kind: ping, url: "http://10.231.80.2:9000", ok: true, reachable: true, status_code: 200, used_weight: 1047,
           retry_after: null, rate_limited: false, error: null}
rate_limits:
  description: The raw C(GET /admin/rate-limits) answer.
  returned: always
  type: dict
  sample: {exchange_limit: 1200, limit_per_minute: 6000, protection: false, warn_ratio: 0.8, used_weight_1m: 1047,
           usage_ratio: 0.8725, recent_429: 25, last_429_at: "2026-11-27T21:31:34.642Z",
           retry_after_until: "2026-11-27T21:32:28.642Z", queue_length: 370}
condition_met:
  description: Whether O(wait_for) held at the end; null when nothing was waited for.
  returned: always
  type: bool
  sample: true
beyond_bound:
  description: With O(wait_for=reset), true when the Retry-After ends after O(wait_timeout), so nothing was waited.
  returned: always
  type: bool
  sample: false
waited_s:
  description: Seconds spent reading and waiting.
  returned: always
  type: float
  sample: 31.0
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.genesis.runbook.plugins.module_utils._common import GenesisModule, genesis_common_argument_spec
from ansible_collections.genesis.runbook.plugins.module_utils.api import GenesisApiError
from ansible_collections.genesis.runbook.plugins.module_utils import rate_limit

MAX_WAIT = 900
MAX_QUIET_WINDOW = 600


def main():
    argument_spec = genesis_common_argument_spec()
    argument_spec.update(
        target_limit_per_minute=dict(type="int", default=600),
        warn_ratio=dict(type="float", default=0.8),
        quiet_window=dict(type="int", default=60),
        probe=dict(type="str", choices=list(rate_limit.PROBES), default="ping"),
        wait_for=dict(type="str", choices=list(rate_limit.WAIT_FOR), default="none"),
        wait_timeout=dict(type="int", default=0),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    gm = GenesisModule(module, "genesis_rate_limit_info")
    params = module.params
    if not 1 <= params["target_limit_per_minute"] <= rate_limit.EXCHANGE_LIMIT:
        gm.fail("target_limit_per_minute must be between 1 and %d, got %s."
                % (rate_limit.EXCHANGE_LIMIT, params["target_limit_per_minute"]))
    if not 0 < params["warn_ratio"] <= 1:
        gm.fail("warn_ratio must be above 0 and at most 1, got %s." % params["warn_ratio"])
    if not 1 <= params["quiet_window"] <= MAX_QUIET_WINDOW:
        gm.fail("quiet_window must be between 1 and %d seconds, got %s." % (MAX_QUIET_WINDOW, params["quiet_window"]))
    if not 0 <= params["wait_timeout"] <= MAX_WAIT:
        gm.fail("wait_timeout must be between 0 and %d seconds, got %s." % (MAX_WAIT, params["wait_timeout"]))
    gm.require("api_key", "read the rate-limit state")
    exchange = None
    if params["probe"] != "none":
        exchange = gm.exchange("probe the exchange with the node's key", signed=params["probe"] == "signed")
        if params["probe"] == "ping":
            gm.require("exchange_api_key", "probe the exchange with the node's key")

    try:
        state = rate_limit.observe(gm.api(), exchange, params["probe"], params["target_limit_per_minute"],
                                   params["warn_ratio"], params["quiet_window"], params["wait_for"], params["wait_timeout"])
    except GenesisApiError as exc:
        gm.fail(exc.message)
    module.exit_json(changed=False, **state)


if __name__ == "__main__":
    main()
