#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: genesis_audit_event
short_description: Write one RUNBOOK_ACTION event into a genesis node's audit trail
version_added: 0.1.0
description:
  - Inserts one C(events) row C(event_type='RUNBOOK_ACTION') on aggregate C(runbook:<node_name>) with the next sequence
    number of that aggregate (taken inside the transaction, retried on a concurrent unique violation) and
    C(event_data={scenario, step, before, after, run_id, actor, details}), then appends it to
    C(<genesis_home>/.genesis/logs/audit.log) when that file is writable.
  - Use it to record changes made by other modules, for example a restart through M(community.general.supervisorctl).
  - The event is appended every time unless O(unique=true), which writes it only once per O(run_id) and O(step).
author:
  - genesis.runbook maintainers (@genesis-runbook)
extends_documentation_fragment:
  - genesis.runbook.connection
attributes:
  check_mode:
    description: Reports the intended write (C(changed=true) and the event data) without writing anything.
    support: full
  diff_mode:
    description: Shows the event that is (or would be) written.
    support: full
options:
  step:
    description:
      - The runbook step the event records, for example C(restart_market_data).
    type: str
    required: true
  before:
    description:
      - The state before the step (any JSON value).
    type: raw
  after:
    description:
      - The state after the step (any JSON value).
    type: raw
  details:
    description:
      - Extra data stored as C(event_data.details).
    type: dict
  unique:
    description:
      - Write the event only if this run (O(run_id)) has not written one for O(step) on this node yet;
        with O(unique=true) a repeated call reports C(changed=false).
    type: bool
    default: false
requirements:
  - psycopg2 (psycopg2-binary) on the node
'''

EXAMPLES = r'''
- name: Restart market_data through supervisor
  community.general.supervisorctl:
    name: "genesis:market_data"
    state: restarted
  register: restart

- name: Record the restart in the audit trail
  genesis.runbook.genesis_audit_event:
    scenario: "13"
    step: restart_market_data
    before: {program: "genesis:market_data", state: RUNNING}
    after: {program: "genesis:market_data", state: RUNNING, restarted: true}
    unique: true
  when: restart is changed
'''

RETURN = r'''
event:
  description: The event written; in check mode the event that would be written (no id, no sequence number).
  returned: always
  type: dict
  sample:
    event_id: 4715
    event_type: RUNBOOK_ACTION
    aggregate_id: runbook:node1
    sequence_number: 6
    created_at: "2026-11-27T18:40:01.123Z"
    event_data: {scenario: "13", step: restart_market_data, before: {state: RUNNING}, after: {restarted: true},
                 run_id: 20261127T184001Z, actor: "genesis-ops via genesis.runbook.genesis_audit_event"}
'''

import json

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.genesis.runbook.plugins.module_utils._common import GenesisModule, genesis_common_argument_spec
from ansible_collections.genesis.runbook.plugins.module_utils.audit import RUNBOOK_ACTION, AuditError
from ansible_collections.genesis.runbook.plugins.module_utils.db import GenesisDbError


def main():
    argument_spec = genesis_common_argument_spec()
    argument_spec.update(
        step=dict(type="str", required=True),
        before=dict(type="raw"),
        after=dict(type="raw"),
        details=dict(type="dict"),
        unique=dict(type="bool", default=False),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    gm = GenesisModule(module, "genesis_audit_event")
    params = module.params
    step = (params["step"] or "").strip()
    if not step:
        gm.fail("step is empty: name the runbook step the event records.")
    for option in ("before", "after", "details"):
        try:
            json.dumps(params[option])
        except (TypeError, ValueError):
            gm.fail("%s must be JSON-serializable data." % option)

    db = gm.db("write the audit event")
    try:
        audit = gm.audit(db)
        planned = dict(event_id=None, event_type=RUNBOOK_ACTION, aggregate_id=audit.aggregate, sequence_number=None,
                       created_at=None, event_data=audit.runbook_action_data(step, params["before"], params["after"],
                                                                             params["details"]))
        try:
            if params["unique"] and audit.already_written(step):
                module.exit_json(changed=False, event=planned)
            if module.check_mode:
                db.connect()
                result = dict(changed=True, event=planned)
            else:
                event = audit.write_runbook_action(step, params["before"], params["after"], params["details"])
                result = dict(changed=True, event=event)
        except (GenesisDbError, AuditError) as exc:
            gm.fail(exc.message)
        if module._diff:
            result["diff"] = dict(before="", after=json.dumps(result["event"], indent=2, sort_keys=True) + "\n")
        module.exit_json(**result)
    finally:
        db.close()


if __name__ == "__main__":
    main()
