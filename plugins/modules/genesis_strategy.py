#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: genesis_strategy
short_description: Disable, reset or enable one genesis strategy (runbook scenario 15)
version_added: 0.1.0
description:
  - Drives one strategy through the control API C(POST /admin/strategies/<name>/disable|reset|enable).
  - C(disabled) stops it (state C(STOPPED)); C(reset) clears its error state and counters and restores its default
    parameters; C(enabled) starts it again, in safe mode by default (half order size, no new symbols).
  - Reads C(GET /admin/strategies) first and does nothing when the strategy is already as asked; the node's own
    C(changed) answer is the final word.
  - Writes one C(RUNBOOK_ACTION) event per change (steps C(disable_strategy), C(reset_strategy), C(enable_strategy)),
    so O(db_dsn) is needed when something is to change.
author:
  - genesis.runbook maintainers (@genesis-runbook)
extends_documentation_fragment:
  - genesis.runbook.connection
attributes:
  check_mode:
    description: Reports whether the strategy would change; nothing is posted or written.
    support: full
  diff_mode:
    description: Shows the strategy's state, enabled and safe_mode flags before and after.
    support: full
options:
  name:
    description:
      - The strategy, for example C(momentum).
    type: str
    required: true
  state:
    description:
      - C(disabled) stops the strategy, C(reset) clears its errors and parameters, C(enabled) runs it again.
    type: str
    choices: [disabled, reset, enabled]
    required: true
  safe_mode:
    description:
      - With O(state=enabled), run the strategy in safe mode.
    type: bool
    default: true
requirements:
  - psycopg2 (psycopg2-binary) on the node, to write the audit events
'''

EXAMPLES = r'''
- name: Take the failing strategy out of trading
  genesis.runbook.genesis_strategy:
    name: momentum
    state: disabled
    scenario: "15"

- name: Clear its error state and parameters
  genesis.runbook.genesis_strategy:
    name: momentum
    state: reset

- name: Let it trade again, in safe mode
  genesis.runbook.genesis_strategy:
    name: momentum
    state: enabled
    safe_mode: true
'''

RETURN = r'''
name:
  description: The strategy.
  returned: always
  type: str
  sample: momentum
before:
  description: The strategy's state and flags before.
  returned: always
  type: dict
  sample: {state: ERROR, enabled: true, safe_mode: false}
after:
  description: The strategy's state and flags after (in check mode, as expected).
  returned: always
  type: dict
  sample: {state: STOPPED, enabled: false, safe_mode: false}
changed_at:
  description: The node's time of the change (ISO 8601 UTC); null when nothing changed.
  returned: always
  type: str
  sample: "2026-11-27T18:40:03.120Z"
audit_events:
  description: The RUNBOOK_ACTION event written; empty in check mode or when nothing changed.
  returned: always
  type: list
  elements: dict
  sample: [{event_id: 4716, event_type: RUNBOOK_ACTION, aggregate_id: "runbook:node1", sequence_number: 7}]
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.genesis.runbook.plugins.module_utils._common import (
    GenesisModule, clause, genesis_common_argument_spec, iso, utc_now,
)
from ansible_collections.genesis.runbook.plugins.module_utils.api import GenesisApiError
from ansible_collections.genesis.runbook.plugins.module_utils.audit import AuditError, short_event
from ansible_collections.genesis.runbook.plugins.module_utils.db import GenesisDbError
from ansible_collections.genesis.runbook.plugins.module_utils import strategy

ACTIONS = {"disabled": ("disable", "disable_strategy"), "reset": ("reset", "reset_strategy"),
           "enabled": ("enable", "enable_strategy")}


def expected(before, state, safe_mode):
    after = dict(before)
    if state == "disabled":
        after.update(state="STOPPED", enabled=False)
    elif state == "enabled":
        after.update(state="RUNNING", enabled=True, safe_mode=bool(safe_mode))
    elif before["state"] in ("ERROR", "RECOVERING"):
        after.update(state="IDLE")
    return after


def main():
    argument_spec = genesis_common_argument_spec()
    argument_spec.update(
        name=dict(type="str", required=True),
        state=dict(type="str", choices=list(ACTIONS), required=True),
        safe_mode=dict(type="bool", default=True),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    gm = GenesisModule(module, "genesis_strategy")
    params = module.params
    name = (params["name"] or "").strip()
    if not name:
        gm.fail("name is empty: name the strategy to change, for example momentum.")
    gm.require("api_key", "change the strategy")
    action, step = ACTIONS[params["state"]]
    safe_mode = params["safe_mode"] if params["state"] == "enabled" else None

    api = gm.api()
    try:
        views = strategy.read_strategies(api)
    except GenesisApiError as exc:
        gm.fail(exc.message)
    except ValueError as exc:
        gm.fail("Control API %s/admin/strategies %s." % (api.endpoint, exc))
    if name not in views:
        gm.fail("name %s is not a strategy of this node: it has %s." % (name, ", ".join(sorted(views)) or "none"))

    view = views[name]
    before = strategy.flags(view)
    changed = strategy.would_change(view, action, safe_mode)
    after = expected(before, params["state"], safe_mode) if changed else dict(before)
    result = dict(changed=changed, name=name, before=before, after=after, changed_at=None, audit_events=[])
    if changed and module._diff:
        result["diff"] = dict(before=before, after=after)
    if not changed or module.check_mode:
        module.exit_json(**result)

    db = gm.db("write the audit event of the strategy change")
    try:
        audit = gm.connected_audit(db, "Strategy %s was not changed" % name)
        body = dict(safe_mode=bool(safe_mode)) if action == "enable" else {}
        try:
            answer = api.post("/admin/strategies/%s/%s" % (api.quote(name), action), body=body, idempotent=True).data
        except GenesisApiError as exc:
            result["changed"] = False
            gm.fail("Strategy %s was not %s: %s" % (name, params["state"], clause(exc.message)), **result)
        answer = answer if isinstance(answer, dict) else {}
        applied = bool(answer.get("changed", True))
        before = answer.get("before") or before
        after = answer.get("after") or after
        result.update(changed=applied, before=before, after=after)
        if module._diff:
            result["diff"] = dict(before=before, after=after)
        if applied:
            result["changed_at"] = iso(utc_now())
            try:
                audit.write_runbook_action(step, before=dict(strategy=name, **before), after=dict(strategy=name, **after))
            except (GenesisDbError, AuditError) as exc:
                gm.fail("Strategy %s was %s but its audit event was not written: %s" % (name, params["state"], clause(exc.message)),
                        **result)
            result["audit_events"] = [short_event(e) for e in audit.written]
        module.exit_json(**result)
    finally:
        db.close()


if __name__ == "__main__":
    main()
