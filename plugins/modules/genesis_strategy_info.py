#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: genesis_strategy_info
short_description: Gather the evidence of a genesis strategy malfunction (runbook scenario 15)
version_added: 0.1.0
description:
  - Reads C(GET /admin/strategies) and marks as failing every strategy in state C(ERROR), or with more than
    O(max_errors) errors in the last 5 minutes.
  - Returns each selected strategy's newest lines of C(trading.log) (records whose C(strategy) field names it) and
    counts its C(Strategy error) lines (after O(log_since) when set).
  - With O(orders_since), summarizes the orders each strategy created on this node since then
    (count per status, newest time, largest notional) from the database (needs O(db_dsn)).
  - Read-only; never changes anything.
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
  names:
    description:
      - The strategies to look at; all the node has by default.
    type: list
    elements: str
  max_errors:
    description:
      - Errors in the last 5 minutes a running strategy may have before it counts as failing (0 or more).
    type: int
    default: 0
  log_lines:
    description:
      - How many of the newest log lines of each strategy to return (0 to 1000).
    type: int
    default: 20
  log_since:
    description:
      - Only log lines at or after this time count (ISO 8601 or epoch seconds).
    type: str
  orders_since:
    description:
      - Summarize the orders each strategy created on this node at or after this time (ISO 8601 or epoch seconds).
    type: str
requirements:
  - psycopg2 (psycopg2-binary) on the node when O(orders_since) is set
'''

EXAMPLES = r'''
- name: Which strategy is failing, and what did it log?
  genesis.runbook.genesis_strategy_info:
    log_lines: 30
  register: strategies

- name: Show the failing ones
  ansible.builtin.debug:
    msg: "{{ item }}: {{ strategies.reasons[item] | join('; ') }}"
  loop: "{{ strategies.failing }}"
'''

RETURN = r'''
strategies:
  description: Each selected strategy as the control API reports it.
  returned: always
  type: dict
  sample: {momentum: {state: ERROR, enabled: true, safe_mode: false, primary_only: false, errors_total: 41,
           errors_last_5m: 41, last_error: "ValueError: params are not valid JSON", last_trade_at: "2026-11-27T18:39:01.123Z",
           trades_last_5m: 2}}
failing:
  description: The failing strategies, sorted.
  returned: always
  type: list
  elements: str
  sample: [momentum]
reasons:
  description: Why each failing strategy counts as failing.
  returned: always
  type: dict
  sample: {momentum: ["state ERROR (last error: ValueError: params are not valid JSON)"]}
logs:
  description: Per strategy, its newest C(trading.log) lines and how many C(Strategy error) lines it logged.
  returned: always
  type: dict
  sample: {momentum: {errors: 41, lines: [{timestamp: "2026-11-27T18:40:01.123Z", level: error, event: Strategy error,
           strategy: momentum, exception: "ValueError: params are not valid JSON"}]}}
orders:
  description:
    - Per strategy, its orders since O(orders_since) (empty without it).
    - Count per status, REJECTED or FAILED ones, newest time, largest notional, the window in seconds and the orders per
      minute over it (at least one minute).
  returned: always
  type: dict
  sample: {momentum: {total: 3, by_status: {FILLED: 3}, failed: 0, last_at: "2026-11-27T18:41:01.123Z", max_notional: 10.2,
           window_s: 25.0, per_minute: 3.0}}
executing:
  description:
    - Per strategy, with O(orders_since), whether it executes trades (state C(RUNNING) and at least one order since
      then); a C(primary_only) strategy in state C(PAUSED) counts as executing, because it waits for its node to be
      the primary by design.
  returned: always
  type: dict
  sample: {momentum: true}
checked_at:
  description: The node's time of the check (ISO 8601 UTC).
  returned: always
  type: str
  sample: "2026-11-27T18:40:03.120Z"
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.genesis.runbook.plugins.module_utils._common import (
    GenesisError, GenesisModule, genesis_common_argument_spec, iso, parse_iso, utc_now,
)
from ansible_collections.genesis.runbook.plugins.module_utils.api import GenesisApiError
from ansible_collections.genesis.runbook.plugins.module_utils.db import plain
from ansible_collections.genesis.runbook.plugins.module_utils import logscan, strategy

FAILED_STATUSES = ("REJECTED", "FAILED")


def epoch_of(gm, option):
    value = gm.params.get(option)
    if value is None or str(value).strip() == "":
        return None
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        pass
    epoch = parse_iso(text)
    if epoch is None:
        gm.fail("%s must be an ISO 8601 time (2026-11-27T18:40:01.123Z) or epoch seconds, got %s." % (option, text))
    return epoch


def orders_summary(db, name, node, since, now):
    rows = db.query(strategy.ORDERS_SINCE_SQL, (name, node, since), what="summarizing the orders of strategy %s" % name)
    by_status = dict((r["status"], int(r["n"])) for r in rows)
    last = [r["last_at"] for r in rows if r["last_at"] is not None]
    notional = [float(r["max_notional"]) for r in rows if r["max_notional"] is not None]
    total = sum(by_status.values())
    window = max(0.0, now - since)
    return dict(total=total, by_status=by_status, failed=sum(n for s, n in by_status.items() if s in FAILED_STATUSES),
                last_at=plain(max(last)) if last else None, max_notional=round(max(notional), 8) if notional else None,
                window_s=round(window, 1), per_minute=round(total / max(window / 60.0, 1.0), 2))


def main():
    argument_spec = genesis_common_argument_spec()
    argument_spec.update(
        names=dict(type="list", elements="str"),
        max_errors=dict(type="int", default=0),
        log_lines=dict(type="int", default=20),
        log_since=dict(type="str"),
        orders_since=dict(type="str"),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    gm = GenesisModule(module, "genesis_strategy_info")
    params = module.params
    if params["max_errors"] < 0:
        gm.fail("max_errors must be 0 or more, got %s." % params["max_errors"])
    if not 0 <= params["log_lines"] <= 1000:
        gm.fail("log_lines must be between 0 and 1000, got %s." % params["log_lines"])
    log_since = epoch_of(gm, "log_since")
    orders_since = epoch_of(gm, "orders_since")
    gm.require("api_key", "read the strategies")
    now = utc_now()
    checked_at = iso(now)

    api = gm.api()
    try:
        views = strategy.read_strategies(api)
    except GenesisApiError as exc:
        gm.fail(exc.message)
    except ValueError as exc:
        gm.fail("Control API %s/admin/strategies %s." % (api.endpoint, exc))

    names = [n.strip() for n in (params["names"] or sorted(views)) if n and n.strip()]
    unknown = [n for n in names if n not in views]
    if unknown:
        gm.fail("names holds unknown strategies %s: the node has %s." % (", ".join(unknown), ", ".join(sorted(views)) or "none"))

    selected = dict((n, views[n]) for n in names)
    reasons = {}
    for name, view in selected.items():
        why = strategy.failing_reasons(view, params["max_errors"])
        if why:
            reasons[name] = why

    path = logscan.log_path(params["genesis_home"], "trading.log")
    logs = {}
    for name in names:
        lines, dummy = logscan.records(path, fields={"strategy": name}, since=log_since, limit=params["log_lines"])
        dummy, errors = logscan.records(path, events=["Strategy error"], fields={"strategy": name}, since=log_since, limit=0)
        logs[name] = dict(errors=errors, lines=lines)

    orders = {}
    if orders_since is not None:
        db = gm.db("summarize the orders of the strategies")
        try:
            for name in names:
                orders[name] = orders_summary(db, name, gm.node, orders_since, now.timestamp())
        except GenesisError as exc:
            gm.fail(exc.message)
        finally:
            db.close()

    # executing: running and trading since orders_since; a primary_only strategy paused on a standby is
    # gated by the cluster role by design, not failing
    executing = dict((name, (selected[name].get("state") == "RUNNING" and orders[name]["total"] > 0)
                      or (bool(selected[name].get("primary_only")) and selected[name].get("state") == "PAUSED"))
                     for name in orders)
    module.exit_json(changed=False, strategies=selected, failing=sorted(reasons), reasons=reasons, logs=logs,
                     orders=orders, executing=executing, checked_at=checked_at)


if __name__ == "__main__":
    main()
