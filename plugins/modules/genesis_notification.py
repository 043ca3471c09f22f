#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: genesis_notification
short_description: Record an operator or trader notification on a genesis node (the runbook's escalation hook)
version_added: 0.1.0
description:
  - Records a notification with C(POST /admin/notifications) (table C(notifications)); the node's alerting
    delivers it and the trader acknowledges it there (C(acknowledged_at)).
  - Idempotent within O(dedupe_minutes) - when an unacknowledged notification of the same O(kind) was recorded
    in that window, nothing new is recorded and that one is returned.
  - Writes one C(RUNBOOK_ACTION) audit event, step O(step), for each notification it records.
  - Nothing is recorded when the audit trail cannot be written.
author:
  - genesis.runbook maintainers (@genesis-runbook)
extends_documentation_fragment:
  - genesis.runbook.connection
attributes:
  check_mode:
    description: Reports whether a notification would be recorded; nothing is posted or written.
    support: full
  diff_mode:
    description: Shows the notification that would be recorded.
    support: full
options:
  kind:
    description:
      - What the notification is about, for example C(tilt_intervention).
    type: str
    required: true
  text:
    description:
      - The message the trader or operator receives.
    type: str
    required: true
  severity:
    description:
      - Severity on the runbook's escalation matrix.
    type: str
    choices: [LOW, MEDIUM, HIGH, CRITICAL]
    default: HIGH
  dedupe_minutes:
    description:
      - Window in minutes in which an unacknowledged notification of the same O(kind) counts as already sent
        (0 to 10080; C(0) always records a new one).
    type: int
    default: 60
  step:
    description:
      - Step name of the audit event.
    type: str
    default: notify_operator
requirements:
  - psycopg2 (psycopg2-binary) on the node, for the audit event
'''

EXAMPLES = r'''
- name: Tell the trader about the tilt intervention
  genesis.runbook.genesis_notification:
    kind: tilt_intervention
    severity: HIGH
    text: "Tilt score 85 (LEVEL3): 30 minutes of cooling, position limits halved."
    step: notify_trader
'''

RETURN = r'''
notification:
  description: The notification recorded, or the earlier one that made this call a no-op (in check mode, the planned one).
  returned: always
  type: dict
  sample: {notification_id: 7, kind: tilt_intervention, severity: HIGH, message: "Tilt score 85...",
           created_at: "2026-11-27T18:41:00.000Z", acknowledged_at: null}
created:
  description: Whether a new notification was recorded (would be, in check mode).
  returned: always
  type: bool
  sample: true
audit_events:
  description: The RUNBOOK_ACTION event written; empty in check mode or when nothing was recorded.
  returned: always
  type: list
  elements: dict
  sample: [{event_id: 4713, event_type: RUNBOOK_ACTION, aggregate_id: "runbook:node1", sequence_number: 4}]
'''


import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.genesis.runbook.plugins.module_utils._common import (
    GenesisModule, clause, genesis_common_argument_spec, parse_iso,
)
from ansible_collections.genesis.runbook.plugins.module_utils.api import GenesisApiError
from ansible_collections.genesis.runbook.plugins.module_utils.audit import AuditError
from ansible_collections.genesis.runbook.plugins.module_utils.db import GenesisDbError
from ansible_collections.genesis.runbook.plugins.module_utils.audit import short_event


def pending_duplicate(answer, kind, window_minutes, now):
    """The newest unacknowledged notification of `kind` recorded within the window, or None."""
    if window_minutes <= 0:
        return None
    best = None
    for item in (answer or {}).get("notifications") or []:
        created = parse_iso(item.get("created_at"))
        if item.get("kind") != kind or item.get("acknowledged_at") or created is None:
            continue
        if now - created <= window_minutes * 60 and (best is None or created > parse_iso(best["created_at"])):
            best = item
    return best


def main():
    argument_spec = genesis_common_argument_spec()
    argument_spec.update(
        kind=dict(type="str", required=True),
        text=dict(type="str", required=True),
        severity=dict(type="str", choices=["LOW", "MEDIUM", "HIGH", "CRITICAL"], default="HIGH"),
        dedupe_minutes=dict(type="int", default=60),
        step=dict(type="str", default="notify_operator"),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    gm = GenesisModule(module, "genesis_notification")
    params = module.params
    for option in ("kind", "text", "step"):
        if not (params[option] or "").strip():
            gm.fail("%s is empty: give the notification's %s." % (option, option))
    if not 0 <= params["dedupe_minutes"] <= 10080:
        gm.fail("dedupe_minutes must be between 0 and 10080, got %s." % params["dedupe_minutes"])
    gm.require("api_key", "record the notification")

    api = gm.api()
    try:
        existing = api.get("/admin/notifications").data
    except GenesisApiError as exc:
        gm.fail(exc.message)
    duplicate = pending_duplicate(existing, params["kind"], params["dedupe_minutes"], time.time())
    planned = dict(notification_id=None, kind=params["kind"], severity=params["severity"], message=params["text"],
                   created_at=None, acknowledged_at=None)
    if duplicate is not None:
        module.exit_json(changed=False, created=False, notification=duplicate, audit_events=[])
    result = dict(changed=True, created=True, notification=planned, audit_events=[])
    if module._diff:
        result["diff"] = dict(before="", after="%s %s: %s\n" % (params["severity"], params["kind"], params["text"]))
    if module.check_mode:
        module.exit_json(**result)

    db = gm.db("write the audit event of the notification")
    try:
        audit = gm.connected_audit(db, "No notification was recorded")
        try:
            answer = api.post("/admin/notifications", dict(kind=params["kind"], message=params["text"],
                                                           severity=params["severity"])).data
        except GenesisApiError as exc:
            gm.fail("No notification was recorded: %s." % clause(exc.message))
        planned["notification_id"] = answer.get("notification_id") if isinstance(answer, dict) else None
        try:
            audit.write_runbook_action(params["step"], before=dict(notified=False),
                                       after=dict(notified=True, notification_id=planned["notification_id"]),
                                       details=dict(kind=params["kind"], severity=params["severity"]))
        except (GenesisDbError, AuditError) as exc:
            gm.fail("Notification %s was recorded but its audit event was not written: %s." % (
                planned["notification_id"], clause(exc.message)), changed=True, notification=planned)
        result["audit_events"] = [short_event(e) for e in audit.written]
        module.exit_json(**result)
    finally:
        db.close()


if __name__ == "__main__":
    main()
