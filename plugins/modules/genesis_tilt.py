#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: genesis_tilt
short_description: Put a tilted genesis account into a cooling period and reduce its position limits (runbook scenario 6)
version_added: 0.1.0
description:
  - With O(cooldown_minutes), makes sure a tilt cooldown runs for at least that long
    (C(POST /admin/tilt/cooldown)); the strategies pause until C(lockout_expiration) and the tilt score decays.
    A cooldown that already ends at most one minute before the requested end is left alone.
  - With O(limits_factor), makes sure position limits are at most C(max_position_size * limits_factor)
    (C(POST /admin/limits)). It only ever lowers the factor; a factor already at or below O(limits_factor) is left alone.
  - Each change writes one C(RUNBOOK_ACTION) audit event, step C(apply_cooling_period) or C(reduce_position_limits).
  - Nothing is changed when the audit trail cannot be written.
author:
  - genesis.runbook maintainers (@genesis-runbook)
extends_documentation_fragment:
  - genesis.runbook.connection
attributes:
  check_mode:
    description: Reports what would change from the current tilt status and limits; nothing is posted or written.
    support: full
  diff_mode:
    description: Shows the cooldown end and the limits factor before and after.
    support: full
options:
  cooldown_minutes:
    description:
      - Length of the cooling period in minutes (1 to 1440).
    type: int
  limits_factor:
    description:
      - Position limits factor to apply, C(0 < limits_factor <= 1).
    type: float
  reason:
    description:
      - Why, written into the audit events.
    type: str
    default: tilt intervention
notes:
  - At least one of O(cooldown_minutes) and O(limits_factor) is required.
requirements:
  - psycopg2 (psycopg2-binary) on the node, for the audit events
'''

EXAMPLES = r'''
- name: Thirty minutes of cooling and half the position limits
  genesis.runbook.genesis_tilt:
    cooldown_minutes: 30
    limits_factor: 0.5
    scenario: "6"
  register: intervention
'''

RETURN = r'''
cooldown:
  description: The cooldown end before and after (null when O(cooldown_minutes) is not set).
  returned: always
  type: dict
  sample: {changed: true, minutes: 30, before: null, after: "2026-11-27T19:10:01.123Z"}
limits:
  description: The limits factor before and after (null when O(limits_factor) is not set).
  returned: always
  type: dict
  sample: {changed: true, before: 1.0, after: 0.5}
status:
  description: The tilt status after the change (C(GET /tilt/status)); in check mode, the current one.
  returned: always
  type: dict
  sample: {score: 85.0, level: LEVEL3, cooldown_active: true, last_intervention_at: "2026-11-27T18:40:01.123Z"}
audit_events:
  description: The RUNBOOK_ACTION events written; empty in check mode.
  returned: always
  type: list
  elements: dict
  sample: [{event_id: 4712, event_type: RUNBOOK_ACTION, aggregate_id: "runbook:node1", sequence_number: 3}]
'''


import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.genesis.runbook.plugins.module_utils._common import (
    GenesisModule, clause, genesis_common_argument_spec, iso, parse_iso,
)
from ansible_collections.genesis.runbook.plugins.module_utils.api import GenesisApiError
from ansible_collections.genesis.runbook.plugins.module_utils.audit import AuditError, short_event
from ansible_collections.genesis.runbook.plugins.module_utils.db import GenesisDbError
from ansible_collections.genesis.runbook.plugins.module_utils.trading import number

# The control API leaves a cooldown alone when it already ends within a minute of the requested end.
COOLDOWN_SLACK_S = 60
FACTOR_EPSILON = 1e-9


def main():
    argument_spec = genesis_common_argument_spec()
    argument_spec.update(
        cooldown_minutes=dict(type="int"),
        limits_factor=dict(type="float"),
        reason=dict(type="str", default="tilt intervention"),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           required_one_of=[("cooldown_minutes", "limits_factor")])
    gm = GenesisModule(module, "genesis_tilt")
    params = module.params
    minutes = params["cooldown_minutes"]
    factor = params["limits_factor"]
    if minutes is not None and not 1 <= minutes <= 1440:
        gm.fail("cooldown_minutes must be between 1 and 1440, got %s." % minutes)
    if factor is not None and not 0 < factor <= 1:
        gm.fail("limits_factor must be greater than 0 and at most 1, got %s." % factor)
    gm.require("api_key", "read and change the tilt cooldown and position limits")

    api = gm.api()
    try:
        status = api.get("/tilt/status").data
        tier = api.get("/config/tier").data if factor is not None else {}
    except GenesisApiError as exc:
        gm.fail(exc.message)

    result = dict(changed=False, cooldown=None, limits=None, status=status, audit_events=[])
    if minutes is not None:
        current = (status or {}).get("lockout_expiration")
        current_ts = parse_iso(current)
        requested_ts = time.time() + minutes * 60
        needed = current_ts is None or current_ts < requested_ts - COOLDOWN_SLACK_S
        result["cooldown"] = dict(changed=needed, minutes=minutes, before=current,
                                  after=iso(requested_ts) if needed else current)
    if factor is not None:
        current_factor = number((tier or {}).get("limits_factor"), 1.0)
        needed = current_factor > factor + FACTOR_EPSILON
        result["limits"] = dict(changed=needed, before=current_factor, after=factor if needed else current_factor)
    planned = [k for k in ("cooldown", "limits") if result[k] and result[k]["changed"]]
    result["changed"] = bool(planned)
    if planned and module._diff:
        result["diff"] = dict(before=dict((k, result[k]["before"]) for k in planned),
                              after=dict((k, result[k]["after"]) for k in planned))
    if not planned or module.check_mode:
        module.exit_json(**result)

    db = gm.db("write the audit events of the tilt intervention")
    try:
        audit = gm.connected_audit(db, "Neither the cooldown nor the position limits were changed")
        done = []
        for key in planned:
            try:
                if key == "cooldown":
                    answer = api.post("/admin/tilt/cooldown", dict(minutes=minutes), idempotent=True).data
                    applied = bool(answer.get("changed", True))
                    result["cooldown"].update(changed=applied, after=answer.get("lockout_expiration"))
                    step, before, after = ("apply_cooling_period", dict(lockout_expiration=result["cooldown"]["before"]),
                                           dict(lockout_expiration=result["cooldown"]["after"], minutes=minutes))
                else:
                    answer = api.post("/admin/limits", dict(factor=factor), idempotent=True).data
                    applied = bool(answer.get("changed", True))
                    result["limits"].update(changed=applied, before=number(answer.get("before"), result["limits"]["before"]),
                                            after=number(answer.get("factor"), factor))
                    step, before, after = ("reduce_position_limits", dict(limits_factor=result["limits"]["before"]),
                                           dict(limits_factor=result["limits"]["after"]))
            except (GenesisApiError, AttributeError) as exc:
                result["changed"] = bool(done)
                result["audit_events"] = [short_event(e) for e in audit.written]
                message = exc.message if isinstance(exc, GenesisApiError) else "the answer was not a JSON object"
                gm.fail("The %s was not changed (%d change(s) made before): %s." % (
                    "cooldown" if key == "cooldown" else "position limits factor", len(done), clause(message)), **result)
            if not applied:
                continue
            done.append(key)
            try:
                audit.write_runbook_action(step, before, after, details=dict(reason=params["reason"]))
            except (GenesisDbError, AuditError) as exc:
                result["changed"] = True
                result["audit_events"] = [short_event(e) for e in audit.written]
                gm.fail("Step %s was applied but its audit event was not written: %s." % (step, clause(exc.message)),
                        **result)
        try:
            result["status"] = api.get("/tilt/status").data
        except GenesisApiError as exc:
            module.warn("The tilt status could not be read after the change: %s" % exc.message)
        result["changed"] = bool(done)
        result["audit_events"] = [short_event(e) for e in audit.written]
        module.exit_json(**result)
    finally:
        db.close()


if __name__ == "__main__":
    main()
