#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: genesis_cluster
short_description: Fence, unfence or set the role of a genesis cluster member (runbook scenario 11)
version_added: 0.1.0
description:
  - Sets O(fenced) and/or O(role) of this node's cluster membership through C(POST /admin/cluster).
  - A fenced node stops its primary-only strategies, never promotes itself and stays fenced across restarts until it is
    unfenced; fencing is destructive and needs O(confirmation) set to C(HALT TRADING NOW) (contract section 8).
  - Fencing is refused, with one sentence and nothing changed, for the node named in O(elected_primary) (the primary that
    stays) and for the last member not fenced (the node's own view lists no other member that is not fenced).
  - Writes one C(RUNBOOK_ACTION) event (step O(step)) on C(runbook:<node_name>) when something changed. The database
    connection is opened first, so nothing changes without its audit row.
author:
  - genesis.runbook maintainers (@genesis-runbook)
extends_documentation_fragment:
  - genesis.runbook.connection
attributes:
  check_mode:
    description: Reports the change it would make (and the refusals) without calling C(POST /admin/cluster).
    support: full
  diff_mode:
    description: Shows role, term and fenced before and after.
    support: full
options:
  fenced:
    description:
      - C(true) fences the node, C(false) lifts the fence.
    type: bool
  role:
    description:
      - The role to set. C(standby) demotes a primary; C(primary) promotes the node with a new term.
    type: str
    choices: [standby, primary]
  confirmation:
    description:
      - Must be C(HALT TRADING NOW) to fence (O(fenced=true)). Check mode reports the plan without it.
    type: str
  elected_primary:
    description:
      - The node that stays primary. Required to fence; fencing that node is refused.
    type: str
  step:
    description:
      - Step name written into the C(RUNBOOK_ACTION) event; defaults to C(fence_node), C(unfence_node) or C(set_role_<role>).
    type: str
  details:
    description:
      - Extra data stored as C(event_data.details) of the audit event (for example why this node was chosen).
    type: dict
requirements:
  - psycopg2 (psycopg2-binary) on the node
'''

EXAMPLES = r'''
- name: Fence the node that lost the election
  genesis.runbook.genesis_cluster:
    fenced: true
    confirmation: HALT TRADING NOW
    elected_primary: node1
    details: {decided_by: most recent consistent state}

- name: Resume it as a standby (it stays fenced, so it never promotes itself)
  genesis.runbook.genesis_cluster:
    role: standby
    step: resume_as_standby
'''

RETURN = r'''
before:
  description: Role, term and fenced flag before the call.
  returned: when the control API answered
  type: dict
  sample: {role: primary, term: 2, fenced: false}
after:
  description: Role, term and fenced flag after the call (in check mode, as they would be).
  returned: when the control API answered
  type: dict
  sample: {role: primary, term: 2, fenced: true}
event:
  description: The C(RUNBOOK_ACTION) event written; null when nothing changed or in check mode.
  returned: always
  type: dict
  sample: {event_id: 912, event_type: RUNBOOK_ACTION, aggregate_id: "runbook:node2", sequence_number: 1}
step:
  description: The step name of the audit event.
  returned: always
  type: str
  sample: fence_node
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.genesis.runbook.plugins.module_utils._common import (
    GenesisModule, clause, genesis_common_argument_spec, is_set,
)
from ansible_collections.genesis.runbook.plugins.module_utils.api import GenesisApiError
from ansible_collections.genesis.runbook.plugins.module_utils.audit import AuditError
from ansible_collections.genesis.runbook.plugins.module_utils.cluster import FENCE_PHRASE
from ansible_collections.genesis.runbook.plugins.module_utils.db import GenesisDbError


def snapshot(doc):
    return dict(role=doc.get("role"), term=doc.get("term"), fenced=bool(doc.get("fenced")))


def main():
    argument_spec = genesis_common_argument_spec()
    argument_spec.update(
        fenced=dict(type="bool"),
        role=dict(type="str", choices=["standby", "primary"]),
        confirmation=dict(type="str"),
        elected_primary=dict(type="str"),
        step=dict(type="str"),
        details=dict(type="dict"),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           required_one_of=[("fenced", "role")])
    gm = GenesisModule(module, "genesis_cluster")
    params = module.params
    fenced, role = params["fenced"], params["role"]
    if fenced is None and role is None:
        gm.fail("fenced or role is required: say what genesis_cluster must change on %s." % gm.node)
    step = params["step"] or ("fence_node" if fenced is True else "unfence_node" if fenced is False else "set_role_%s" % role)
    result = dict(changed=False, event=None, step=step)
    gm.require("api_key", "change the cluster membership (POST /admin/cluster)")
    if fenced is True:
        if not is_set(params["elected_primary"]):
            gm.fail("elected_primary is required to fence %s: name the node that stays primary." % gm.node)
        if params["elected_primary"] == gm.node:
            gm.fail("Fencing %s is refused: it is the elected primary, and the runbook fences the other node." % gm.node)
        if params["confirmation"] != FENCE_PHRASE and not module.check_mode:
            gm.fail("confirmation must be the phrase '%s' to fence %s (contract section 8); nothing was changed."
                    % (FENCE_PHRASE, gm.node))

    api = gm.api()
    try:
        doc = api.get("/admin/cluster").data
    except GenesisApiError as exc:
        gm.fail(exc.message)
    before = snapshot(doc)
    if fenced is True and not before["fenced"]:
        others = [name for name, peer in (doc.get("peers") or {}).items() if not (peer or {}).get("fenced")]
        if not others:
            gm.fail("Fencing %s is refused: it is the last member of cluster %s that is not fenced."
                    % (gm.node, doc.get("cluster") or "?"))
    after = dict(before)
    if fenced is not None:
        after["fenced"] = fenced
    if role is not None:
        after["role"] = role
    result.update(before=before, after=after)
    changed = after["role"] != before["role"] or after["fenced"] != before["fenced"]
    if module._diff:
        result["diff"] = dict(before=before, after=after)
    if not changed:
        module.exit_json(**result)
    if module.check_mode:
        if fenced is True and params["confirmation"] != FENCE_PHRASE:
            module.warn("Fencing %s will need confirmation '%s'." % (gm.node, FENCE_PHRASE))
        result["changed"] = True
        module.exit_json(**result)

    db = gm.db("write the audit event of the membership change")
    try:
        audit = gm.connected_audit(db, "Changing the cluster membership of %s was refused" % gm.node)
        body = {}
        if fenced is not None:
            body["fenced"] = fenced
            if fenced:
                body["confirmation"] = params["confirmation"]
        if role is not None:
            body["role"] = role
        try:
            answer = api.post("/admin/cluster", body, idempotent=True).data
        except GenesisApiError as exc:
            gm.fail(exc.message)
        result["before"] = snapshot(answer.get("before") or before)
        result["after"] = snapshot(answer.get("after") or after)
        result["changed"] = bool(answer.get("changed", True))
        if module._diff:
            result["diff"] = dict(before=result["before"], after=result["after"])
        if result["changed"]:
            try:
                event = audit.write_runbook_action(step, result["before"], result["after"], params["details"])
            except (GenesisDbError, AuditError) as exc:
                gm.fail("%s changed from %s to %s but its audit event was not written: %s."
                        % (gm.node, result["before"], result["after"], clause(exc.message)), **result)
            result["event"] = dict((k, event[k]) for k in ("event_id", "event_type", "aggregate_id", "sequence_number"))
        module.exit_json(**result)
    finally:
        db.close()


if __name__ == "__main__":
    main()
