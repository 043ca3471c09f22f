#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: genesis_rate_limit
short_description: Protect a genesis node from exchange rate limiting (runbook scenario 7)
version_added: 0.1.0
description:
  - O(protection) turns the node's rate-limit protection on or off (C(POST /admin/rate-limits)); with protection on
    the node never sends more than C(limit_per_minute) weight a minute and pauses until the exchange's Retry-After
    has passed.
  - O(limit_per_minute) sets the node's weight budget per minute; with O(lower_only=true) (the default) it is only
    ever lowered, never raised.
  - O(clear_queue=true) drops the queued non-order exchange requests (C(POST /admin/request-queue/clear));
    orders are never in that queue.
  - Protection and limit are posted together, then the queue is cleared. Each change writes one C(RUNBOOK_ACTION)
    audit event, with the steps C(enable_protection) (or C(disable_protection)), C(lower_rate_limit) (or
    C(raise_rate_limit)) and C(clear_request_queue), so O(db_dsn) is needed when something is to change.
    Nothing changes when the audit trail cannot be written.
author:
  - genesis.runbook maintainers (@genesis-runbook)
extends_documentation_fragment:
  - genesis.runbook.connection
attributes:
  check_mode:
    description: Reports what would change from C(GET /admin/rate-limits); nothing is posted or written.
    support: full
  diff_mode:
    description: Shows protection, C(limit_per_minute) and the queue length before and after.
    support: full
options:
  protection:
    description:
      - Whether the node's rate-limit protection is on.
    type: bool
  limit_per_minute:
    description:
      - The node's request weight budget per minute (1 to 1200, the exchange's limit).
    type: int
  lower_only:
    description:
      - Never raise C(limit_per_minute); a node already below O(limit_per_minute) keeps its lower budget.
    type: bool
    default: true
  clear_queue:
    description:
      - Drop the queued non-order exchange requests (market-data refreshes, account polls).
    type: bool
    default: false
'''

EXAMPLES = r'''
- name: Turn rate-limit protection on
  genesis.runbook.genesis_rate_limit:
    protection: true
    scenario: "7"

- name: Hold the node to half the exchange's limit
  genesis.runbook.genesis_rate_limit:
    limit_per_minute: 600
    scenario: "7"

- name: Drop the queued market-data refreshes
  genesis.runbook.genesis_rate_limit:
    clear_queue: true
    scenario: "7"
'''

RETURN = r'''
steps:
  description: The steps that changed something (in check mode, that would), in order.
  returned: always
  type: list
  elements: str
  sample: [enable_protection, lower_rate_limit, clear_request_queue]
before:
  description: Protection, C(limit_per_minute) and C(queue_length) before.
  returned: always
  type: dict
  sample: {protection: false, limit_per_minute: 6000, queue_length: 370}
after:
  description: Protection, C(limit_per_minute) and C(queue_length) after (in check mode, as planned).
  returned: always
  type: dict
  sample: {protection: true, limit_per_minute: 600, queue_length: 0}
cleared:
  description: How many queued requests were dropped (in check mode, are queued now).
  returned: always
  type: int
  sample: 370
audit_events:
  description: The RUNBOOK_ACTION events written, one per changed step; empty in check mode.
  returned: always
  type: list
  elements: dict
  sample: [{event_id: 4717, event_type: RUNBOOK_ACTION, aggregate_id: "runbook:node1", sequence_number: 8}]
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.genesis.runbook.plugins.module_utils._common import (
    GenesisModule, clause, genesis_common_argument_spec,
)
from ansible_collections.genesis.runbook.plugins.module_utils.api import GenesisApiError
from ansible_collections.genesis.runbook.plugins.module_utils.audit import AuditError, short_event
from ansible_collections.genesis.runbook.plugins.module_utils.db import GenesisDbError
from ansible_collections.genesis.runbook.plugins.module_utils import rate_limit


def as_int(value):
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def main():
    argument_spec = genesis_common_argument_spec()
    argument_spec.update(
        protection=dict(type="bool"),
        limit_per_minute=dict(type="int"),
        lower_only=dict(type="bool", default=True),
        clear_queue=dict(type="bool", default=False),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    gm = GenesisModule(module, "genesis_rate_limit")
    params = module.params
    if params["protection"] is None and params["limit_per_minute"] is None and not params["clear_queue"]:
        gm.fail("Nothing to do: set protection, limit_per_minute or clear_queue.")
    limit = params["limit_per_minute"]
    if limit is not None and not 1 <= limit <= rate_limit.EXCHANGE_LIMIT:
        gm.fail("limit_per_minute must be between 1 and %d (the exchange's weight limit), got %s."
                % (rate_limit.EXCHANGE_LIMIT, limit))
    gm.require("api_key", "read and change the rate-limit settings")

    api = gm.api()
    try:
        doc = rate_limit.read_state(api)
    except GenesisApiError as exc:
        gm.fail(exc.message)
    before = dict(protection=doc.get("protection") is True, limit_per_minute=as_int(doc.get("limit_per_minute")),
                  queue_length=as_int(doc.get("queue_length")) or 0)
    after = dict(before)
    planned = []
    body = {}
    if params["protection"] is not None and params["protection"] != before["protection"]:
        body["protection"] = params["protection"]
        after["protection"] = params["protection"]
        planned.append("enable_protection" if params["protection"] else "disable_protection")
    if limit is not None and limit != before["limit_per_minute"]:
        raising = before["limit_per_minute"] is not None and limit > before["limit_per_minute"]
        if not (raising and params["lower_only"]):
            body["limit_per_minute"] = limit
            after["limit_per_minute"] = limit
            planned.append("raise_rate_limit" if raising else "lower_rate_limit")
    if params["clear_queue"] and before["queue_length"] > 0:
        after["queue_length"] = 0
        planned.append("clear_request_queue")

    result = dict(changed=bool(planned), steps=list(planned), before=before, after=after, cleared=0, audit_events=[])
    if params["clear_queue"]:
        result["cleared"] = before["queue_length"]
    if planned and module._diff:
        result["diff"] = dict(before=before, after=after)
    if not planned or module.check_mode:
        module.exit_json(**result)

    result.update(steps=[], changed=False, cleared=0)
    db = gm.db("write the audit event of each rate-limit change")
    try:
        audit = gm.connected_audit(db, "The rate-limit settings were not changed")

        def record(step, step_before, step_after, details=None):
            try:
                audit.write_runbook_action(step, before=step_before, after=step_after, details=details)
            except (GenesisDbError, AuditError) as exc:
                result["audit_events"] = [short_event(e) for e in audit.written]
                gm.fail("Step %s changed the node but its audit event was not written: %s" % (step, clause(exc.message)),
                        **result)
            result["steps"].append(step)
            result["changed"] = True

        def failed(step, exc):
            result["audit_events"] = [short_event(e) for e in audit.written]
            gm.fail("Step %s failed (done before it: %s): %s" % (step, ", ".join(result["steps"]) or "nothing",
                                                                 clause(exc.message)), **result)

        if body:
            first = [s for s in planned if s != "clear_request_queue"][0]
            try:
                answer = api.post(rate_limit.RATE_LIMITS_PATH, body=body, idempotent=True).data
            except GenesisApiError as exc:
                failed(first, exc)
            answer = answer if isinstance(answer, dict) else {}
            posted_before = answer.get("before") if isinstance(answer.get("before"), dict) else {}
            posted_after = answer.get("after") if isinstance(answer.get("after"), dict) else {}
            for key in ("protection", "limit_per_minute"):
                if key in posted_after:
                    after[key] = posted_after[key]
            if answer.get("changed", True):
                for step in planned:
                    if step.endswith("_protection"):
                        record(step, dict(protection=posted_before.get("protection", before["protection"])),
                               dict(protection=after["protection"]))
                    elif step.endswith("_rate_limit"):
                        record(step, dict(limit_per_minute=posted_before.get("limit_per_minute", before["limit_per_minute"])),
                               dict(limit_per_minute=after["limit_per_minute"]), dict(lower_only=params["lower_only"]))
        if "clear_request_queue" in planned:
            try:
                answer = api.post(rate_limit.QUEUE_CLEAR_PATH, idempotent=True).data
            except GenesisApiError as exc:
                failed("clear_request_queue", exc)
            answer = answer if isinstance(answer, dict) else {}
            cleared = as_int(answer.get("cleared")) or 0
            result["cleared"] = cleared
            after["queue_length"] = 0
            if answer.get("changed", cleared > 0):
                record("clear_request_queue", dict(queue_length=before["queue_length"]), dict(queue_length=0, cleared=cleared))
        result["audit_events"] = [short_event(e) for e in audit.written]
        if module._diff:
            result["diff"] = dict(before=before, after=after)
        module.exit_json(**result)
    finally:
        db.close()


if __name__ == "__main__":
    main()
