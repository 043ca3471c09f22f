#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: genesis_heap_dump
short_description: Take a heap dump of a genesis node's main process through its control API (runbook scenario 5)
version_added: 0.1.0
description:
  - Calls C(POST /admin/heap-dump) of the control API, which writes a JSON heap summary of the main process
    under C(<genesis_home>/.genesis/data/heapdumps/) and answers its path, the process's RSS and the object types
    that hold the most memory.
  - Checks that the file is on the node and returns its size; the file is kept (never removed by this module).
  - Writes one C(RUNBOOK_ACTION) audit event (step C(heap_dump)) with the path and the largest types, so O(db_dsn)
    is needed; without a reachable database no dump is taken.
  - Take the dump before restarting a leaking program, because the restart frees the memory and the evidence with it.
  - Every call writes a new dump, so the module always reports a change.
author:
  - genesis.runbook maintainers (@genesis-runbook)
extends_documentation_fragment:
  - genesis.runbook.connection
attributes:
  check_mode:
    description: Reports that a dump would be taken; the API is not called and nothing is written.
    support: full
  diff_mode:
    description: Shows the dump file that was (or would be) added.
    support: full
options:
  keep_top:
    description:
      - How many of the largest object types to return in RV(top) and the audit event (1 to 100).
    type: int
    default: 10
requirements:
  - psycopg2 (psycopg2-binary) on the node
'''

EXAMPLES = r'''
- name: Keep the evidence of the leak before restarting
  genesis.runbook.genesis_heap_dump:
    api_key: "{{ genesis_api_key }}"
    db_dsn: "{{ genesis_db_dsn }}"
    scenario: "5"
    keep_top: 5
  register: heap

- name: Show where it is
  ansible.builtin.debug:
    msg: "{{ heap.path }}: {{ heap.rss_mb }} MB RSS, largest type {{ heap.top[0].type }}"
  when: not ansible_check_mode
'''

RETURN = r'''
path:
  description: Path of the heap dump on the node; null in check mode.
  returned: always
  type: str
  sample: /app/.genesis/data/heapdumps/heap-node1-20261127T184001-4242.json
exists:
  description: Whether the dump file is on the node after the call (false in check mode).
  returned: always
  type: bool
  sample: true
size_bytes:
  description: Size of the dump file; null when it cannot be seen from the module.
  returned: always
  type: int
  sample: 9114
rss_mb:
  description: RSS of the main process when the dump was taken, in MB; null in check mode.
  returned: always
  type: float
  sample: 390.7
top:
  description: The largest object types, biggest first (C(type), C(count), C(size_bytes)).
  returned: always
  type: list
  elements: dict
  sample: [{type: bytes, count: 142, size_bytes: 353135143}, {type: dict, count: 4947, size_bytes: 2440064}]
audit_events:
  description: The RUNBOOK_ACTION event written; empty in check mode.
  returned: always
  type: list
  elements: dict
  sample: [{event_id: 4714, event_type: RUNBOOK_ACTION, aggregate_id: "runbook:node1", sequence_number: 5}]
'''

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.genesis.runbook.plugins.module_utils._common import GenesisModule, clause, genesis_common_argument_spec
from ansible_collections.genesis.runbook.plugins.module_utils.api import GenesisApiError
from ansible_collections.genesis.runbook.plugins.module_utils.audit import AuditError, short_event
from ansible_collections.genesis.runbook.plugins.module_utils.db import GenesisDbError

STEP = "heap_dump"


def summary(entries, keep):
    top = []
    for entry in (entries or [])[:keep]:
        if isinstance(entry, dict):
            top.append(dict(type=entry.get("type"), count=entry.get("count"), size_bytes=entry.get("size_bytes")))
    return top


def main():
    argument_spec = genesis_common_argument_spec()
    argument_spec.update(keep_top=dict(type="int", default=10))
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    gm = GenesisModule(module, "genesis_heap_dump")
    keep = module.params["keep_top"]
    if not 1 <= keep <= 100:
        gm.fail("keep_top must be between 1 and 100, got %s." % keep)
    gm.require("api_key", "call POST /admin/heap-dump")
    result = dict(changed=True, path=None, exists=False, size_bytes=None, rss_mb=None, top=[], audit_events=[])
    if module.check_mode:
        if module._diff:
            result["diff"] = dict(before="", after="a new heap dump under %s\n"
                                  % os.path.join(module.params["genesis_home"], ".genesis", "data", "heapdumps"))
        module.exit_json(**result)

    db = gm.db("write the audit event of the heap dump")
    try:
        audit = gm.connected_audit(db, "No heap dump was taken")
        try:
            data = gm.api().post("/admin/heap-dump").data
        except GenesisApiError as exc:
            gm.fail("No heap dump was taken: %s" % exc.message)
        path = data.get("path") if isinstance(data, dict) else None
        if not path:
            gm.fail("No heap dump was taken: POST /admin/heap-dump answered without a path.")
        result["path"] = path
        result["exists"] = os.path.isfile(path)
        if result["exists"]:
            result["size_bytes"] = os.path.getsize(path)
        rss = data.get("rss_bytes")
        result["rss_mb"] = round(float(rss) / 1048576.0, 1) if isinstance(rss, (int, float)) else None
        result["top"] = summary(data.get("top"), keep)
        try:
            audit.write_runbook_action(
                STEP, before=dict(rss_mb=result["rss_mb"]),
                after=dict(path=path, size_bytes=result["size_bytes"], kept=True),
                details=dict(top=result["top"][:5]))
        except (GenesisDbError, AuditError) as exc:
            gm.fail("The heap dump %s was written but its audit event was not: %s" % (path, clause(exc.message)), **result)
        result["audit_events"] = [short_event(e) for e in audit.written]
        if module._diff:
            result["diff"] = dict(before="", after="%s\n" % path)
        module.exit_json(**result)
    finally:
        db.close()


if __name__ == "__main__":
    main()
