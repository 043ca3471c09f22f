#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: genesis_audit_trail_info
short_description: Check a genesis node's audit trail for missing events (runbook scenario 18)
version_added: 0.1.0
description:
  - Finds the sequence gaps of the C(events) table per aggregate (sequence numbers run from 1 without gaps within each
    C(aggregate_id); a check that does not partition by aggregate, like genesis's own, misses them).
  - Reads the C(audit_event) lines of C(audit.log) (and its rotated and archived copies) and finds the events it holds
    that the table lacks even without a visible gap, for example the last events of an aggregate.
  - For each missing event, tells whether C(audit.log) can restore it (C(recoverable) in RV(missing_events)).
  - Reads whether audit write verification is on (C(GET /admin/audit/verification)) when O(api_key) is set.
  - Read-only.
author:
  - genesis.runbook maintainers (@genesis-runbook)
extends_documentation_fragment:
  - genesis.runbook.connection
attributes:
  check_mode:
    description: Runs normally in check mode (read-only).
    support: full
  diff_mode:
    description: Read-only; there is no diff.
    support: N/A
options:
  audit_log_paths:
    description:
      - The audit log files to read, oldest first. Defaults to C(<genesis_home>/.genesis/logs/archive/audit.log*.gz),
        C(audit.log.*) and C(audit.log).
    type: list
    elements: path
  max_log_bytes:
    description:
      - Stop reading the audit logs after this many bytes (1 MiB to 4 GiB); C(audit_log.truncated) in the result tells.
    type: int
    default: 268435456
  max_missing:
    description:
      - At most this many missing sequence numbers are listed (1 to 100000).
    type: int
    default: 10000
requirements:
  - psycopg2 (psycopg2-binary) on the node
'''

EXAMPLES = r'''
- name: Look for gaps in the audit trail
  genesis.runbook.genesis_audit_trail_info:
  register: trail
  check_mode: false

- name: Show them
  ansible.builtin.debug:
    msg: "{{ trail.missing_count }} events missing, {{ trail.recoverable_count }} recoverable from audit.log"
'''

RETURN = r'''
complete:
  description: True when no event is missing (no gap and nothing in audit.log that the table lacks).
  returned: always
  type: bool
  sample: false
gaps:
  description: The aggregates with sequence gaps and the missing numbers.
  returned: always
  type: list
  elements: dict
  sample: [{aggregate_id: "order:ord-node1-000012", missing: [2]}]
aggregates_with_gaps:
  description: Number of aggregates with a sequence gap.
  returned: always
  type: int
  sample: 2
missing_events:
  description:
    - Every missing event, C(kind) C(gap) (a hole in the sequence) or C(not_captured) (in audit.log, not in the table),
      with what audit.log says about it and whether it can be restored.
  returned: always
  type: list
  elements: dict
  sample: [{aggregate_id: "order:ord-node1-000012", sequence_number: 2, kind: gap, in_audit_log: true, recoverable: true,
            event_id: 57, event_type: ORDER_SUBMITTED, created_at: "2026-11-26T10:00:01.000Z"}]
missing_count:
  description: Number of missing events.
  returned: always
  type: int
  sample: 2
recoverable_count:
  description: Number of missing events audit.log can restore.
  returned: always
  type: int
  sample: 2
not_captured:
  description: Number of missing events that are in audit.log but leave no gap in the table.
  returned: always
  type: int
  sample: 0
unrecoverable:
  description: Missing events audit.log cannot restore, with the reason.
  returned: always
  type: list
  elements: dict
  sample: []
audit_log:
  description: What was read (files, lines, audit events, unparsable lines, bytes, truncated, conflicting keys).
  returned: always
  type: dict
  sample: {files: [/app/.genesis/logs/audit.log], lines: 900, events: 880, unparsable: 0, bytes: 400000, truncated: false,
           conflicts: []}
verification:
  description: Whether audit write verification is on (C(enabled)), or C(error) when it could not be read; null without
    O(api_key).
  returned: always
  type: dict
  sample: {enabled: false}
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.genesis.runbook.plugins.module_utils._common import (
    GenesisModule, genesis_common_argument_spec, is_set,
)
from ansible_collections.genesis.runbook.plugins.module_utils.api import GenesisApiError
from ansible_collections.genesis.runbook.plugins.module_utils.audit_trail import default_log_files, scan
from ansible_collections.genesis.runbook.plugins.module_utils.db import GenesisDbError


def check_limits(gm, params):
    if not 1048576 <= params["max_log_bytes"] <= 4294967296:
        gm.fail("max_log_bytes must be between 1048576 (1 MiB) and 4294967296 (4 GiB), got %s." % params["max_log_bytes"])
    if not 1 <= params["max_missing"] <= 100000:
        gm.fail("max_missing must be between 1 and 100000, got %s." % params["max_missing"])


def read_verification(gm):
    if not is_set(gm.params.get("api_key")):
        return None
    try:
        answer = gm.api().get("/admin/audit/verification").data
    except GenesisApiError as exc:
        if exc.status == 401:
            gm.fail(exc.message)
        return dict(enabled=None, error=exc.message)
    return dict(enabled=bool(answer.get("enabled")))


def main():
    argument_spec = genesis_common_argument_spec()
    argument_spec.update(
        audit_log_paths=dict(type="list", elements="path"),
        max_log_bytes=dict(type="int", default=268435456),
        max_missing=dict(type="int", default=10000),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    gm = GenesisModule(module, "genesis_audit_trail_info")
    params = module.params
    check_limits(gm, params)
    paths = params["audit_log_paths"] or default_log_files(params["genesis_home"])
    db = gm.db("read the audit trail (events table)")
    try:
        try:
            found, _records = scan(db, paths, params["max_log_bytes"], params["max_missing"])
        except GenesisDbError as exc:
            gm.fail(exc.message)
        except (IOError, OSError) as exc:
            gm.fail("The audit log could not be read: %s." % (getattr(exc, "strerror", None) or exc))
    finally:
        db.close()
    if not found["audit_log"]["files"]:
        module.warn("No audit log found in %s: missing events cannot be restored." % ", ".join(paths))
    found["verification"] = read_verification(gm)
    module.exit_json(changed=False, **found)


if __name__ == "__main__":
    main()
