#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: genesis_market_data
short_description: Restore a genesis node's market-data feed (runbook scenario 3)
version_added: 0.1.0
description:
  - O(clear_stale_keys=true) deletes the market-data keys C(market:ticker:<SYMBOL>) and C(orderbook:<SYMBOL>) whose
    C(ts) is older than O(max_age) seconds, so nothing trades on a stale price. Each delete is one atomic
    check-and-delete (a key refreshed meanwhile is kept); no other key is ever touched and the database is never
    flushed. A key without a readable C(ts) is reported in C(unreadable_keys) and left alone.
  - O(restart_streams=true) asks market_data to reconnect every stream (C(POST /admin/websocket/restart)), only when a
    stream is not connected or silent for more than O(max_age) seconds, or always with O(force=true).
  - O(mode) sets the feed mode (C(POST /admin/market-data/mode)); C(rest) is the REST fallback, in which genesis
    reports itself degraded.
  - When several are given they run in that order. Each change writes one C(RUNBOOK_ACTION) audit event, with the
    steps C(clear_stale_market_data), C(restart_websocket), C(switch_to_rest) or C(switch_to_websocket), so O(db_dsn)
    is needed when something is to change. Nothing changes when the audit trail cannot be written.
author:
  - genesis.runbook maintainers (@genesis-runbook)
extends_documentation_fragment:
  - genesis.runbook.connection
attributes:
  check_mode:
    description: Reports which keys would be deleted, whether the streams would be restarted and the mode switched;
      nothing is posted, deleted or written.
    support: full
  diff_mode:
    description: Shows the stale keys, the stream states and the mode before and after.
    support: full
options:
  clear_stale_keys:
    description:
      - Delete the market-data keys older than O(max_age) seconds.
    type: bool
    default: false
  restart_streams:
    description:
      - Reconnect every websocket stream when one is not connected or is silent.
    type: bool
    default: false
  force:
    description:
      - With O(restart_streams=true), restart the streams even when they all look healthy.
    type: bool
    default: false
  mode:
    description:
      - The feed mode to set, C(websocket) or the C(rest) fallback.
    type: str
    choices: [websocket, rest]
  symbols:
    description:
      - Symbols whose keys O(clear_stale_keys) considers; by default every C(market:ticker:*) and C(orderbook:*) key (SCAN).
    type: list
    elements: str
  max_age:
    description:
      - Seconds after which a key is stale and a connected stream is silent.
    type: float
    default: 10
  fresh_age:
    description:
      - Not used by the actions; accepted so that the options of M(genesis.runbook.genesis_market_data_info) can be shared.
    type: float
    default: 2
requirements:
  - redis (redis-py) on the node for O(clear_stale_keys), psycopg2 (psycopg2-binary) to write the audit events
'''

EXAMPLES = r'''
- name: Drop stale prices and order books (never FLUSHDB)
  genesis.runbook.genesis_market_data:
    clear_stale_keys: true
    symbols: [BTCUSDT, ETHUSDT, SOLUSDT]
    scenario: "3"

- name: Reconnect the websocket streams
  genesis.runbook.genesis_market_data:
    restart_streams: true
    scenario: "3"

- name: Fall back to REST polling
  genesis.runbook.genesis_market_data:
    mode: rest
    scenario: "3"
'''

RETURN = r'''
steps:
  description: The steps that changed something (in check mode, that would), in order.
  returned: always
  type: list
  elements: str
  sample: [clear_stale_market_data, restart_websocket]
cleared_keys:
  description: The stale keys deleted (in check mode, that would be) with their age in seconds.
  returned: always
  type: dict
  sample: {"market:ticker:BTCUSDT": 14.2, "orderbook:BTCUSDT": 14.2}
kept_keys:
  description: Stale keys that were refreshed before the delete and therefore kept.
  returned: always
  type: list
  elements: str
  sample: []
unreadable_keys:
  description: Market-data keys without a readable C(ts), left alone.
  returned: always
  type: list
  elements: str
  sample: []
restarted:
  description: Whether the stream restart was requested (in check mode, would be).
  returned: always
  type: bool
  sample: true
connections:
  description: The stream states seen before the restart, when O(restart_streams=true).
  returned: always
  type: dict
  sample: {execution: disconnected, monitoring: disconnected, backup: disconnected}
mode:
  description: The feed mode before and after, when O(mode) is set.
  returned: always
  type: dict
  sample: {before: websocket, after: rest}
audit_events:
  description: The RUNBOOK_ACTION events written, one per changed step; empty in check mode.
  returned: always
  type: list
  elements: dict
  sample: [{event_id: 4716, event_type: RUNBOOK_ACTION, aggregate_id: "runbook:node1", sequence_number: 7}]
'''

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.genesis.runbook.plugins.module_utils._common import (
    GenesisModule, clause, genesis_common_argument_spec,
)
from ansible_collections.genesis.runbook.plugins.module_utils.api import GenesisApiError
from ansible_collections.genesis.runbook.plugins.module_utils.audit import AuditError, short_event
from ansible_collections.genesis.runbook.plugins.module_utils.cache import GenesisCacheError
from ansible_collections.genesis.runbook.plugins.module_utils.db import GenesisDbError
from ansible_collections.genesis.runbook.plugins.module_utils import market_data


class Run(object):
    """One invocation: the plan, then the changes with their audit events."""

    def __init__(self, module, gm, symbols):
        self.module = module
        self.gm = gm
        self.params = module.params
        self.symbols = symbols
        self.api = None
        self.cache = None
        self.db = None
        self.audit = None
        self.result = dict(changed=False, steps=[], cleared_keys={}, kept_keys=[], unreadable_keys=[], restarted=False,
                           connections={}, mode={}, audit_events=[])
        self.diff_before = {}
        self.diff_after = {}

    # -- planning (read-only) --------------------------------------------------
    def plan(self):
        params = self.params
        planned = []
        try:
            if params["clear_stale_keys"]:
                self.cache = self.gm.cache("find and delete stale market-data keys")
                stale, unreadable = market_data.stale_keys(self.cache, self.symbols, params["max_age"])
                self.result.update(cleared_keys=stale, unreadable_keys=unreadable)
                if stale:
                    planned.append("clear_stale_market_data")
                    self.diff_before["stale_keys"] = sorted(stale)
                    self.diff_after["stale_keys"] = []
            if params["restart_streams"] or params["mode"]:
                self.gm.require("api_key", "read and change the market-data feed")
                self.api = self.gm.api()
                feed = market_data.read_feed(self.api)
            if params["restart_streams"]:
                state = market_data.evaluate(feed, None, params["max_age"], params["fresh_age"], time.time())
                self.result["connections"] = dict((n, c["state"]) for n, c in state["connections"].items())
                if params["force"] or not state["websocket_healthy"]:
                    planned.append("restart_websocket")
                    self.result["restarted"] = True
                    self.diff_before["connections"] = self.result["connections"]
                    self.diff_after["connections"] = dict((n, "reconnecting") for n in state["connections"])
            if params["mode"]:
                before = feed.get("mode") if feed.get("mode") in market_data.MODES else "websocket"
                self.result["mode"] = dict(before=before, after=params["mode"])
                if before != params["mode"]:
                    planned.append("switch_to_%s" % params["mode"])
                    self.diff_before["mode"] = before
                    self.diff_after["mode"] = params["mode"]
        except (GenesisCacheError, GenesisApiError) as exc:
            self.gm.fail(exc.message)
        return planned

    # -- acting ----------------------------------------------------------------
    def record(self, step, before, after, details=None):
        try:
            self.audit.write_runbook_action(step, before=before, after=after, details=details)
        except (GenesisDbError, AuditError) as exc:
            self.finish_result()
            self.gm.fail("Step %s changed the node but its audit event was not written: %s" % (step, clause(exc.message)),
                         **self.result)
        self.result["steps"].append(step)
        self.result["changed"] = True

    def fail_step(self, step, exc):
        self.finish_result()
        done = ", ".join(self.result["steps"]) or "nothing"
        self.gm.fail("Step %s failed (done before it: %s): %s" % (step, done, clause(exc.message)), **self.result)

    def clear(self):
        cutoff = time.time() - self.params["max_age"]
        stale = self.result["cleared_keys"]
        deleted, kept = {}, []
        for key in sorted(stale):
            try:
                if market_data.delete_if_older(self.cache, key, cutoff):
                    deleted[key] = stale[key]
                else:
                    kept.append(key)
            except GenesisCacheError as exc:
                self.result.update(cleared_keys=deleted, kept_keys=kept)
                if deleted:
                    self.record("clear_stale_market_data", before=dict(stale_keys=sorted(stale)),
                                after=dict(deleted=sorted(deleted)), details=dict(max_age=self.params["max_age"]))
                self.fail_step("clear_stale_market_data", exc)
        self.result.update(cleared_keys=deleted, kept_keys=kept)
        if deleted:
            self.record("clear_stale_market_data", before=dict(stale_keys=sorted(stale)), after=dict(deleted=sorted(deleted)),
                        details=dict(max_age=self.params["max_age"], ages_s=deleted, kept=kept))

    def restart(self):
        try:
            answer = self.api.post(market_data.RESTART_PATH).data
        except GenesisApiError as exc:
            self.result["restarted"] = False
            self.fail_step("restart_websocket", exc)
        requested_at = answer.get("requested_at") if isinstance(answer, dict) else None
        self.record("restart_websocket", before=dict(connections=self.result["connections"]),
                    after=dict(requested_at=requested_at), details=dict(forced=self.params["force"]))

    def switch(self):
        wanted = self.params["mode"]
        try:
            answer = self.api.post(market_data.MODE_PATH, body=dict(mode=wanted), idempotent=True).data
        except GenesisApiError as exc:
            self.fail_step("switch_to_%s" % wanted, exc)
        answer = answer if isinstance(answer, dict) else {}
        before = answer.get("before", self.result["mode"]["before"])
        self.result["mode"] = dict(before=before, after=answer.get("mode", wanted))
        if answer.get("changed", True):
            self.record("switch_to_%s" % wanted, before=dict(mode=before), after=dict(mode=self.result["mode"]["after"]))

    def finish_result(self):
        self.result["audit_events"] = [short_event(e) for e in self.audit.written] if self.audit else []

    def apply(self, planned):
        self.db = self.gm.db("write the audit event of each market-data change")
        try:
            self.audit = self.gm.connected_audit(self.db, "The market-data feed was not changed")
            if "clear_stale_market_data" in planned:
                self.clear()
            if "restart_websocket" in planned:
                self.restart()
            if any(step.startswith("switch_to_") for step in planned):
                self.switch()
            self.finish_result()
        finally:
            self.db.close()


def main():
    argument_spec = genesis_common_argument_spec()
    argument_spec.update(market_data.market_data_argument_spec())
    argument_spec.update(
        clear_stale_keys=dict(type="bool", default=False),
        restart_streams=dict(type="bool", default=False),
        force=dict(type="bool", default=False),
        mode=dict(type="str", choices=list(market_data.MODES)),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    gm = GenesisModule(module, "genesis_market_data")
    params = module.params
    symbols = market_data.check_params(gm)
    if not (params["clear_stale_keys"] or params["restart_streams"] or params["mode"]):
        gm.fail("Nothing to do: set clear_stale_keys, restart_streams or mode.")

    run = Run(module, gm, symbols)
    planned = run.plan()
    result = run.result
    if module._diff and planned:
        result["diff"] = dict(before=run.diff_before, after=run.diff_after)
    if not planned or module.check_mode:
        result.update(changed=bool(planned), steps=planned)
        module.exit_json(**result)
    run.apply(planned)
    module.exit_json(**run.result)


if __name__ == "__main__":
    main()
