#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: genesis_circuit_breaker
short_description: Close a genesis node's circuit breakers (runbook scenario 2)
version_added: 0.1.0
description:
  - Reads C(GET /admin/circuit-breakers) and resets, through C(POST /admin/circuit-breakers/<name>/reset),
    only the named breakers that are not C(closed) (C(open) or C(half_open)).
  - Writes one C(RUNBOOK_ACTION) audit event per reset, so O(db_dsn) is needed when a breaker is to be reset.
  - Resetting a breaker does not fix its cause; reset it after the cause is gone (for example after restarting the executor).
author:
  - genesis.runbook maintainers (@genesis-runbook)
extends_documentation_fragment:
  - genesis.runbook.connection
attributes:
  check_mode:
    description: Reports which breakers would be reset; nothing is posted or written.
    support: full
  diff_mode:
    description: Shows each breaker's state before and after.
    support: full
options:
  name:
    description:
      - Names of the breakers (C(binance_api), C(api), C(websocket), C(orders)), or C(all) for every breaker the node has.
    type: list
    elements: str
    required: true
  state:
    description:
      - C(closed) resets the named breakers that are not closed.
    type: str
    choices: [closed]
    default: closed
requirements:
  - psycopg2 (psycopg2-binary) on the node, to write the audit events
'''

EXAMPLES = r'''
- name: Close the orders breaker
  genesis.runbook.genesis_circuit_breaker:
    name: [orders]
    state: closed
    scenario: "2"

- name: Close every breaker
  genesis.runbook.genesis_circuit_breaker:
    name: all
'''

RETURN = r'''
breakers:
  description: Each selected breaker's state before and after (in check mode, the state it would have).
  returned: always
  type: dict
  sample: {orders: {before: open, after: closed, changed: true}, api: {before: closed, after: closed, changed: false}}
reset:
  description: The breakers reset (in check mode, those that would be reset).
  returned: always
  type: list
  elements: str
  sample: [orders]
audit_events:
  description: The RUNBOOK_ACTION events written, one per reset; empty in check mode.
  returned: always
  type: list
  elements: dict
  sample: [{event_id: 4713, event_type: RUNBOOK_ACTION, aggregate_id: "runbook:node1", sequence_number: 4}]
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.genesis.runbook.plugins.module_utils._common import (
    GenesisModule, clause, genesis_common_argument_spec,
)
from ansible_collections.genesis.runbook.plugins.module_utils.api import GenesisApiError
from ansible_collections.genesis.runbook.plugins.module_utils.audit import AuditError, short_event
from ansible_collections.genesis.runbook.plugins.module_utils.db import GenesisDbError


def main():
    argument_spec = genesis_common_argument_spec()
    argument_spec.update(
        name=dict(type="list", elements="str", required=True),
        state=dict(type="str", choices=["closed"], default="closed"),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    gm = GenesisModule(module, "genesis_circuit_breaker")
    names = [n.strip() for n in module.params["name"] if n and n.strip()]
    if not names:
        gm.fail("name is empty: name the breakers to close, or all.")
    gm.require("api_key", "read and reset circuit breakers")

    api = gm.api()
    try:
        current = api.get("/admin/circuit-breakers").data.get("breakers") or {}
    except GenesisApiError as exc:
        gm.fail(exc.message)
    except AttributeError:
        gm.fail("Control API %s/admin/circuit-breakers answered without a breakers object." % api.endpoint)

    if "all" in names:
        selected = sorted(current)
    else:
        unknown = [n for n in names if n not in current]
        if unknown:
            gm.fail("name holds unknown breakers %s: the node has %s." % (", ".join(unknown), ", ".join(sorted(current)) or "none"))
        selected = names

    breakers = {}
    to_reset = []
    for name in selected:
        state = (current.get(name) or {}).get("state")
        breakers[name] = dict(before=state, after=state, changed=False)
        if state != "closed":
            to_reset.append(name)
            breakers[name].update(after="closed", changed=True)

    result = dict(changed=bool(to_reset), breakers=breakers, reset=list(to_reset), audit_events=[])
    if to_reset and module._diff:
        result["diff"] = dict(before=dict((n, breakers[n]["before"]) for n in selected),
                              after=dict((n, breakers[n]["after"]) for n in selected))
    if not to_reset or module.check_mode:
        module.exit_json(**result)

    db = gm.db("write the audit event of each breaker reset")
    try:
        audit = gm.connected_audit(db, "No breaker was reset")
        done = []
        for name in to_reset:
            try:
                answer = api.post("/admin/circuit-breakers/%s/reset" % api.quote(name), idempotent=True).data
            except GenesisApiError as exc:
                result["reset"] = done
                result["changed"] = bool(done)
                gm.fail("Breaker %s was not reset (%d reset before it): %s" % (name, len(done), clause(exc.message)), **result)
            after = answer.get("state", "closed") if isinstance(answer, dict) else "closed"
            before = answer.get("before", breakers[name]["before"]) if isinstance(answer, dict) else breakers[name]["before"]
            applied = answer.get("changed", True) if isinstance(answer, dict) else True
            breakers[name].update(before=before, after=after, changed=bool(applied))
            if not applied:
                continue
            done.append(name)
            try:
                audit.write_runbook_action("reset_circuit_breaker", before=dict(name=name, state=before),
                                           after=dict(name=name, state=after))
            except (GenesisDbError, AuditError) as exc:
                result.update(reset=done, audit_events=[short_event(e) for e in audit.written])
                gm.fail("Breaker %s was reset but its audit event was not written: %s" % (name, clause(exc.message)), **result)
        result.update(changed=bool(done), reset=done, audit_events=[short_event(e) for e in audit.written])
        if module._diff:
            result["diff"] = dict(before=dict((n, breakers[n]["before"]) for n in selected),
                                  after=dict((n, breakers[n]["after"]) for n in selected))
        module.exit_json(**result)
    finally:
        db.close()


if __name__ == "__main__":
    main()
