#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: genesis_cluster_info
short_description: Read a genesis node's view of its cluster, or elect the primary from every member's view
version_added: 0.1.0
description:
  - Without O(views), reads this node's own view of the cluster (C(GET /admin/cluster)), that is its role, term, fenced flag,
    priority, lease and what it last saw of each peer; the strategies that run only on the primary
    (C(GET /admin/strategies), C(primary_only)); the state of its trading programs (supervisord, read-only); and,
    when O(db_dsn) is set, the details of its last C(fence_node) runbook action (so a later run knows when the
    split began).
  - An unreachable control API is evidence, not a failure (C(reachable=false) and an error sentence); a rejected
    O(api_key) fails.
  - With O(views), the results of this module on every member, it does no I/O and returns RV(election), the
    deterministic choice of the one primary that stays. The rule, in order, is 1. lease holder (the active primary
    most other members name as holder of a valid lease), 2. most recent consistent state (the active primary most
    other members last saw as primary, even in a stale view from before a cut), 3. priority (lower wins), then
    the node name.
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
  programs:
    description:
      - The supervisor programs that trade on this node (reported in RV(programs)).
    type: list
    elements: str
    default: ["genesis:executor", "genesis:strategies"]
  views:
    description:
      - The results of this module (without O(views)) on every cluster member. When set, the module only elects.
    type: list
    elements: dict
requirements:
  - psycopg2 (psycopg2-binary) on the node, only for RV(fence_record)
'''

EXAMPLES = r'''
- name: Read this node's view of the cluster
  genesis.runbook.genesis_cluster_info:
  register: view
  check_mode: false

- name: Elect the primary from every member's view (same answer on every host)
  genesis.runbook.genesis_cluster_info:
    views: "{{ ansible_play_hosts | map('extract', hostvars, 'view') | list }}"
  register: vote

- name: Show the decision
  ansible.builtin.debug:
    msg: "{{ vote.election.primary }} stays primary ({{ vote.election.decided_by }}); fence {{ vote.election.fence }}"
'''

RETURN = r'''
node:
  description: This node's name (without O(views)).
  returned: always
  type: str
  sample: node2
reachable:
  description: Whether the control API answered (without O(views)).
  returned: always
  type: bool
  sample: true
error:
  description: Why the control API could not be read, as one sentence; null when it answered.
  returned: always
  type: str
  sample: null
errors:
  description: Error sentence per part that could not be read (C(strategies), C(programs), C(fence_record)).
  returned: always
  type: dict
  sample: {}
view:
  description:
    - The node's view, normalised. C(lease.valid) tells whether the lease had not expired when it was read;
      C(last_state_change) is when the node last changed role or fenced flag (for an active primary, when it became
      primary).
  returned: when the control API answered and O(views) is not set
  type: dict
  sample:
    node: node2
    cluster: glab
    role: primary
    term: 2
    fenced: false
    priority: 2
    split_brain: false
    last_state_change: "2026-11-27T18:40:07.000Z"
    fenced_at: null
    lease: {holder: node2, term: 2, expires_at: "2026-11-27T18:41:00.000Z", valid: true}
    peers: {node1: {role: primary, term: 1, fenced: false, reachable: false, last_seen_age_s: 9.5}}
primary_only_strategies:
  description: Strategies that run only on the active primary (C(primary_only) true).
  returned: when the control API answered and O(views) is not set
  type: list
  elements: str
  sample: [cluster_arbitrage]
programs:
  description: State of each program in O(programs), as supervisord reports it (null when unknown).
  returned: when O(views) is not set
  type: dict
  sample: {"genesis:executor": RUNNING, "genesis:strategies": RUNNING}
fence_record:
  description: The last C(fence_node) runbook action on this node (event id, time, run id and its details), or null.
  returned: when O(views) is not set
  type: dict
  sample: {event_id: 912, created_at: "2026-11-27T18:42:00.000Z", run_id: 20261127T184001Z,
           details: {split_started_at: "2026-11-27T18:40:07.000Z", elected_primary: node1}}
election:
  description:
    - The election over O(views). C(primary) stays primary; C(fence) lists the other active primaries, to be fenced;
      C(decided_by) names the rule that separated the first two; C(split_started_at) is when the last of the active
      primaries became primary (the start of the split brain); C(complete) is false when a member's view is missing
      or unreadable (then nothing may be fenced).
  returned: when O(views) is set
  type: dict
  sample:
    rule: "1. lease holder ...; 2. most recent consistent state ...; 3. priority (lower wins), then node name"
    members: [node1, node2]
    missing: []
    unreadable: []
    complete: true
    active_primaries: [node1, node2]
    split_brain: true
    split_brain_reported: []
    fenced_claiming_primary: []
    primary: node1
    fence: [node2]
    decided_by: most recent consistent state
    split_started_at: "2026-11-27T18:40:07.000Z"
    ranking: [{node: node1, term: 1, priority: 1, since: "2026-11-27T18:30:00.000Z", lease_acks: 0, last_agreed: 1}]
    reasons: ["split brain: node1, node2 all claim primary unfenced; node1 stays primary ..."]
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.genesis.runbook.plugins.module_utils._common import (
    GenesisModule, genesis_common_argument_spec, is_set,
)
from ansible_collections.genesis.runbook.plugins.module_utils.api import GenesisApiError
from ansible_collections.genesis.runbook.plugins.module_utils.cluster import elect, fence_record, view_from
from ansible_collections.genesis.runbook.plugins.module_utils.db import GenesisDbError
from ansible_collections.genesis.runbook.plugins.module_utils.supervisor import GenesisSupervisorError, SupervisorClient


def read_programs(gm, names):
    socket_path = gm.params.get("supervisor_socket") or "%s/.genesis/supervisor.sock" % (gm.params.get("genesis_home") or "/app")
    client = SupervisorClient(socket_path, timeout=gm.timeout)
    states = dict((name, None) for name in names)
    for record in client.get_all_process_info():
        for key in (record["fullname"], record["ctl_name"]):
            if key in states:
                states[key] = record["statename"]
    return states


def main():
    argument_spec = genesis_common_argument_spec()
    argument_spec.update(
        programs=dict(type="list", elements="str", default=["genesis:executor", "genesis:strategies"]),
        views=dict(type="list", elements="dict"),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    gm = GenesisModule(module, "genesis_cluster_info")
    params = module.params

    if params["views"] is not None:
        if not params["views"]:
            gm.fail("views is empty: pass the results of genesis_cluster_info on every cluster member.")
        module.exit_json(changed=False, election=elect(params["views"]))

    gm.require("api_key", "read the cluster state (GET /admin/cluster)")
    result = dict(changed=False, node=gm.node, reachable=False, error=None, errors={}, programs={}, fence_record=None)
    api = gm.api()
    try:
        doc = api.get("/admin/cluster").data
    except GenesisApiError as exc:
        if exc.status == 401:
            gm.fail(exc.message)
        result["error"] = exc.message
        result["reachable"] = not exc.unreachable
        module.exit_json(**result)
    result["reachable"] = True
    result["view"] = view_from(doc)
    if result["view"].get("node"):
        result["node"] = result["view"]["node"]

    try:
        strategies = api.get("/admin/strategies").data.get("strategies") or {}
        result["primary_only_strategies"] = sorted(name for name, s in strategies.items()
                                                   if isinstance(s, dict) and s.get("primary_only"))
    except (GenesisApiError, AttributeError) as exc:
        result["primary_only_strategies"] = []
        result["errors"]["strategies"] = getattr(exc, "message", None) or "GET /admin/strategies answered no strategies."

    try:
        result["programs"] = read_programs(gm, params["programs"])
    except GenesisSupervisorError as exc:
        result["programs"] = dict((name, None) for name in params["programs"])
        result["errors"]["programs"] = exc.message

    if is_set(params.get("db_dsn")):
        db = gm.db("read the last fencing record")
        try:
            result["fence_record"] = fence_record(db, result["node"])
        except GenesisDbError as exc:
            result["errors"]["fence_record"] = exc.message
        finally:
            db.close()
    module.exit_json(**result)


if __name__ == "__main__":
    main()
