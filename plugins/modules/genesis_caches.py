#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: genesis_caches
short_description: Clear a genesis node's API caches through its control API (runbook scenario 17)
version_added: 0.1.0
description:
  - Calls C(POST /admin/caches/clear), which empties the main process's in-memory API cache and deletes the Redis
    keys C(genesis:cache:*) (and nothing else, never C(FLUSHDB)). The API answers how many entries it cleared.
  - Writes one C(RUNBOOK_ACTION) audit event (step C(clear_caches)) when entries were cleared, so O(db_dsn) is
    needed; without a reachable database nothing is cleared.
  - Caches are derived data (the node refills them from the database and the exchange); no record is lost.
  - A second call on an empty cache reports no change.
author:
  - genesis.runbook maintainers (@genesis-runbook)
extends_documentation_fragment:
  - genesis.runbook.connection
attributes:
  check_mode:
    description:
      - The in-process cache cannot be read through the API, so check mode reports that the caches would be cleared
        (C(changed=true)) without calling the API.
    support: full
  diff_mode:
    description: Shows how many entries were cleared.
    support: full
options:
  state:
    description:
      - C(cleared) empties the caches.
    type: str
    choices: [cleared]
    default: cleared
  clear_timeout:
    description:
      - Seconds the clear may take (1 to 600; at least O(api_timeout)). A degraded node answers slowly, and
        the very cache being cleared is what makes it slow.
    type: int
    default: 60
requirements:
  - psycopg2 (psycopg2-binary) on the node
'''

EXAMPLES = r'''
- name: Clear the API caches
  genesis.runbook.genesis_caches:
    state: cleared
    api_key: "{{ genesis_api_key }}"
    db_dsn: "{{ genesis_db_dsn }}"
    scenario: "17"
  register: caches
'''

RETURN = r'''
cleared_entries:
  description: How many cache entries the node cleared; null in check mode.
  returned: always
  type: int
  sample: 400003
audit_events:
  description: The RUNBOOK_ACTION event written; empty in check mode or when nothing was cleared.
  returned: always
  type: list
  elements: dict
  sample: [{event_id: 4714, event_type: RUNBOOK_ACTION, aggregate_id: "runbook:node1", sequence_number: 5}]
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.genesis.runbook.plugins.module_utils._common import GenesisModule, clause, genesis_common_argument_spec
from ansible_collections.genesis.runbook.plugins.module_utils.api import GenesisApi, GenesisApiError
from ansible_collections.genesis.runbook.plugins.module_utils.audit import AuditError
from ansible_collections.genesis.runbook.plugins.module_utils.db import GenesisDbError

STEP = "clear_caches"


def main():
    argument_spec = genesis_common_argument_spec()
    argument_spec.update(state=dict(type="str", choices=["cleared"], default="cleared"),
                         clear_timeout=dict(type="int", default=60))
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    gm = GenesisModule(module, "genesis_caches")
    gm.require("api_key", "call POST /admin/caches/clear")
    if not 1 <= module.params["clear_timeout"] <= 600:
        gm.fail("clear_timeout must be between 1 and 600 seconds, got %s." % module.params["clear_timeout"])
    result = dict(changed=True, cleared_entries=None, audit_events=[])
    if module.check_mode:
        module.exit_json(**result)

    db = gm.db("write the audit event of the cache clear")
    try:
        audit = gm.connected_audit(db, "The caches were not cleared")
        try:
            # idempotent: repeating the call clears nothing more
            api = GenesisApi(module.params["api_url"], api_key=module.params["api_key"],
                             timeout=max(gm.timeout, module.params["clear_timeout"]), retries=gm.retries)
            data = api.post("/admin/caches/clear", idempotent=True).data
        except GenesisApiError as exc:
            gm.fail("The caches were not cleared: %s" % exc.message)
        cleared = data.get("cleared_entries") if isinstance(data, dict) else None
        changed = bool(data.get("changed")) if isinstance(data, dict) and "changed" in data else bool(cleared)
        result.update(changed=changed, cleared_entries=cleared)
        if changed:
            try:
                event = audit.write_runbook_action(STEP, before=dict(cache_entries=cleared), after=dict(cache_entries=0))
            except (GenesisDbError, AuditError) as exc:
                gm.fail("The caches were cleared (%s entries) but the audit event was not written: %s"
                        % (cleared, clause(exc.message)), **result)
            result["audit_events"] = [dict((k, event[k]) for k in ("event_id", "event_type", "aggregate_id", "sequence_number"))]
            if module._diff:
                result["diff"] = dict(before="cache entries: %s\n" % cleared, after="cache entries: 0\n")
        module.exit_json(**result)
    finally:
        db.close()


if __name__ == "__main__":
    main()
