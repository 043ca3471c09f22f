#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: genesis_positions
short_description: Bring a genesis node's open positions within the tier's position limit with real exchange orders (runbook scenario 8)
version_added: 0.1.0
description:
  - Finds the open positions whose C(dollar_value) exceeds the position limit (see M(genesis.runbook.genesis_positions_info)).
  - Reduces each one to O(target_ratio) times the limit with a C(MARKET) order at the exchange on the side that
    closes it (C(SELL) for C(LONG), C(BUY) for C(SHORT)), its quantity on the symbol's lot step
    (C(GET /api/v3/exchangeInfo)).
  - Each position is locked (C(SELECT ... FOR UPDATE)) while its order is sent, so genesis's executor cannot move it at
    the same time; then, in the same transaction, the order is recorded (C(orders) row with the exchange's order id and
    fill price, C(ORDER_CREATED), C(ORDER_SUBMITTED), C(ORDER_FILLED) events), the position's quantity and value are
    reduced (C(POSITION_REDUCED) event carrying O(close_reason)), the realized P&L is booked on the account, and one
    C(RUNBOOK_ACTION) event, step C(reduce_excess_positions), is written. No row is ever deleted.
  - When what would remain is under the symbol's minimum quantity or notional, only closing the whole position brings it
    within the limit. That needs O(confirm) set to C(CLOSE ALL POSITIONS); the position is then closed with
    O(close_reason) (C(POSITION_CLOSED)). Without the phrase the module fails before changing anything.
  - An order the exchange rejects is recorded as C(REJECTED) with its error, and the module stops with one sentence.
author:
  - genesis.runbook maintainers (@genesis-runbook)
extends_documentation_fragment:
  - genesis.runbook.connection
attributes:
  check_mode:
    description: Lists the orders it would send in RV(reductions); no order is sent and nothing is written.
    support: full
  diff_mode:
    description: Shows each position's quantity before and after.
    support: full
options:
  state:
    description:
      - C(within_limits) reduces every open position above the limit.
    type: str
    choices: [within_limits]
    default: within_limits
  limit_source:
    description:
      - Which limit of C(GET /config/tier) applies (see M(genesis.runbook.genesis_positions_info)).
    type: str
    choices: [max_position_size, effective_max_position_size]
    default: max_position_size
  limit:
    description:
      - A position limit in USDT that overrides O(limit_source) (greater than 0).
    type: float
  target_ratio:
    description:
      - Each position is reduced to this fraction of the limit (0.5 to 1), so that the next price tick does not push it
        over the limit again.
    type: float
    default: 0.98
  close_reason:
    description:
      - The C(close_reason) recorded with each reduction and on a position closed in full.
    type: str
    choices: [manual, tilt_intervention, emergency]
    default: manual
  confirm:
    description:
      - Must be exactly C(CLOSE ALL POSITIONS) when a position has to be closed in full.
    type: str
  max_positions:
    description:
      - At most this many positions are reduced in one run (1 to 100).
    type: int
    default: 20
requirements:
  - psycopg2 (psycopg2-binary) on the node
'''

EXAMPLES = r'''
- name: Reduce every position above the tier limit to 98 % of it
  genesis.runbook.genesis_positions:
    state: within_limits
    target_ratio: 0.98
    scenario: "8"
  register: reduced

- name: Report the orders
  ansible.builtin.debug:
    msg: "{{ item.position_id }}: {{ item.side }} {{ item.quantity }} {{ item.symbol }} at {{ item.price }}"
  loop: "{{ reduced.reductions }}"
'''

RETURN = r'''
reductions:
  description: One entry per position reduced (in check mode, planned), largest excess first.
  returned: always
  type: list
  elements: dict
  sample:
    - {position_id: pos-node1-open1, symbol: BTCUSDT, side: SELL, quantity: "0.00407", quantity_before: 0.01172,
       quantity_after: 0.00765, value_before: 750.08, value_after: 489.6, close_whole: false, order_id: ord-node1-rb0a1b,
       client_order_id: rbnode10a1b2c3d4e5f6a7b8, exchange_order_id: "7310", price: 64000.5, status: FILLED}
limit:
  description: The position limit applied, in USDT.
  returned: always
  type: float
  sample: 500.0
skipped:
  description: Positions left alone, with the reason (closed or already within the limit meanwhile).
  returned: always
  type: list
  elements: dict
  sample: [{position_id: pos-node1-open2, reason: "closed meanwhile"}]
audit_events:
  description: The events written (order, position and RUNBOOK_ACTION events); empty in check mode.
  returned: always
  type: list
  elements: dict
  sample: [{event_id: 4712, event_type: RUNBOOK_ACTION, aggregate_id: "runbook:node1", sequence_number: 3}]
finished_at_ts:
  description: When the last order was recorded (epoch seconds on the node); the position monitor's next pass after it
    reflects the new values.
  returned: always
  type: float
  sample: 1795804801.5
'''


import decimal
import re
import time
import uuid

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.genesis.runbook.plugins.module_utils._common import (
    GenesisModule, clause, genesis_common_argument_spec, utc_now,
)
from ansible_collections.genesis.runbook.plugins.module_utils.api import GenesisApiError
from ansible_collections.genesis.runbook.plugins.module_utils.audit import AuditError, short_event
from ansible_collections.genesis.runbook.plugins.module_utils.db import GenesisDbError
from ansible_collections.genesis.runbook.plugins.module_utils.exchange import ExchangeError
from ansible_collections.genesis.runbook.plugins.module_utils.trading import (
    LIMIT_SOURCES, PHRASE_CLOSE, closing_side, fill_summary, lot_filter, number, reduction, tier_limit, violations,
)

STEP = "reduce_excess_positions"
LOCK_SQL = ("SELECT position_id, account_id, symbol, side, entry_price, quantity, status FROM positions "
            "WHERE position_id = %s FOR UPDATE")
INSERT_ORDER_SQL = ("INSERT INTO orders (order_id, account_id, position_id, client_order_id, exchange_order_id, symbol, "
                    "type, side, price, quantity, filled_quantity, status, last_error, strategy, node, executed_at) "
                    "VALUES (%s, %s, %s, %s, %s, %s, 'MARKET', %s, %s, %s, %s, %s, %s, %s, %s, %s)")
REDUCE_SQL = ("UPDATE positions SET quantity = %s, current_price = %s, dollar_value = %s, updated_at = now() "
              "WHERE position_id = %s AND status = 'OPEN'")
CLOSE_SQL = ("UPDATE positions SET status = 'CLOSED', close_reason = %s, closed_at = now(), updated_at = now(), "
             "current_price = %s, pnl_dollars = %s, dollar_value = %s WHERE position_id = %s AND status = 'OPEN'")
BALANCE_SQL = "UPDATE accounts SET balance_usdt = balance_usdt + %s WHERE account_id = %s"
Q8 = decimal.Decimal("0.00000001")
STRATEGY = "runbook"


def new_ids(node):
    """(order_id, client_order_id) for a runbook order; the client id fits the exchange's 36 characters."""
    tag = uuid.uuid4().hex
    safe = re.sub(r"[^A-Za-z0-9_-]", "", node)[:12] or "node"
    return "ord-%s-rb%s" % (safe, tag[:12]), ("rb%s%s" % (safe, tag))[:36]


class _Stop(Exception):
    """A position's order was rejected or not answered: recorded, then the run stops."""

    def __init__(self, message):
        super(_Stop, self).__init__(message)
        self.message = message


def plan_reductions(found, lots, target_value):
    """One planned order per violating position (quantities on the lot step)."""
    plans = []
    for item in found:
        quantity = number(item.get("quantity"), 0.0)
        price = number(item.get("current_price")) or (number(item.get("dollar_value"), 0.0) / quantity if quantity else None)
        lot = lots.get(item["symbol"])
        if not price or lot is None or quantity <= 0:
            plans.append(dict(position_id=item["position_id"], symbol=item["symbol"], error=(
                "no price" if not price else "no lot size from the exchange" if lot is None else "no quantity")))
            continue
        cut = reduction(quantity, price, target_value, lot)
        plans.append(dict(position_id=item["position_id"], symbol=item["symbol"], position_side=item.get("side"),
                          side=closing_side(item.get("side")), quantity=cut["reduce_qty"], quantity_before=quantity,
                          quantity_after=float(cut["remaining_qty"]), value_before=number(item.get("dollar_value")),
                          value_after=cut["remaining_value"], close_whole=cut["close_whole"], price=price,
                          order_id=None, client_order_id=None, exchange_order_id=None, status=None, lot=lot))
    return plans


def public(plan):
    return dict((k, v) for k, v in plan.items() if k not in ("lot", "position_side"))


class Reducer(object):
    def __init__(self, gm, db, audit, exchange, params, limit):
        self.gm = gm
        self.db = db
        self.audit = audit
        self.exchange = exchange
        self.params = params
        self.limit = limit

    def order_events(self, cur, plan, account_id, outcome):
        agg = "order:%s" % plan["order_id"]
        base = dict(order_id=plan["order_id"], client_order_id=plan["client_order_id"], symbol=plan["symbol"],
                    side=plan["side"], type="MARKET", quantity=float(plan["quantity"]), position_id=plan["position_id"],
                    strategy=STRATEGY, node=self.gm.node, run_id=self.gm.run_id, reason="position above the tier limit")
        self.audit.event(cur, "ORDER_CREATED", agg, base)
        self.audit.event(cur, "ORDER_SUBMITTED", agg, dict(order_id=plan["order_id"], client_order_id=plan["client_order_id"],
                                                           run_id=self.gm.run_id))
        if outcome.get("filled"):
            self.audit.event(cur, "ORDER_FILLED", agg, dict(order_id=plan["order_id"],
                                                            exchange_order_id=plan["exchange_order_id"],
                                                            filled_quantity=outcome["executed"], price=plan["price"],
                                                            status=outcome["status"]))
        else:
            self.audit.event(cur, "ORDER_REJECTED", agg, dict(order_id=plan["order_id"], reason=outcome["error"],
                                                              code=outcome.get("code"), status=outcome["status"]))

    def apply(self, plan, cur):
        """Lock the position, send the order, record everything in this transaction. Returns 'done' or a skip reason."""
        cur.execute(LOCK_SQL, (plan["position_id"],))
        row = cur.fetchone()
        if row is None or row[6] != "OPEN":
            return "closed meanwhile"
        account_id, entry, locked_qty = row[1], decimal.Decimal(str(row[4])), decimal.Decimal(str(row[5]))
        if float(locked_qty) != plan["quantity_before"]:
            # the executor moved it between the read and the lock: re-plan on the locked quantity
            cut = reduction(locked_qty, plan["price"], self.limit * self.params["target_ratio"], plan["lot"])
            if float(locked_qty) * plan["price"] <= self.limit:
                return "within the limit meanwhile"
            if cut["close_whole"] and not plan["close_whole"]:
                return "would now need a whole close; rerun to re-plan it"
            plan.update(quantity=cut["reduce_qty"], quantity_before=float(locked_qty),
                        quantity_after=float(cut["remaining_qty"]), value_after=cut["remaining_value"])
        plan["order_id"], plan["client_order_id"] = new_ids(self.gm.node)
        outcome = self.send(plan)
        filled = outcome.get("filled", False)
        fill_qty = decimal.Decimal(str(outcome["executed"])) if filled else decimal.Decimal(0)
        price = decimal.Decimal(str(plan["price"]))
        cur.execute(INSERT_ORDER_SQL, (
            plan["order_id"], account_id, plan["position_id"], plan["client_order_id"], plan["exchange_order_id"],
            plan["symbol"], plan["side"], price if filled else None, decimal.Decimal(plan["quantity"]),
            fill_qty, outcome["status"], outcome.get("error"), STRATEGY, self.gm.node, utc_now() if filled else None))
        self.order_events(cur, plan, account_id, outcome)
        plan["status"] = outcome["status"]
        if not filled:
            raise _Stop("the exchange did not fill the %s order for %s: %s" % (plan["side"], plan["position_id"],
                                                                               clause(outcome["error"])))
        sign = decimal.Decimal(1) if str(row[3]).upper() == "LONG" else decimal.Decimal(-1)
        pnl = ((price - entry) * fill_qty * sign).quantize(Q8)
        remaining = locked_qty - fill_qty
        reason = self.params["close_reason"]
        if remaining <= 0:
            cur.execute(CLOSE_SQL, (reason, price, pnl, (price * locked_qty).quantize(Q8), plan["position_id"]))
            event_type = "POSITION_CLOSED"
            data = dict(position_id=plan["position_id"], close_reason=reason, exit_price=float(price),
                        pnl_dollars=float(pnl), order_id=plan["order_id"])
        else:
            cur.execute(REDUCE_SQL, (remaining, price, (price * remaining).quantize(Q8), plan["position_id"]))
            event_type = "POSITION_REDUCED"
            data = dict(position_id=plan["position_id"], quantity=float(remaining), exit_price=float(price),
                        pnl_dollars=float(pnl), order_id=plan["order_id"], close_reason=reason)
        plan.update(quantity_after=float(remaining), value_after=round(float(price * remaining), 8))
        cur.execute(BALANCE_SQL, (pnl, account_id))
        data.update(reduced_by="runbook", run_id=self.gm.run_id, limit=self.limit)
        self.audit.event(cur, event_type, "position:%s" % plan["position_id"], data)
        self.audit.runbook_action(
            cur, STEP,
            before=dict(position_id=plan["position_id"], quantity=plan["quantity_before"], dollar_value=plan["value_before"]),
            after=dict(position_id=plan["position_id"], quantity=plan["quantity_after"], dollar_value=plan["value_after"],
                       status="CLOSED" if remaining <= 0 else "OPEN"),
            details=dict(order_id=plan["order_id"], exchange_order_id=plan["exchange_order_id"], side=plan["side"],
                         quantity=plan["quantity"], price=plan["price"], close_reason=reason, limit=self.limit))
        return "done"

    def send(self, plan):
        params = [("symbol", plan["symbol"]), ("side", plan["side"]), ("type", "MARKET"), ("quantity", plan["quantity"]),
                  ("newClientOrderId", plan["client_order_id"]), ("newOrderRespType", "FULL")]
        try:
            answer = self.exchange.request("POST", "/api/v3/order", params, signed=True, idempotent=False)
        except ExchangeError as exc:
            status = "FAILED" if exc.unreachable else "REJECTED"
            error = exc.message
            if exc.unreachable:
                error += " Whether the exchange placed it is unknown: reconcile client order id %s." % plan["client_order_id"]
            return dict(status=status, error=error, code=exc.code)
        executed, price, exchange_order_id, status = fill_summary(answer.data, plan["quantity"])
        plan["exchange_order_id"] = exchange_order_id
        if not executed or executed <= 0:
            return dict(status="REJECTED", error="the exchange answered status %s with nothing filled" % status)
        if price:
            plan["price"] = round(price, 8)
        partial = executed + 1e-12 < float(plan["quantity"])
        return dict(status="PARTIAL" if partial else "FILLED", executed=executed, filled=True)


def main():
    argument_spec = genesis_common_argument_spec()
    argument_spec.update(
        state=dict(type="str", choices=["within_limits"], default="within_limits"),
        limit_source=dict(type="str", choices=list(LIMIT_SOURCES), default="max_position_size"),
        limit=dict(type="float"),
        target_ratio=dict(type="float", default=0.98),
        close_reason=dict(type="str", choices=["manual", "tilt_intervention", "emergency"], default="manual"),
        confirm=dict(type="str"),
        max_positions=dict(type="int", default=20),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    gm = GenesisModule(module, "genesis_positions")
    params = module.params
    if params["limit"] is not None and params["limit"] <= 0:
        gm.fail("limit must be greater than 0 USDT, got %s." % params["limit"])
    if not 0.5 <= params["target_ratio"] <= 1:
        gm.fail("target_ratio must be between 0.5 and 1, got %s." % params["target_ratio"])
    if not 1 <= params["max_positions"] <= 100:
        gm.fail("max_positions must be between 1 and 100, got %s." % params["max_positions"])
    gm.require("api_key", "read the positions and the tier")

    api = gm.api()
    try:
        tier = api.get("/config/tier").data
        answer = api.get("/positions", query=dict(status="open")).data
    except GenesisApiError as exc:
        gm.fail(exc.message)
    limit = tier_limit(tier if isinstance(tier, dict) else {}, params["limit_source"], params["limit"])
    if limit is None:
        gm.fail("Control API %s/config/tier answered without %s: set limit." % (api.endpoint, params["limit_source"]))
    found = violations((answer or {}).get("positions"), limit)[:params["max_positions"]]
    result = dict(changed=False, reductions=[], limit=limit, skipped=[], audit_events=[], finished_at_ts=time.time())
    if not found:
        module.exit_json(**result)

    exchange = gm.exchange("send the orders that reduce the positions", signed=True)
    lots = {}
    try:
        for symbol in sorted(set(v["symbol"] for v in found)):
            lots[symbol] = lot_filter(exchange.request("GET", "/api/v3/exchangeInfo", [("symbol", symbol)]).data, symbol)
    except ExchangeError as exc:
        gm.fail("No position was reduced: %s" % exc.message)
    plans = plan_reductions(found, lots, limit * params["target_ratio"])
    broken = [p for p in plans if p.get("error")]
    if broken:
        gm.fail("No position was reduced: %s has %s." % (broken[0]["position_id"], broken[0]["error"]))
    whole = [p["position_id"] for p in plans if p["close_whole"]]
    result.update(changed=True, reductions=[public(p) for p in plans])
    if module._diff:
        result["diff"] = dict(before=dict((p["position_id"], p["quantity_before"]) for p in plans),
                              after=dict((p["position_id"], p["quantity_after"]) for p in plans))
    if whole and params["confirm"] != PHRASE_CLOSE:
        message = ("confirm must be exactly '%s' to close %s in full (what would remain is under the exchange's minimum "
                   "order size)" % (PHRASE_CLOSE, ", ".join(whole)))
        if not module.check_mode:
            gm.fail(message + "; no position was reduced.", reductions=result["reductions"], limit=limit)
        module.warn(message + ".")
    if module.check_mode:
        module.exit_json(**result)

    db = gm.db("record the orders and position changes")
    try:
        audit = gm.connected_audit(db, "No position was reduced")
        reducer = Reducer(gm, db, audit, exchange, params, limit)
        done = []
        failure = None
        for plan in plans:
            outcome = None
            try:
                with db.transaction("recording the reduction of %s" % plan["position_id"]) as cur:
                    try:
                        outcome = reducer.apply(plan, cur)
                    except _Stop as stop:
                        failure = stop.message  # commit: the rejected order stays on record
            except (GenesisDbError, AuditError) as exc:
                audit.discard()
                failure = "%s was %s but not recorded: %s" % (
                    plan["position_id"], "reduced at the exchange (exchange order %s, client order id %s)" % (
                        plan["exchange_order_id"], plan["client_order_id"]) if plan["exchange_order_id"] else "not reduced",
                    clause(exc.message))
            else:
                audit.committed()
            if failure:
                break
            if outcome == "done":
                done.append(public(plan))
            else:
                result["skipped"].append(dict(position_id=plan["position_id"], reason=outcome))
        result.update(changed=bool(done), reductions=done, audit_events=[short_event(e) for e in audit.written],
                      finished_at_ts=time.time())
        if module._diff:
            result["diff"] = dict(before=dict((p["position_id"], p["quantity_before"]) for p in done),
                                  after=dict((p["position_id"], p["quantity_after"]) for p in done))
        if failure:
            gm.fail("genesis_positions reduced %d of %d positions, then stopped: %s." % (len(done), len(plans), failure),
                    **result)
        module.exit_json(**result)
    finally:
        db.close()


if __name__ == "__main__":
    main()
