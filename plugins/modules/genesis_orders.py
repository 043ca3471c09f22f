#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: genesis_orders
short_description: Cancel a genesis node's stuck orders at the exchange and in its database (runbook scenario 2)
version_added: 0.1.0
description:
  - Finds the orders in O(status) older than O(older_than) seconds (at most O(max_orders), oldest first).
  - For each, cancels it at the exchange (C(DELETE /api/v3/order) by C(origClientOrderId)). An order the exchange does not
    know (C(-2011)) never reached it and is cancelled locally only; an order the exchange reports C(FILLED) is skipped
    and listed in RV(skipped), because it needs reconciliation, not cancellation.
  - Then, in one transaction per order, sets C(status) to C(CANCELLED) and C(last_error) to a C(cancelled by runbook)
    message (the row is never deleted) and writes an C(ORDER_CANCELLED) event on aggregate C(order:<order_id>) with its next
    sequence number.
  - Finally writes one C(RUNBOOK_ACTION) event on C(runbook:<node_name>) listing the cancelled orders.
  - An order whose status changed in the meantime (for example filled by the executor) is left alone.
author:
  - genesis.runbook maintainers (@genesis-runbook)
extends_documentation_fragment:
  - genesis.runbook.connection
attributes:
  check_mode:
    description: Lists the orders that would be cancelled in RV(cancelled) and RV(count); nothing is sent or written.
    support: full
  diff_mode:
    description: Shows each order's status before and after.
    support: full
options:
  state:
    description:
      - C(cancelled) cancels the matching orders.
    type: str
    choices: [cancelled]
    default: cancelled
  status:
    description:
      - Status of the orders to cancel.
    type: str
    choices: [PENDING, PARTIAL]
    default: PENDING
  older_than:
    description:
      - Minimum age in seconds of an order to cancel (1 or more).
    type: int
    default: 30
  max_orders:
    description:
      - At most this many orders are cancelled in one run (1 to 1000).
    type: int
    default: 100
  reason:
    description:
      - Why the orders are cancelled; written into C(last_error) and the audit events.
      - Defaults to C(stuck <status> for more than <older_than> s).
    type: str
requirements:
  - psycopg2 (psycopg2-binary) on the node
'''

EXAMPLES = r'''
- name: Cancel the orders stuck in PENDING for more than 30 seconds
  genesis.runbook.genesis_orders:
    state: cancelled
    status: PENDING
    older_than: 30
    scenario: "2"
  register: stuck

- name: Report them
  ansible.builtin.debug:
    msg: "{{ stuck.count }} orders cancelled: {{ stuck.cancelled | map(attribute='order_id') | join(', ') }}"
'''

RETURN = r'''
cancelled:
  description: The orders cancelled (in check mode, those that would be cancelled), oldest first.
  returned: always
  type: list
  elements: dict
  sample:
    - {order_id: ord-1, client_order_id: gen-1, symbol: BTCUSDT, side: BUY, age_s: 95.2, previous_status: PENDING,
       exchange_result: unknown_at_exchange}
count:
  description: Number of entries in RV(cancelled).
  returned: always
  type: int
  sample: 1
skipped:
  description: Matching orders left alone, with the reason (filled at the exchange, or their status changed meanwhile).
  returned: always
  type: list
  elements: dict
  sample: [{order_id: ord-2, reason: "the exchange reports it FILLED: reconcile it instead of cancelling"}]
audit_events:
  description: The events written (ORDER_CANCELLED per order and one RUNBOOK_ACTION); empty in check mode.
  returned: always
  type: list
  elements: dict
  sample: [{event_id: 4712, event_type: RUNBOOK_ACTION, aggregate_id: "runbook:node1", sequence_number: 3}]
run_id:
  description: The run id written into the audit events.
  returned: always
  type: str
  sample: 20261127T184001Z
'''


from ansible.module_utils.basic import AnsibleModule
from ansible_collections.genesis.runbook.plugins.module_utils._common import (
    GenesisModule, clause, genesis_common_argument_spec,
)
from ansible_collections.genesis.runbook.plugins.module_utils.db import CANCEL_ORDER_SQL, GenesisDbError, plain_row
from ansible_collections.genesis.runbook.plugins.module_utils.exchange import ExchangeError, cancel_at_exchange
from ansible_collections.genesis.runbook.plugins.module_utils.audit import AuditError, short_event

CANDIDATES_SQL = (
    "SELECT order_id, client_order_id, exchange_order_id, symbol, side, type, quantity, status, created_at, "
    "EXTRACT(EPOCH FROM (now() - created_at)) AS age_s FROM orders "
    "WHERE status = %s AND created_at < now() - make_interval(secs => %s) ORDER BY created_at LIMIT %s")


def main():
    argument_spec = genesis_common_argument_spec()
    argument_spec.update(
        state=dict(type="str", choices=["cancelled"], default="cancelled"),
        status=dict(type="str", choices=["PENDING", "PARTIAL"], default="PENDING"),
        older_than=dict(type="int", default=30),
        max_orders=dict(type="int", default=100),
        reason=dict(type="str"),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    gm = GenesisModule(module, "genesis_orders")
    params = module.params
    if params["older_than"] < 1:
        gm.fail("older_than must be at least 1 second, got %s." % params["older_than"])
    if not 1 <= params["max_orders"] <= 1000:
        gm.fail("max_orders must be between 1 and 1000, got %s." % params["max_orders"])
    status = params["status"]
    reason = params["reason"] or "stuck %s for more than %s s" % (status, params["older_than"])
    last_error = "cancelled by runbook: %s (run %s)" % (reason, gm.run_id)

    db = gm.db("find and cancel stuck orders")
    result = dict(changed=False, cancelled=[], count=0, skipped=[], audit_events=[], run_id=gm.run_id)
    try:
        try:
            rows = db.query(CANDIDATES_SQL, (status, params["older_than"], params["max_orders"]), what="listing stuck orders")
        except GenesisDbError as exc:
            gm.fail(exc.message)
        orders = []
        for row in rows:
            order = plain_row(row)
            order["age_s"] = round(float(order["age_s"]), 1)
            orders.append(order)
        if not orders:
            module.exit_json(**result)

        exchange = gm.exchange("cancel stuck orders at the exchange", signed=True)
        listed = [dict(order_id=o["order_id"], client_order_id=o["client_order_id"], symbol=o["symbol"], side=o["side"],
                       age_s=o["age_s"], previous_status=status, exchange_result=None) for o in orders]
        if module.check_mode:
            result.update(changed=True, cancelled=listed, count=len(listed))
            if module._diff:
                result["diff"] = dict(before=dict((o["order_id"], status) for o in listed),
                                      after=dict((o["order_id"], "CANCELLED") for o in listed))
            module.exit_json(**result)

        audit = gm.audit(db)
        failure = None
        for order, entry in zip(orders, listed):
            try:
                outcome, filled = cancel_at_exchange(exchange, order["symbol"], order["client_order_id"])
            except ExchangeError as exc:
                failure = "order %s was not cancelled: %s" % (order["order_id"], clause(exc.message))
                break
            if filled:
                reason = "the exchange reports it %s: reconcile it instead of cancelling" % filled
                result["skipped"].append(dict(order_id=order["order_id"], reason=reason))
                continue
            entry["exchange_result"] = outcome
            try:
                with db.transaction("cancelling order %s" % order["order_id"]) as cur:
                    cur.execute(CANCEL_ORDER_SQL, (last_error, order["order_id"], status))
                    if cur.rowcount != 1:
                        raise _StatusMoved()
                    audit.event(cur, "ORDER_CANCELLED", "order:%s" % order["order_id"], dict(
                        order_id=order["order_id"], client_order_id=order["client_order_id"], symbol=order["symbol"],
                        previous_status=status, reason=last_error, exchange_result=outcome, cancelled_by="runbook",
                        run_id=gm.run_id, actor=gm.actor))
            except _StatusMoved:
                audit.discard()
                result["skipped"].append(dict(order_id=order["order_id"],
                                              reason="its status changed while it was being cancelled"))
                continue
            except (GenesisDbError, AuditError) as exc:
                audit.discard()
                failure = "order %s was cancelled at the exchange but not in the database: %s" % (order["order_id"], clause(exc.message))
                break
            audit.committed()
            result["cancelled"].append(entry)

        done = result["cancelled"]
        if done:
            result["changed"] = True
            try:
                audit.write_runbook_action(
                    "cancel_stuck_orders",
                    before=dict(orders=[dict(order_id=o["order_id"], status=status, age_s=o["age_s"]) for o in done]),
                    after=dict(orders=[dict(order_id=o["order_id"], status="CANCELLED") for o in done]),
                    details=dict(older_than=params["older_than"], reason=reason,
                                 exchange_results=dict((o["order_id"], o["exchange_result"]) for o in done)))
            except (GenesisDbError, AuditError) as exc:
                failure = failure or "the RUNBOOK_ACTION event was not written: %s" % clause(exc.message)
        result["audit_events"] = [short_event(e) for e in audit.written]
        result["count"] = len(done)
        if done and module._diff:
            result["diff"] = dict(before=dict((o["order_id"], status) for o in done),
                                  after=dict((o["order_id"], "CANCELLED") for o in done))
        if failure:
            prefix = "genesis_orders cancelled %d of %d stuck orders, then stopped: " % (len(done), len(orders))
            gm.fail(prefix + failure + ".", **result)
        module.exit_json(**result)
    finally:
        db.close()


class _StatusMoved(Exception):
    pass


if __name__ == "__main__":
    main()
