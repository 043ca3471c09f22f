#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: genesis_cluster_reconcile
short_description: Cancel or reconcile the records a fenced genesis node created during a split brain (runbook scenario 11)
version_added: 0.1.0
description:
  - Split-era records are the orders this node's primary-only O(strategies) created since O(since) (when the second
    primary appeared), and the positions those orders opened, changed or closed. No record is ever deleted.
  - O(state=cancelled) runs on the fenced node. It lists its split-era records and cancels each order that is still
    open (C(PENDING) or C(PARTIAL)), first at the exchange (C(DELETE /api/v3/order) by C(origClientOrderId); an order
    the exchange does not know never reached it), then in the database (C(status=CANCELLED), C(last_error) says why)
    with an C(ORDER_CANCELLED) event on C(order:<order_id>). An order the exchange reports C(FILLED) is not cancelled and
    is listed in RV(skipped). It is refused unless the node is fenced. Returns the records in their final state in
    RV(records).
  - O(state=reconciled) runs on the elected primary with the RV(records) of the fenced node O(source_node). Each order and
    position not reconciled yet gets one C(ORDER_RECONCILED) or C(POSITION_RECONCILED) event on its aggregate in this
    node's audit trail, carrying the record as the fenced node holds it and the summary of its events there, so the
    primary's trail holds every record of the split. It is refused unless this node is the active primary.
  - Each state writes one C(RUNBOOK_ACTION) event on C(runbook:<node_name>) when it changed something
    (steps C(cancel_split_orders) and C(reconcile_into_primary)).
author:
  - genesis.runbook maintainers (@genesis-runbook)
extends_documentation_fragment:
  - genesis.runbook.connection
attributes:
  check_mode:
    description: Lists what would be cancelled or reconciled; nothing is sent or written, and the fenced-node refusal
      is not applied (fencing may only be planned).
    support: full
  diff_mode:
    description: Shows order statuses (cancelled) or the reconciled aggregates (reconciled) before and after.
    support: full
options:
  state:
    description:
      - C(cancelled) on the fenced node, C(reconciled) on the elected primary.
    type: str
    choices: [cancelled, reconciled]
    required: true
  since:
    description:
      - With O(state=cancelled), the start of the split brain (ISO 8601); orders created earlier are not split-era.
    type: str
  strategies:
    description:
      - With O(state=cancelled), the primary-only strategies (an empty list means there are no split-era records).
    type: list
    elements: str
  max_records:
    description:
      - With O(state=cancelled), at most this many split-era orders are handled in one run (1 to 10000).
    type: int
    default: 1000
  source_node:
    description:
      - With O(state=reconciled), the fenced node the O(records) come from.
    type: str
  records:
    description:
      - With O(state=reconciled), the RV(records) returned by O(state=cancelled) on O(source_node)
        (C(orders) and C(positions) lists).
    type: dict
  step:
    description:
      - Step name of the C(RUNBOOK_ACTION) event; defaults to C(cancel_split_orders) or C(reconcile_into_primary).
    type: str
requirements:
  - psycopg2 (psycopg2-binary) on the node
'''

EXAMPLES = r'''
- name: Cancel what the fenced node still has open from the split
  genesis.runbook.genesis_cluster_reconcile:
    state: cancelled
    since: "2026-11-27T18:40:07.000Z"
    strategies: [cluster_arbitrage]
  register: split
  delegate_to: node2

- name: Reconcile every split-era record into the primary's audit trail
  genesis.runbook.genesis_cluster_reconcile:
    state: reconciled
    source_node: node2
    records: "{{ split.records }}"
'''

RETURN = r'''
records:
  description: The split-era records (C(state=cancelled)), orders and positions with their event summaries, in their
    final state (in check mode, as they are now).
  returned: when O(state=cancelled)
  type: dict
  sample:
    orders: [{order_id: ord-node2-1, aggregate_id: "order:ord-node2-1", status: FILLED, strategy: cluster_arbitrage,
              position_id: pos-node2-1, events: [{event_id: 812, event_type: ORDER_CREATED, sequence_number: 1}]}]
    positions: [{position_id: pos-node2-1, aggregate_id: "position:pos-node2-1", status: OPEN, events: []}]
cancelled:
  description: The orders cancelled (in check mode, that would be cancelled).
  returned: when O(state=cancelled)
  type: list
  elements: dict
  sample: [{order_id: ord-node2-2, previous_status: PENDING, exchange_result: unknown_at_exchange}]
skipped:
  description: Open orders left alone, with the reason.
  returned: when O(state=cancelled)
  type: list
  elements: dict
  sample: [{order_id: ord-node2-3, reason: "the exchange reports it FILLED: it is reconciled, not cancelled"}]
reconciled:
  description: The aggregates reconciled (in check mode, that would be), with the event type and the record's status.
  returned: when O(state=reconciled)
  type: list
  elements: dict
  sample: [{aggregate_id: "order:ord-node2-1", event_type: ORDER_RECONCILED, status: FILLED}]
already_reconciled:
  description: The aggregates that already carried a reconciliation event here.
  returned: when O(state=reconciled)
  type: list
  elements: str
  sample: ["position:pos-node2-1"]
audit_events:
  description: The events written; empty in check mode.
  returned: always
  type: list
  elements: dict
  sample: [{event_id: 930, event_type: RUNBOOK_ACTION, aggregate_id: "runbook:node1", sequence_number: 2}]
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.genesis.runbook.plugins.module_utils._common import (
    GenesisModule, clause, genesis_common_argument_spec, is_set, parse_iso,
)
from ansible_collections.genesis.runbook.plugins.module_utils.api import GenesisApiError
from ansible_collections.genesis.runbook.plugins.module_utils.audit import AuditError, short_event
from ansible_collections.genesis.runbook.plugins.module_utils.cluster import (
    OPEN_ORDER_STATUSES, RECONCILED_EVENT, reconciled_aggregates, split_records,
)
from ansible_collections.genesis.runbook.plugins.module_utils.db import CANCEL_ORDER_SQL, GenesisDbError
from ansible_collections.genesis.runbook.plugins.module_utils.exchange import ExchangeError, cancel_at_exchange


def cluster_doc(gm, module):
    try:
        return gm.api().get("/admin/cluster").data
    except GenesisApiError as exc:
        gm.fail(exc.message)


def run_cancelled(module, gm):
    params = module.params
    since = parse_iso(params["since"]) if is_set(params["since"]) else None
    if since is None:
        gm.fail("since must be the ISO 8601 time the split brain began (from the election), got %r." % params["since"])
    if params["strategies"] is None:
        gm.fail("strategies is required with state=cancelled: list the primary-only strategies (from genesis_cluster_info).")
    if not 1 <= params["max_records"] <= 10000:
        gm.fail("max_records must be between 1 and 10000, got %s." % params["max_records"])
    gm.require("api_key", "check that the node is fenced (GET /admin/cluster)")
    doc = cluster_doc(gm, module)
    if not doc.get("fenced") and not module.check_mode:
        gm.fail("Cancelling the split-era orders of %s is refused: it is not fenced (fence it first)." % gm.node)
    step = params["step"] or "cancel_split_orders"
    result = dict(changed=False, records=dict(orders=[], positions=[]), cancelled=[], skipped=[], audit_events=[])
    db = gm.db("list and cancel the split-era orders")
    try:
        def listing():
            return split_records(db, gm.node, params["strategies"], since, params["max_records"])
        try:
            records = listing() if params["strategies"] else dict(orders=[], positions=[])
        except GenesisDbError as exc:
            gm.fail(exc.message)
        result["records"] = records
        if len(records["orders"]) >= params["max_records"]:
            module.warn("%s has %d or more split-era orders; only the first %d were handled."
                        % (gm.node, params["max_records"], params["max_records"]))
        opened = [o for o in records["orders"] if o["status"] in OPEN_ORDER_STATUSES]
        if not opened:
            module.exit_json(**result)
        planned = [dict(order_id=o["order_id"], client_order_id=o["client_order_id"], symbol=o["symbol"],
                        previous_status=o["status"], exchange_result=None) for o in opened]
        if module.check_mode:
            result.update(changed=True, cancelled=planned)
            if module._diff:
                result["diff"] = dict(before=dict((o["order_id"], o["previous_status"]) for o in planned),
                                      after=dict((o["order_id"], "CANCELLED") for o in planned))
            module.exit_json(**result)

        audit = gm.connected_audit(db, "Cancelling the split-era orders of %s was refused" % gm.node)
        exchange = gm.exchange("cancel the split-era orders at the exchange", signed=True)
        last_error = "cancelled by runbook: created by %s as a second primary during a split brain (run %s)" % (
            gm.node, gm.run_id)
        failure = None
        for order, entry in zip(opened, planned):
            try:
                outcome, filled = cancel_at_exchange(exchange, order["symbol"], order["client_order_id"])
            except ExchangeError as exc:
                failure = "order %s was not cancelled: %s" % (order["order_id"], clause(exc.message))
                break
            if filled:
                reason = "the exchange reports it %s: it is reconciled, not cancelled" % filled
                result["skipped"].append(dict(order_id=order["order_id"], reason=reason))
                continue
            entry["exchange_result"] = outcome
            try:
                with db.transaction("cancelling order %s" % order["order_id"]) as cur:
                    cur.execute(CANCEL_ORDER_SQL, (last_error, order["order_id"], order["status"]))
                    if cur.rowcount != 1:
                        raise _StatusMoved()
                    audit.event(cur, "ORDER_CANCELLED", "order:%s" % order["order_id"], dict(
                        order_id=order["order_id"], client_order_id=order["client_order_id"], symbol=order["symbol"],
                        previous_status=order["status"], reason=last_error, exchange_result=outcome,
                        cancelled_by="runbook", run_id=gm.run_id, actor=gm.actor))
            except _StatusMoved:
                audit.discard()
                result["skipped"].append(dict(order_id=order["order_id"], reason="its status changed while it was being cancelled"))
                continue
            except (GenesisDbError, AuditError) as exc:
                audit.discard()
                failure = "order %s was cancelled at the exchange but not in the database: %s" % (
                    order["order_id"], clause(exc.message))
                break
            audit.committed()
            result["cancelled"].append(entry)
        done = result["cancelled"]
        if done:
            result["changed"] = True
            try:
                audit.write_runbook_action(
                    step,
                    before=dict(orders=[dict(order_id=o["order_id"], status=o["previous_status"]) for o in done]),
                    after=dict(orders=[dict(order_id=o["order_id"], status="CANCELLED") for o in done]),
                    details=dict(since=params["since"], strategies=params["strategies"],
                                 exchange_results=dict((o["order_id"], o["exchange_result"]) for o in done)))
            except (GenesisDbError, AuditError) as exc:
                failure = failure or "the RUNBOOK_ACTION event was not written: %s" % clause(exc.message)
            try:
                result["records"] = listing()
            except GenesisDbError as exc:
                failure = failure or clause(exc.message)
            if module._diff:
                result["diff"] = dict(before=dict((o["order_id"], o["previous_status"]) for o in done),
                                      after=dict((o["order_id"], "CANCELLED") for o in done))
        result["audit_events"] = [short_event(e) for e in audit.written]
        if failure:
            gm.fail("genesis_cluster_reconcile cancelled %d of %d open split-era orders of %s, then stopped: %s."
                    % (len(done), len(opened), gm.node, failure), **result)
        module.exit_json(**result)
    finally:
        db.close()


def _snapshot(record):
    return dict((k, v) for k, v in record.items() if k not in ("events", "aggregate_id"))


def run_reconciled(module, gm):
    params = module.params
    source = params["source_node"]
    if not is_set(source):
        gm.fail("source_node is required with state=reconciled: name the fenced node the records come from.")
    if source == gm.node:
        gm.fail("source_node %s is this node: split-era records are reconciled into the primary from the fenced node." % source)
    records = params["records"]
    if records is None or not isinstance(records.get("orders", []), list) or not isinstance(records.get("positions", []), list):
        gm.fail("records is required with state=reconciled: pass the records returned by state=cancelled on %s." % source)
    items = []
    for kind, key in (("order", "orders"), ("position", "positions")):
        for record in records.get(key) or []:
            if not isinstance(record, dict) or not record.get("%s_id" % kind):
                gm.fail("records.%s holds an entry without %s_id: pass the records returned by state=cancelled." % (key, kind))
            items.append((kind, record.get("aggregate_id") or "%s:%s" % (kind, record["%s_id" % kind]), record))
    gm.require("api_key", "check that this node is the active primary (GET /admin/cluster)")
    doc = cluster_doc(gm, module)
    if doc.get("role") != "primary" or doc.get("fenced"):
        gm.fail("Reconciling the records of %s into %s is refused: %s is not the active primary (role %s, fenced %s)."
                % (source, gm.node, gm.node, doc.get("role"), bool(doc.get("fenced"))))
    step = params["step"] or "reconcile_into_primary"
    result = dict(changed=False, reconciled=[], already_reconciled=[], audit_events=[])
    if not items:
        module.exit_json(**result)
    db = gm.db("reconcile the split-era records")
    try:
        try:
            done = reconciled_aggregates(db, [aggregate for _kind, aggregate, _record in items])
        except GenesisDbError as exc:
            gm.fail(exc.message)
        result["already_reconciled"] = sorted(done)
        todo = [(kind, aggregate, record) for kind, aggregate, record in items if aggregate not in done]
        result["reconciled"] = [dict(aggregate_id=aggregate, event_type=RECONCILED_EVENT[kind], status=record.get("status"))
                                for kind, aggregate, record in todo]
        if not todo:
            module.exit_json(**result)
        if module._diff:
            result["diff"] = dict(before=dict(reconciled=sorted(done)),
                                  after=dict(reconciled=sorted(list(done) + [a for _k, a, _r in todo])))
        result["changed"] = True
        if module.check_mode:
            module.exit_json(**result)
        audit = gm.connected_audit(db, "Reconciling the records of %s into %s was refused" % (source, gm.node))
        try:
            with db.transaction("reconciling the split-era records of %s" % source) as cur:
                for kind, aggregate, record in todo:
                    audit.event(cur, RECONCILED_EVENT[kind], aggregate, dict(
                        source_node=source, reconciled_into=gm.node, record=_snapshot(record),
                        source_events=record.get("events") or [], run_id=gm.run_id, actor=gm.actor,
                        scenario=gm.scenario))
                audit.runbook_action(
                    cur, step,
                    before=dict(source_node=source, unreconciled=[a for _k, a, _r in todo]),
                    after=dict(reconciled_into=gm.node, reconciled=[a for _k, a, _r in todo]),
                    details=dict(statuses=dict((a, r.get("status")) for _k, a, r in todo)))
        except (GenesisDbError, AuditError) as exc:
            audit.discard()
            gm.fail("Reconciling the records of %s into %s failed and nothing was written: %s."
                    % (source, gm.node, clause(exc.message)))
        audit.committed()
        result["audit_events"] = [short_event(e) for e in audit.written]
        module.exit_json(**result)
    finally:
        db.close()


def main():
    argument_spec = genesis_common_argument_spec()
    argument_spec.update(
        state=dict(type="str", choices=["cancelled", "reconciled"], required=True),
        since=dict(type="str"),
        strategies=dict(type="list", elements="str"),
        max_records=dict(type="int", default=1000),
        source_node=dict(type="str"),
        records=dict(type="dict"),
        step=dict(type="str"),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    gm = GenesisModule(module, "genesis_cluster_reconcile")
    if module.params["state"] == "cancelled":
        run_cancelled(module, gm)
    run_reconciled(module, gm)


class _StatusMoved(Exception):
    pass


if __name__ == "__main__":
    main()
