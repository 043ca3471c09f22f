#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: genesis_tilt_info
short_description: Read a genesis node's tilt status, recent trades, position limits and trader notifications (runbook scenario 6)
version_added: 0.1.0
description:
  - Reads C(GET /tilt/status) (score, level, consecutive losses, cooldown, risk limit violations of the last hour,
    recent tilt events), C(GET /config/tier) (tier, position limit and its C(limits_factor)) and
    C(GET /admin/notifications) (the newest notification of O(notification_kind) within O(notification_window) minutes).
  - Reads the last O(trades) trades (orders C(FILLED), newest first) from the node's database.
  - With O(violations_since), counts the C(RISK_LIMIT_VIOLATION) tilt events recorded after that time.
  - Read-only; fails with one sentence when the control API or the database cannot be reached.
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
  trades:
    description:
      - How many of the newest trades to return (0 to 1000); C(0) skips the database.
    type: int
    default: 50
  violations_since:
    description:
      - An ISO 8601 timestamp; RV(violations_since_count) counts the C(RISK_LIMIT_VIOLATION) tilt events after it.
    type: str
  notification_kind:
    description:
      - The notification kind that records an intervention (see M(genesis.runbook.genesis_notification)).
    type: str
    default: tilt_intervention
  notification_window:
    description:
      - Minutes to look back for a notification of O(notification_kind) (1 to 10080).
    type: int
    default: 60
requirements:
  - psycopg2 (psycopg2-binary) on the node when O(trades) or O(violations_since) is used
'''

EXAMPLES = r'''
- name: Tilt status and the last 50 trades
  genesis.runbook.genesis_tilt_info:
    trades: 50
  register: tilt

- name: Say whether the tilt threshold is crossed
  ansible.builtin.debug:
    msg: "tilt {{ tilt.tilt.score }} ({{ tilt.tilt.level }}), {{ tilt.tilt.violations_last_hour }} violations in the last hour"
'''

RETURN = r'''
tilt:
  description: The node's tilt status (C(GET /tilt/status)).
  returned: always
  type: dict
  sample: {score: 85.0, level: LEVEL3, consecutive_losses: 6, cooldown_active: false, lockout_expiration: null,
           violations_last_hour: 3, last_intervention_at: "2026-11-18T21:31:52.812Z", recent_events: []}
limits:
  description: The tier and its position limits (C(GET /config/tier)).
  returned: always
  type: dict
  sample: {tier: HUNTER, max_position_size: 500, limits_factor: 1.0, effective_max_position_size: 500.0, state: STABLE}
trades:
  description: The newest trades (filled orders), newest first.
  returned: always
  type: list
  elements: dict
  sample: [{order_id: ord-1, symbol: BTCUSDT, side: SELL, quantity: 0.0003, price: 64010.5, strategy: momentum,
            executed_at: "2026-11-27T18:40:01.123Z"}]
trade_count:
  description: Number of entries in RV(trades).
  returned: always
  type: int
  sample: 50
violations_since_count:
  description: C(RISK_LIMIT_VIOLATION) tilt events recorded after O(violations_since); null without it.
  returned: always
  type: int
  sample: 0
notification:
  description: The newest notification of O(notification_kind) within O(notification_window) minutes, or null.
  returned: always
  type: dict
  sample: {notification_id: 7, kind: tilt_intervention, severity: HIGH, created_at: "2026-11-27T18:41:00.000Z",
           acknowledged_at: null}
'''


import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.genesis.runbook.plugins.module_utils._common import (
    GenesisModule, genesis_common_argument_spec, parse_iso,
)
from ansible_collections.genesis.runbook.plugins.module_utils.api import GenesisApiError
from ansible_collections.genesis.runbook.plugins.module_utils.db import GenesisDbError, plain_row

TRADES_SQL = ("SELECT order_id, symbol, side, type, quantity, filled_quantity, price, status, strategy, position_id, "
              "created_at, executed_at FROM orders WHERE status = 'FILLED' "
              "ORDER BY executed_at DESC NULLS LAST, created_at DESC LIMIT %s")
VIOLATIONS_SQL = ("SELECT count(*) AS n FROM tilt_events WHERE event_type = 'RISK_LIMIT_VIOLATION' "
                  "AND created_at > %s::timestamptz")


def latest_notification(answer, kind, window_minutes, now):
    """The newest notification of `kind` created within the window, or None."""
    found = None
    for item in (answer or {}).get("notifications") or []:
        if item.get("kind") != kind:
            continue
        created = parse_iso(item.get("created_at"))
        if created is None or now - created > window_minutes * 60:
            continue
        if found is None or created > parse_iso(found.get("created_at")):
            found = item
    return found


def main():
    argument_spec = genesis_common_argument_spec()
    argument_spec.update(
        trades=dict(type="int", default=50),
        violations_since=dict(type="str"),
        notification_kind=dict(type="str", default="tilt_intervention"),
        notification_window=dict(type="int", default=60),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    gm = GenesisModule(module, "genesis_tilt_info")
    params = module.params
    if not 0 <= params["trades"] <= 1000:
        gm.fail("trades must be between 0 and 1000, got %s." % params["trades"])
    if not 1 <= params["notification_window"] <= 10080:
        gm.fail("notification_window must be between 1 and 10080 minutes, got %s." % params["notification_window"])
    since = params["violations_since"]
    if since and parse_iso(since) is None:
        gm.fail("violations_since must be an ISO 8601 timestamp such as 2026-11-27T18:40:01.123Z, got %s." % since)
    gm.require("api_key", "read the tilt status")

    api = gm.api()
    try:
        tilt = api.get("/tilt/status").data
        limits = api.get("/config/tier").data
        notifications = api.get("/admin/notifications").data
    except GenesisApiError as exc:
        gm.fail(exc.message)
    if not isinstance(tilt, dict) or "score" not in tilt:
        gm.fail("Control API %s/tilt/status answered without a score." % api.endpoint)

    result = dict(changed=False, tilt=tilt, limits=limits if isinstance(limits, dict) else {}, trades=[], trade_count=0,
                  violations_since_count=None,
                  notification=latest_notification(notifications, params["notification_kind"],
                                                   params["notification_window"], time.time()))
    if params["trades"] or since:
        db = gm.db("read the recent trades and tilt events")
        try:
            if params["trades"]:
                rows = db.query(TRADES_SQL, (params["trades"],), what="reading the recent trades")
                result["trades"] = [plain_row(r) for r in rows]
                result["trade_count"] = len(result["trades"])
            if since:
                rows = db.query(VIOLATIONS_SQL, (since,), what="counting risk limit violations")
                result["violations_since_count"] = int(rows[0]["n"]) if rows else 0
        except GenesisDbError as exc:
            gm.fail(exc.message)
        finally:
            db.close()
    module.exit_json(**result)


if __name__ == "__main__":
    main()
