#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: genesis_audit_verification
short_description: Turn a genesis node's audit write verification on or off (runbook scenario 18)
version_added: 0.1.0
description:
  - With verification on, the node reads every audit event back after writing it and logs C(Audit verification failed)
    when the row differs (C(GET) and C(POST /admin/audit/verification), contract section 3.9).
  - Changes the setting only when it differs from O(enabled), then writes one C(RUNBOOK_ACTION) event (step
    C(enable_audit_verification) or C(disable_audit_verification)) on C(runbook:<node_name>). The database connection
    is opened first, so nothing changes without its audit row.
author:
  - genesis.runbook maintainers (@genesis-runbook)
extends_documentation_fragment:
  - genesis.runbook.connection
attributes:
  check_mode:
    description: Reports whether it would change the setting; nothing is sent.
    support: full
  diff_mode:
    description: Shows the setting before and after.
    support: full
options:
  enabled:
    description:
      - Whether audit write verification must be on.
    type: bool
    default: true
requirements:
  - psycopg2 (psycopg2-binary) on the node
'''

EXAMPLES = r'''
- name: Read every audit write back from now on
  genesis.runbook.genesis_audit_verification:
    enabled: true
'''

RETURN = r'''
before:
  description: Whether verification was on before the call.
  returned: always
  type: bool
  sample: false
enabled:
  description: Whether verification is on after the call (in check mode, would be).
  returned: always
  type: bool
  sample: true
event:
  description: The C(RUNBOOK_ACTION) event written; null when nothing changed or in check mode.
  returned: always
  type: dict
  sample: {event_id: 902, event_type: RUNBOOK_ACTION, aggregate_id: "runbook:node1", sequence_number: 2}
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.genesis.runbook.plugins.module_utils._common import (
    GenesisModule, clause, genesis_common_argument_spec,
)
from ansible_collections.genesis.runbook.plugins.module_utils.api import GenesisApiError
from ansible_collections.genesis.runbook.plugins.module_utils.audit import AuditError
from ansible_collections.genesis.runbook.plugins.module_utils.db import GenesisDbError

PATH = "/admin/audit/verification"


def main():
    argument_spec = genesis_common_argument_spec()
    argument_spec.update(enabled=dict(type="bool", default=True))
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    gm = GenesisModule(module, "genesis_audit_verification")
    wanted = module.params["enabled"]
    gm.require("api_key", "read and set audit write verification (%s)" % PATH)
    api = gm.api()
    try:
        before = bool(api.get(PATH).data.get("enabled"))
    except GenesisApiError as exc:
        gm.fail(exc.message)
    result = dict(changed=before != wanted, before=before, enabled=wanted, event=None)
    if module._diff:
        result["diff"] = dict(before=dict(enabled=before), after=dict(enabled=wanted))
    if not result["changed"] or module.check_mode:
        module.exit_json(**result)
    step = "enable_audit_verification" if wanted else "disable_audit_verification"
    db = gm.db("write the audit event of the change")
    try:
        audit = gm.connected_audit(db, "Changing audit write verification on %s was refused" % gm.node)
        try:
            answer = api.post(PATH, dict(enabled=wanted), idempotent=True).data
        except GenesisApiError as exc:
            gm.fail(exc.message)
        result["changed"] = bool(answer.get("changed", True))
        result["enabled"] = bool(answer.get("enabled", wanted))
        if result["changed"]:
            try:
                event = audit.write_runbook_action(step, dict(enabled=before), dict(enabled=result["enabled"]))
            except (GenesisDbError, AuditError) as exc:
                gm.fail("Audit write verification on %s changed to %s but its audit event was not written: %s."
                        % (gm.node, result["enabled"], clause(exc.message)), **result)
            result["event"] = dict((k, event[k]) for k in ("event_id", "event_type", "aggregate_id", "sequence_number"))
        module.exit_json(**result)
    finally:
        db.close()


if __name__ == "__main__":
    main()
