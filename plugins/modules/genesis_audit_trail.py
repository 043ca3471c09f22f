#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: genesis_audit_trail
short_description: Restore the missing events of a genesis node's audit trail from audit.log (runbook scenario 18)
version_added: 0.1.0
description:
  - Finds the missing events like M(genesis.runbook.genesis_audit_trail_info) (sequence gaps per aggregate, and events
    C(audit.log) holds that the table lacks) and inserts each one C(audit.log) can restore, with its original event
    type, aggregate, sequence number, creation time and event id (a new id when the original one is taken), and its
    original C(event_data) plus C(reconstructed=true), C(source=audit.log), C(original_event_id), C(reconstructed_at) and
    C(reconstructed_by_run).
  - Nothing is deleted or overwritten. An event whose place was taken in the meantime is left out and listed in
    RV(skipped). Events audit.log cannot restore are listed in RV(unrecoverable) and left missing.
  - All inserts and one C(RUNBOOK_ACTION) event (step O(step)) on C(runbook:<node_name>) are written in one transaction.
author:
  - genesis.runbook maintainers (@genesis-runbook)
extends_documentation_fragment:
  - genesis.runbook.connection
attributes:
  check_mode:
    description: Lists the events it would restore in RV(reconstructed); nothing is written.
    support: full
  diff_mode:
    description: Shows the missing events before and the restored ones after.
    support: full
options:
  state:
    description:
      - C(reconstructed) restores every missing event audit.log holds.
    type: str
    choices: [reconstructed]
    default: reconstructed
  audit_log_paths:
    description:
      - The audit log files to read, oldest first. Defaults to C(<genesis_home>/.genesis/logs/archive/audit.log*.gz),
        C(audit.log.*) and C(audit.log).
    type: list
    elements: path
  max_log_bytes:
    description:
      - Stop reading the audit logs after this many bytes (1 MiB to 4 GiB).
    type: int
    default: 268435456
  max_missing:
    description:
      - At most this many missing events are restored in one run (1 to 100000).
    type: int
    default: 10000
  step:
    description:
      - Step name of the C(RUNBOOK_ACTION) event.
    type: str
    default: reconstruct_audit_events
requirements:
  - psycopg2 (psycopg2-binary) on the node
'''

EXAMPLES = r'''
- name: Restore the missing audit events from audit.log
  genesis.runbook.genesis_audit_trail:
    state: reconstructed
  register: restored

- name: Report what could not be restored
  ansible.builtin.debug:
    msg: "{{ restored.unrecoverable }}"
  when: restored.unrecoverable | length > 0
'''

RETURN = r'''
reconstructed:
  description: The events restored (in check mode, that would be restored), with their new and original event ids.
  returned: always
  type: list
  elements: dict
  sample: [{aggregate_id: "order:ord-node1-000012", sequence_number: 2, event_type: ORDER_SUBMITTED, event_id: 57,
            original_event_id: 57, kind: gap}]
skipped:
  description: Missing events whose place was taken while they were being restored.
  returned: always
  type: list
  elements: dict
  sample: []
unrecoverable:
  description: Missing events audit.log cannot restore, with the reason.
  returned: always
  type: list
  elements: dict
  sample: [{aggregate_id: "order:ord-node1-000099", sequence_number: 1, reason: not in audit.log}]
audit_events:
  description: The C(RUNBOOK_ACTION) event written; empty in check mode or when nothing was restored.
  returned: always
  type: list
  elements: dict
  sample: [{event_id: 901, event_type: RUNBOOK_ACTION, aggregate_id: "runbook:node1", sequence_number: 1}]
'''

import json

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.genesis.runbook.plugins.module_utils._common import (
    GenesisModule, clause, genesis_common_argument_spec, iso, utc_now,
)
from ansible_collections.genesis.runbook.plugins.module_utils.audit import AuditError
from ansible_collections.genesis.runbook.plugins.module_utils.audit_trail import (
    INSERT_NEW_ID_SQL, INSERT_WITH_ID_SQL, TAKEN_IDS_SQL, default_log_files, reconstructed_data, scan,
)
from ansible_collections.genesis.runbook.plugins.module_utils.db import GenesisDbError


def key_of(entry):
    return "%s#%s" % (entry["aggregate_id"], entry["sequence_number"])


def main():
    argument_spec = genesis_common_argument_spec()
    argument_spec.update(
        state=dict(type="str", choices=["reconstructed"], default="reconstructed"),
        audit_log_paths=dict(type="list", elements="path"),
        max_log_bytes=dict(type="int", default=268435456),
        max_missing=dict(type="int", default=10000),
        step=dict(type="str", default="reconstruct_audit_events"),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    gm = GenesisModule(module, "genesis_audit_trail")
    params = module.params
    if not 1048576 <= params["max_log_bytes"] <= 4294967296:
        gm.fail("max_log_bytes must be between 1048576 (1 MiB) and 4294967296 (4 GiB), got %s." % params["max_log_bytes"])
    if not 1 <= params["max_missing"] <= 100000:
        gm.fail("max_missing must be between 1 and 100000, got %s." % params["max_missing"])
    if not (params["step"] or "").strip():
        gm.fail("step is empty: name the runbook step the audit event records.")
    paths = params["audit_log_paths"] or default_log_files(params["genesis_home"])
    result = dict(changed=False, reconstructed=[], skipped=[], unrecoverable=[], audit_events=[])
    db = gm.db("restore the missing audit events")
    try:
        try:
            found, records = scan(db, paths, params["max_log_bytes"], params["max_missing"])
        except GenesisDbError as exc:
            gm.fail(exc.message)
        except (IOError, OSError) as exc:
            gm.fail("The audit log could not be read: %s." % (getattr(exc, "strerror", None) or exc))
        result["unrecoverable"] = found["unrecoverable"]
        todo = [e for e in found["missing_events"] if e["recoverable"]]
        planned = [dict(aggregate_id=e["aggregate_id"], sequence_number=e["sequence_number"], event_type=e["event_type"],
                        event_id=None, original_event_id=e["event_id"], kind=e["kind"]) for e in todo]
        if not todo:
            module.exit_json(**result)
        if module._diff:
            result["diff"] = dict(before=dict(missing=[key_of(e) for e in found["missing_events"]]),
                                  after=dict(missing=[key_of(e) for e in found["missing_events"] if not e["recoverable"]]))
        if module.check_mode:
            result.update(changed=True, reconstructed=planned)
            module.exit_json(**result)

        audit = gm.connected_audit(db, "Restoring the audit trail of %s was refused" % gm.node)
        now = iso(utc_now())
        try:
            ids = [e["event_id"] for e in todo if isinstance(e["event_id"], int)]
            taken = set(r["event_id"] for r in db.query(TAKEN_IDS_SQL, (ids,), what="checking the original event ids")) \
                if ids else set()
            with db.transaction("restoring the missing audit events") as cur:
                for entry, plan in zip(todo, planned):
                    record = records[(entry["aggregate_id"], entry["sequence_number"])]
                    data = json.dumps(reconstructed_data(record, gm.run_id, now), sort_keys=True, default=str)
                    values = (record["event_type"], record["aggregate_id"], data, record["sequence_number"],
                              record["created_at"] or now)
                    if isinstance(record["event_id"], int) and record["event_id"] not in taken:
                        cur.execute(INSERT_WITH_ID_SQL, (record["event_id"],) + values)
                    else:
                        cur.execute(INSERT_NEW_ID_SQL, values)
                    row = cur.fetchone()
                    if row is None:
                        result["skipped"].append(dict(aggregate_id=entry["aggregate_id"], sequence_number=entry["sequence_number"],
                                                      reason="its place in the sequence was taken meanwhile"))
                        continue
                    plan["event_id"] = row[0]
                    result["reconstructed"].append(plan)
                if result["reconstructed"]:
                    audit.runbook_action(
                        cur, params["step"],
                        before=dict(missing=[key_of(e) for e in found["missing_events"]]),
                        after=dict(reconstructed=[key_of(e) for e in result["reconstructed"]],
                                   still_missing=[key_of(e) for e in found["unrecoverable"]] + [key_of(e) for e in result["skipped"]]),
                        details=dict(source="audit.log", files=found["audit_log"]["files"],
                                     event_ids=dict((key_of(e), e["event_id"]) for e in result["reconstructed"])))
        except (GenesisDbError, AuditError) as exc:
            audit.discard()
            gm.fail("Restoring the missing audit events of %s failed and nothing was written: %s." % (gm.node, clause(exc.message)))
        audit.committed()
        result["changed"] = bool(result["reconstructed"])
        result["audit_events"] = [dict((k, e[k]) for k in ("event_id", "event_type", "aggregate_id", "sequence_number"))
                                  for e in audit.written]
        module.exit_json(**result)
    finally:
        db.close()


if __name__ == "__main__":
    main()
