#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: genesis_emergency
short_description: Take a genesis node out of the market step by step in an emergency (runbook scenario 20)
version_added: 0.1.0
description:
  - O(state=strategies_stopped) (emergency mode) disables every strategy that can still create orders
    (C(POST /admin/strategies/<name>/disable)); audit step C(activate_emergency_mode). Re-enabling them once the market
    has normalized is left to the operator (C(POST /admin/strategies/<name>/enable)).
  - O(state=orders_cancelled) cancels every C(PENDING) or C(PARTIAL) order - at the exchange first
    (C(DELETE /api/v3/order) by C(origClientOrderId); an order the exchange does not know is cancelled locally only; one
    the exchange reports filled is skipped for reconciliation) - then sets it C(CANCELLED) with an C(ORDER_CANCELLED)
    event, never deleting it. Orders open at the exchange under the node's key that the database does not list are
    cancelled at the exchange too. Audit step C(cancel_pending_orders).
  - O(state=safe_mode_enabled) turns safe mode on (C(POST /admin/safe-mode)); audit step C(enable_safe_mode).
  - O(state=positions_closed) closes every open position with a real C(MARKET) order through the node's
    C(POST /emergency/close-all) (C(close_reason=emergency)); it needs O(confirm) set to C(CLOSE ALL POSITIONS) and,
    with O(require_exchange_trading), refuses while the exchange reports a trading halt (no order could be placed).
    Audit step C(close_all_positions).
  - O(state=halted) (the first step of the kill switch) halts trading through the node's C(POST /emergency/halt), after
    which the strategies create no order and the executor submits none. It needs O(confirm) set to C(HALT TRADING NOW). Whether
    the node is halted is read from C(GET /health) (C(halted)); once the node's main program is stopped and its
    control API no longer answers, from the C(genesis:halt) flag in Redis (O(redis_url)), so a rerun after the kill
    switch changes nothing. Audit step C(halt_trading).
  - Each state is idempotent; nothing is changed when the audit trail cannot be written.
author:
  - genesis.runbook maintainers (@genesis-runbook)
extends_documentation_fragment:
  - genesis.runbook.connection
attributes:
  check_mode:
    description: Lists what would be stopped, cancelled, enabled, closed or halted; nothing is sent or written and no phrase is needed.
    support: full
  diff_mode:
    description: Shows the strategies, orders, safe mode, positions or halt flag before and after.
    support: full
options:
  state:
    description:
      - The step to bring about (see the description).
    type: str
    choices: [strategies_stopped, orders_cancelled, safe_mode_enabled, positions_closed, halted]
    required: true
  confirm:
    description:
      - Must be exactly C(CLOSE ALL POSITIONS) for O(state=positions_closed) and C(HALT TRADING NOW) for O(state=halted)
        outside check mode (docs/genesis-contract.md section 8).
    type: str
  reason:
    description:
      - Why, written into safe mode, the halt, cancelled orders and the audit events.
    type: str
    default: emergency market conditions
  max_slippage_percent:
    description:
      - Passed to C(POST /emergency/close-all) (0 or more).
    type: float
  max_orders:
    description:
      - At most this many pending orders are cancelled in one run (1 to 1000).
    type: int
    default: 500
  require_exchange_trading:
    description:
      - With O(state=positions_closed), read the exchange's system status first and refuse while it reports a halt.
    type: bool
    default: true
requirements:
  - psycopg2 (psycopg2-binary) on the node
'''

EXAMPLES = r'''
- name: Stop the strategies (emergency mode)
  genesis.runbook.genesis_emergency:
    state: strategies_stopped

- name: Close every open position
  genesis.runbook.genesis_emergency:
    state: positions_closed
    confirm: "{{ emergency_shutdown_confirm }}"

- name: Halt trading (kill switch, first step)
  genesis.runbook.genesis_emergency:
    state: halted
    confirm: "{{ kill_switch_confirm }}"
    reason: operator kill switch
'''

RETURN = r'''
state:
  description: The state requested.
  returned: always
  type: str
  sample: positions_closed
entries:
  description: What was (in check mode, would be) stopped, cancelled, enabled, closed or halted.
  returned: always
  type: list
  elements: dict
  sample: [{position_id: pos-node1-open1, symbol: BTCUSDT, quantity: 0.00282, order_id: ord-node1-1a2b, price: 54400.1}]
failed:
  description: What could not be done (positions the exchange did not close, orders left for reconciliation).
  returned: always
  type: list
  elements: dict
  sample: [{position_id: pos-node1-open2, error: "Trading halted: system maintenance."}]
audit_events:
  description: The events written; empty in check mode.
  returned: always
  type: list
  elements: dict
  sample: [{event_id: 4712, event_type: RUNBOOK_ACTION, aggregate_id: "runbook:node1", sequence_number: 3}]
halt:
  description:
    - With O(state=halted), the halt flag as found (C(halted), C(since), C(reason)) and where it was read (C(source)
      C(api), or C(redis) when the control API did not answer).
  returned: when state is halted
  type: dict
  sample: {halted: true, since: "2026-11-27T18:40:01.123Z", reason: operator kill switch, source: api}
'''


from ansible.module_utils.basic import AnsibleModule
from ansible_collections.genesis.runbook.plugins.module_utils._common import (
    GenesisModule, clause, genesis_common_argument_spec,
)
from ansible_collections.genesis.runbook.plugins.module_utils.api import GenesisApiError
from ansible_collections.genesis.runbook.plugins.module_utils.audit import AuditError, short_event
from ansible_collections.genesis.runbook.plugins.module_utils.cache import GenesisCacheError
from ansible_collections.genesis.runbook.plugins.module_utils.db import CANCEL_ORDER_SQL, GenesisDbError, plain_row
from ansible_collections.genesis.runbook.plugins.module_utils.exchange import ExchangeError, cancel_at_exchange
from ansible_collections.genesis.runbook.plugins.module_utils.trading import PHRASE_CLOSE, number

PHRASE_HALT = "HALT TRADING NOW"
HALT_KEY = "genesis:halt"
# an order the exchange filled is not cancelled: it must be reconciled
FILLED_REASON = "the exchange reports it %s: reconcile it instead of cancelling"

STEPS = dict(strategies_stopped="activate_emergency_mode", orders_cancelled="cancel_pending_orders",
             safe_mode_enabled="enable_safe_mode", positions_closed="close_all_positions", halted="halt_trading")
# The same statements as genesis_orders (an age of 0 s: every pending order).
CANDIDATES_SQL = (
    "SELECT order_id, client_order_id, exchange_order_id, symbol, side, type, quantity, status, created_at, "
    "EXTRACT(EPOCH FROM (now() - created_at)) AS age_s FROM orders "
    "WHERE status = %s AND created_at < now() - make_interval(secs => %s) ORDER BY created_at LIMIT %s")


class Emergency(object):
    def __init__(self, module, gm):
        self.module = module
        self.gm = gm
        self.params = module.params
        self.api = gm.api()
        self.result = dict(changed=False, state=self.params["state"], entries=[], failed=[], audit_events=[])
        self.audit = None

    # -- helpers -------------------------------------------------------------------
    def get(self, path, query=None):
        try:
            data = self.api.get(path, query=query).data
        except GenesisApiError as exc:
            self.gm.fail(exc.message)
        if not isinstance(data, dict):
            self.gm.fail("Control API %s%s answered without a JSON object." % (self.api.endpoint, path))
        return data

    def finish(self, planned, before=None, after=None):
        """Exit unchanged, or in check mode with the plan; otherwise return the audit writer to act with."""
        self.result["changed"] = bool(planned)
        if planned and self.module._diff and before is not None:
            self.result["diff"] = dict(before=before, after=after)
        if not planned or self.module.check_mode:
            self.module.exit_json(**self.result)

    def connect(self, purpose, refusal):
        db = self.gm.db(purpose)
        self.audit = self.gm.connected_audit(db, refusal)
        return db

    def write_action(self, before, after, details=None, done=True):
        step = STEPS[self.params["state"]]
        try:
            self.audit.write_runbook_action(step, before, after, details)
        except (GenesisDbError, AuditError) as exc:
            self.result["audit_events"] = [short_event(e) for e in self.audit.written]
            self.gm.fail("Step %s was applied but its audit event was not written: %s." % (step, clause(exc.message)),
                         **self.result)
        self.result["changed"] = done
        self.result["audit_events"] = [short_event(e) for e in self.audit.written]

    # -- strategies_stopped ----------------------------------------------------------
    def strategies_stopped(self):
        strategies = self.get("/admin/strategies").get("strategies") or {}
        targets = sorted(n for n, s in strategies.items()
                         if s.get("enabled", True) or s.get("state") not in ("STOPPED", "STOPPING"))
        before = dict((n, strategies[n].get("state")) for n in targets)
        self.result["entries"] = [dict(strategy=n, before=before[n], after="STOPPED") for n in targets]
        self.finish(targets, before, dict((n, "STOPPED") for n in targets))
        db = self.connect("write the audit event of the emergency mode", "No strategy was stopped")
        try:
            done = []
            for name in targets:
                try:
                    answer = self.api.post("/admin/strategies/%s/disable" % self.api.quote(name), idempotent=True).data
                except GenesisApiError as exc:
                    self.result["failed"].append(dict(strategy=name, error=exc.message))
                    break
                done.append(dict(strategy=name, before=before[name], after=(answer or {}).get("state", "STOPPED")))
            self.result["entries"] = done
            if done:
                self.write_action(dict((d["strategy"], d["before"]) for d in done),
                                  dict((d["strategy"], d["after"]) for d in done), dict(reason=self.params["reason"]))
            if self.result["failed"]:
                self.gm.fail("Strategy %s was not stopped (%d stopped before it): %s" % (
                    self.result["failed"][0]["strategy"], len(done), clause(self.result["failed"][0]["error"])),
                    **self.result)
        finally:
            db.close()
        self.module.exit_json(**self.result)

    # -- safe_mode_enabled -------------------------------------------------------------
    def safe_mode_enabled(self):
        current = self.get("/admin/safe-mode")
        enabled = bool(current.get("enabled"))
        self.result["entries"] = [] if enabled else [dict(safe_mode=True, before=False)]
        self.finish(not enabled, dict(safe_mode=enabled), dict(safe_mode=True))
        db = self.connect("write the audit event of safe mode", "Safe mode was not enabled")
        try:
            try:
                answer = self.api.post("/admin/safe-mode", dict(enabled=True, reason=self.params["reason"]),
                                       idempotent=True).data
            except GenesisApiError as exc:
                self.gm.fail("Safe mode was not enabled: %s." % clause(exc.message))
            if (answer or {}).get("changed", True):
                self.write_action(dict(safe_mode=False), dict(safe_mode=True), dict(reason=self.params["reason"]))
            else:
                self.result["changed"] = False
        finally:
            db.close()
        self.module.exit_json(**self.result)

    # -- positions_closed ---------------------------------------------------------------
    def positions_closed(self):
        positions = self.get("/positions", dict(status="open")).get("positions") or []
        keys = ("position_id", "symbol", "side", "quantity", "dollar_value")
        self.result["entries"] = [dict((k, p.get(k)) for k in keys) for p in positions]
        if positions and self.params["require_exchange_trading"]:
            self.refuse_while_halted(len(positions))
        if positions and self.params["confirm"] != PHRASE_CLOSE:
            message = ("confirm must be exactly '%s' to close the %d open positions" % (PHRASE_CLOSE, len(positions)))
            if not self.module.check_mode:
                self.gm.fail(message + "; no position was closed.", **self.result)
            self.module.warn(message + ".")
        ids = [p["position_id"] for p in self.result["entries"]]
        self.finish(positions, dict(open_positions=ids), dict(open_positions=[]))
        db = self.connect("write the audit event of the close-all", "No position was closed")
        try:
            body = dict(confirmation=PHRASE_CLOSE)
            if self.params["max_slippage_percent"] is not None:
                body["max_slippage_percent"] = self.params["max_slippage_percent"]
            try:
                answer = self.api.post("/emergency/close-all", body, idempotent=True).data or {}
            except GenesisApiError as exc:
                self.gm.fail("No position was closed: %s." % clause(exc.message))
            closed = answer.get("closed") or []
            self.result["entries"] = closed
            self.result["failed"] = answer.get("failed") or []
            if closed or answer.get("changed"):
                self.write_action(dict(open_positions=ids),
                                  dict(closed=[c.get("position_id") for c in closed],
                                       failed=[f.get("position_id") for f in self.result["failed"]]),
                                  dict(orders=[c.get("order_id") for c in closed], reason=self.params["reason"],
                                       close_reason="emergency"))
            else:
                self.result["changed"] = False
            if self.result["failed"]:
                first = self.result["failed"][0]
                self.gm.fail("%d of %d positions were not closed, first %s: %s" % (
                    len(self.result["failed"]), len(ids), first.get("position_id"), clause(first.get("error") or "unknown")),
                    **self.result)
        finally:
            db.close()
        self.module.exit_json(**self.result)

    # -- halted ---------------------------------------------------------------------------
    def read_halt(self):
        """The halt flag from GET /health, else (the main program stopped) from Redis; fails when neither answers."""
        try:
            health = self.api.get("/health", auth=False, accept=(503,)).data
        except GenesisApiError as exc:
            if not exc.unreachable or not self.params.get("redis_url"):
                self.gm.fail("Trading was not halted because its state could not be read: %s." % clause(exc.message))
            api_error = exc.message
        else:
            if isinstance(health, dict) and "halted" in health:
                return dict(halted=bool(health["halted"]), since=None, reason=None, source="api")
            status = self.get("/account/status")
            return dict(halted=bool(status.get("halted")), since=None, reason=None, source="api")
        # Without the control API nothing can be halted, but a node halted before its programs were stopped
        # keeps the flag: a rerun of the kill switch must see it.
        try:
            flag = self.gm.cache("read the halt flag while the control API does not answer").hgetall(HALT_KEY)
        except GenesisCacheError as exc:
            self.gm.fail("Trading was not halted because its state could not be read: %s; %s." % (
                clause(api_error), clause(exc.message)))
        halted = str(flag.get("enabled", "0")).strip().lower() in ("1", "true", "yes", "on")
        if not halted:
            self.gm.fail("Trading was not halted: %s (the node is not halted and only its control API can halt it)." %
                         clause(api_error))
        return dict(halted=True, since=flag.get("since") or None, reason=flag.get("reason") or None, source="redis")

    def halted(self):
        current = self.read_halt()
        self.result["halt"] = current
        if current["halted"]:
            self.module.exit_json(**self.result)
        self.result["entries"] = [dict(halted=True, before=False)]
        if self.params["confirm"] != PHRASE_HALT:
            message = "confirm must be exactly '%s' to halt trading on %s" % (PHRASE_HALT, self.gm.node)
            if not self.module.check_mode:
                self.gm.fail(message + "; trading was not halted.", **self.result)
            self.module.warn(message + ".")
        self.finish(True, dict(halted=False), dict(halted=True))
        db = self.connect("write the audit event of the halt", "Trading was not halted")
        try:
            try:
                answer = self.api.post("/emergency/halt", dict(reason=self.params["reason"], confirmation=PHRASE_HALT),
                                       idempotent=True).data or {}
            except GenesisApiError as exc:
                self.gm.fail("Trading was not halted: %s." % clause(exc.message))
            self.result["halt"] = dict(halted=bool(answer.get("halted", True)), since=answer.get("since"),
                                       reason=answer.get("reason"), source="api")
            if answer.get("changed", True):
                self.write_action(dict(halted=False), dict(halted=True, since=answer.get("since")),
                                  dict(reason=self.params["reason"]))
            else:
                self.result["changed"] = False
        finally:
            db.close()
        self.module.exit_json(**self.result)

    def refuse_while_halted(self, count):
        exchange = self.gm.exchange("check that the exchange accepts orders before closing positions")
        try:
            status = exchange.system_status().data
        except ExchangeError as exc:
            status, error = None, exc.message
        else:
            error = None
        if error is not None or number((status or {}).get("status"), 0) != 0:
            why = ("its system status could not be read: %s" % clause(error) if error is not None else
                   "it reports status %s (%s)" % (status.get("status"), status.get("msg") or "halt"))
            message = ("No position was closed because the exchange cannot take orders now, %s; the %d open positions "
                       "stay open until trading resumes" % (why, count))
            if not self.module.check_mode:
                self.gm.fail(message + ".", **self.result)
            self.module.warn(message + ".")

    # -- orders_cancelled -----------------------------------------------------------------
    def orders_cancelled(self):
        gm = self.gm
        limit = self.params["max_orders"]
        db = gm.db("list and cancel the pending orders")
        try:
            try:
                orders = []
                for status in ("PENDING", "PARTIAL"):
                    orders += [plain_row(r) for r in db.query(CANDIDATES_SQL, (status, 0, limit), what="listing pending orders")]
            except GenesisDbError as exc:
                gm.fail(exc.message)
            orders = orders[:limit]
            exchange = gm.exchange("cancel the pending orders at the exchange", signed=True)
            known = set(o["client_order_id"] for o in orders)
            try:
                open_at_exchange = exchange.request("GET", "/api/v3/openOrders", signed=True).data or []
            except ExchangeError as exc:
                gm.fail("No order was cancelled: %s" % exc.message)
            strays = [o for o in open_at_exchange if isinstance(o, dict) and o.get("clientOrderId") not in known]
            known_entries = [dict(order_id=o["order_id"], client_order_id=o["client_order_id"], symbol=o["symbol"],
                                  previous_status=o["status"]) for o in orders]
            stray_entries = [dict(order_id=None, client_order_id=o.get("clientOrderId"), symbol=o.get("symbol"),
                                  previous_status="OPEN_AT_EXCHANGE") for o in strays]
            self.result["entries"] = known_entries + stray_entries
            planned = self.result["entries"]
            self.finish(planned, dict((i["client_order_id"], i["previous_status"]) for i in planned),
                        dict((i["client_order_id"], "CANCELLED") for i in planned))
            self.audit = gm.connected_audit(db, "No order was cancelled")
            done = self.cancel_all(db, exchange, orders, strays)
            self.result["entries"] = done
            if done:
                self.write_action(dict(orders=[dict(client_order_id=d["client_order_id"], status=d["previous_status"])
                                               for d in done]),
                                  dict(orders=[dict(client_order_id=d["client_order_id"], status="CANCELLED") for d in done]),
                                  dict(reason=self.params["reason"]))
            else:
                self.result["changed"] = False
            if self.result["failed"] and self.result["failed"][-1].get("fatal"):
                first = self.result["failed"][-1]
                gm.fail("%d of %d pending orders were cancelled, then %s: %s" % (
                    len(done), len(planned), first["client_order_id"], clause(first["error"])), **self.result)
        finally:
            db.close()
        self.module.exit_json(**self.result)

    def cancel_all(self, db, exchange, orders, strays):
        done = []
        last_error = "cancelled by runbook: %s (run %s)" % (self.params["reason"], self.gm.run_id)
        for order in orders:
            entry = dict(order_id=order["order_id"], client_order_id=order["client_order_id"], symbol=order["symbol"],
                         previous_status=order["status"])
            try:
                outcome, filled = cancel_at_exchange(exchange, order["symbol"], order["client_order_id"])
            except ExchangeError as exc:
                self.result["failed"].append(dict(entry, error=exc.message, fatal=True))
                break
            if filled:
                self.result["failed"].append(dict(entry, error=FILLED_REASON % filled))
                continue
            try:
                with db.transaction("cancelling order %s" % order["order_id"]) as cur:
                    cur.execute(CANCEL_ORDER_SQL, (last_error, order["order_id"], order["status"]))
                    if cur.rowcount != 1:
                        raise _Moved()
                    self.audit.event(cur, "ORDER_CANCELLED", "order:%s" % order["order_id"], dict(
                        order_id=order["order_id"], client_order_id=order["client_order_id"], symbol=order["symbol"],
                        previous_status=order["status"], reason=last_error, exchange_result=outcome,
                        cancelled_by="runbook", run_id=self.gm.run_id, actor=self.gm.actor))
            except _Moved:
                self.audit.discard()
                self.result["failed"].append(dict(entry, error="its status changed while it was being cancelled"))
                continue
            except (GenesisDbError, AuditError) as exc:
                self.audit.discard()
                self.result["failed"].append(dict(entry, error="cancelled at the exchange but not in the database: %s"
                                                  % clause(exc.message), fatal=True))
                break
            self.audit.committed()
            done.append(dict(entry, exchange_result=outcome))
        else:
            for stray in strays:
                entry = dict(order_id=None, client_order_id=stray.get("clientOrderId"), symbol=stray.get("symbol"),
                             previous_status="OPEN_AT_EXCHANGE")
                try:
                    outcome, filled = cancel_at_exchange(exchange, stray.get("symbol"), stray.get("clientOrderId"))
                except ExchangeError as exc:
                    self.result["failed"].append(dict(entry, error=exc.message, fatal=True))
                    break
                if filled:
                    self.result["failed"].append(dict(entry, error=FILLED_REASON % filled))
                    continue
                done.append(dict(entry, exchange_result=outcome))
        return done

    def run(self):
        getattr(self, self.params["state"])()


class _Moved(Exception):
    pass


def main():
    argument_spec = genesis_common_argument_spec()
    argument_spec.update(
        state=dict(type="str", required=True, choices=sorted(STEPS)),
        confirm=dict(type="str"),
        reason=dict(type="str", default="emergency market conditions"),
        max_slippage_percent=dict(type="float"),
        max_orders=dict(type="int", default=500),
        require_exchange_trading=dict(type="bool", default=True),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    gm = GenesisModule(module, "genesis_emergency")
    params = module.params
    if not (params["reason"] or "").strip():
        gm.fail("reason is empty: say why the node is taken out of the market.")
    if params["max_slippage_percent"] is not None and params["max_slippage_percent"] < 0:
        gm.fail("max_slippage_percent must be 0 or more, got %s." % params["max_slippage_percent"])
    if not 1 <= params["max_orders"] <= 1000:
        gm.fail("max_orders must be between 1 and 1000, got %s." % params["max_orders"])
    gm.require("api_key", "take the node out of the market")
    Emergency(module, gm).run()


if __name__ == "__main__":
    main()
