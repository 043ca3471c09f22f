#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: genesis_db_info
short_description: Gather the trading-record evidence of a genesis node's PostgreSQL database
version_added: 0.1.0
description:
  - Runs C(SELECT 1) and reports its latency.
  - Counts orders (also by status), positions and events, and the last event id, so a run can prove no record was lost.
  - Lists the C(PENDING) orders older than O(pending_older_than) seconds with their ids and ages (runbook scenario 2).
  - Lists the last O(recent_trades) C(FILLED) orders.
  - An unreachable database is evidence, not a failure (C(reachable=false) with an error sentence),
    unless O(fail_on_unreachable=true).
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
  pending_older_than:
    description:
      - Age in seconds above which a C(PENDING) order is reported as stuck.
    type: int
    default: 30
  recent_trades:
    description:
      - How many of the most recent C(FILLED) orders to return (0 to 1000).
    type: int
    default: 10
  fail_on_unreachable:
    description:
      - Fail instead of returning C(reachable=false) when the database cannot be reached.
    type: bool
    default: false
requirements:
  - psycopg2 (psycopg2-binary) on the node
'''

EXAMPLES = r'''
- name: Record counts and stuck orders
  genesis.runbook.genesis_db_info:
    db_dsn: "{{ genesis_db_dsn }}"
    pending_older_than: 30
  register: db

- name: Fail when orders are stuck
  ansible.builtin.assert:
    that: db.stuck_pending_count == 0
'''

RETURN = r'''
reachable:
  description: Whether the database answered.
  returned: always
  type: bool
  sample: true
error:
  description: Why the database could not be read, as one sentence (no password); null when it answered.
  returned: always
  type: str
  sample: "PostgreSQL genesis:********@127.0.0.1:5432/genesis is unreachable: connection refused."
endpoint:
  description: The database as host, port and name, without the password.
  returned: always
  type: str
  sample: postgresql://genesis:********@127.0.0.1:5432/genesis
latency_ms:
  description: Round trip of C(SELECT 1) in milliseconds.
  returned: when reachable
  type: float
  sample: 0.8
counts:
  description: Row counts of the trading tables and orders by status.
  returned: when reachable
  type: dict
  sample: {orders: 1520, positions: 12, events: 4711, orders_by_status: {FILLED: 1500, PENDING: 20}}
last_event_id:
  description: The highest event_id (0 when there is none).
  returned: when reachable
  type: int
  sample: 4711
stuck_pending:
  description: PENDING orders older than pending_older_than seconds, oldest first (at most 1000).
  returned: when reachable
  type: list
  elements: dict
  sample:
    - {order_id: ord-1, client_order_id: gen-1, symbol: BTCUSDT, side: BUY, type: MARKET, quantity: 0.001,
       age_s: 95.2, created_at: "2026-11-27T18:38:26.000Z", node: node1, strategy: momentum}
stuck_pending_count:
  description: How many PENDING orders are older than pending_older_than seconds (not capped).
  returned: when reachable
  type: int
  sample: 1
recent_trades:
  description: The last FILLED orders, newest first.
  returned: when reachable
  type: list
  elements: dict
  sample:
    - {order_id: ord-9, symbol: ETHUSDT, side: SELL, quantity: 0.05, price: 3120.5, executed_at: "2026-11-27T18:40:00.000Z"}
'''


from ansible.module_utils.basic import AnsibleModule
from ansible_collections.genesis.runbook.plugins.module_utils._common import GenesisModule, genesis_common_argument_spec
from ansible_collections.genesis.runbook.plugins.module_utils.db import GenesisDbError, describe_dsn, plain_row

MAX_LISTED = 1000


def gather(db, older_than, recent):
    info = dict(latency_ms=db.ping())
    counts = {}
    for table in ("orders", "positions", "events"):
        counts[table] = int(db.query("SELECT count(*) AS n FROM %s" % table, what="counting %s" % table)[0]["n"])
    rows = db.query("SELECT status, count(*) AS n FROM orders GROUP BY status", what="counting orders by status")
    counts["orders_by_status"] = dict((r["status"], int(r["n"])) for r in rows)
    info["counts"] = counts
    info["last_event_id"] = int(db.query("SELECT coalesce(max(event_id), 0) AS id FROM events", what="reading the last event id")[0]["id"])
    stuck = db.query(
        "SELECT order_id, client_order_id, exchange_order_id, symbol, side, type, quantity, status, node, strategy, created_at, "
        "EXTRACT(EPOCH FROM (now() - created_at)) AS age_s FROM orders "
        "WHERE status = 'PENDING' AND created_at < now() - make_interval(secs => %s) ORDER BY created_at LIMIT %s",
        (older_than, MAX_LISTED), what="listing stuck PENDING orders")
    info["stuck_pending"] = [plain_row(r) for r in stuck]
    for row in info["stuck_pending"]:
        row["age_s"] = round(float(row["age_s"]), 1)
    info["stuck_pending_count"] = int(db.query(
        "SELECT count(*) AS n FROM orders WHERE status = 'PENDING' AND created_at < now() - make_interval(secs => %s)",
        (older_than,), what="counting stuck PENDING orders")[0]["n"])
    trades = []
    if recent:
        trades = db.query("SELECT order_id, symbol, side, type, quantity, filled_quantity, price, executed_at, strategy, node "
                          "FROM orders WHERE status = 'FILLED' ORDER BY executed_at DESC NULLS LAST LIMIT %s",
                          (recent,), what="listing recent trades")
    info["recent_trades"] = [plain_row(r) for r in trades]
    return info


def main():
    argument_spec = genesis_common_argument_spec()
    argument_spec.update(
        pending_older_than=dict(type="int", default=30),
        recent_trades=dict(type="int", default=10),
        fail_on_unreachable=dict(type="bool", default=False),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    gm = GenesisModule(module, "genesis_db_info")
    if module.params["pending_older_than"] < 0:
        gm.fail("pending_older_than must be 0 or more seconds, got %s." % module.params["pending_older_than"])
    if not 0 <= module.params["recent_trades"] <= 1000:
        gm.fail("recent_trades must be between 0 and 1000, got %s." % module.params["recent_trades"])
    db = gm.db("read the trading records")
    result = dict(changed=False, reachable=False, error=None, endpoint=describe_dsn(module.params["db_dsn"]))
    try:
        result.update(gather(db, module.params["pending_older_than"], module.params["recent_trades"]))
        result["reachable"] = True
    except GenesisDbError as exc:
        if module.params["fail_on_unreachable"] or not exc.unreachable:
            gm.fail(exc.message)
        result["error"] = gm.clean(exc.message)
    finally:
        db.close()
    module.exit_json(**result)


if __name__ == "__main__":
    main()
