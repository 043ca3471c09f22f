#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: genesis_health_info
short_description: Gather the evidence of a genesis node outage (runbook scenario 1)
version_added: 0.1.0
description:
  - Reads C(GET /health) and C(GET /health/ready) of the control API. An unreachable API is evidence,
    not a failure, and is returned as C(api.reachable=false) with an error sentence.
  - Reports the heartbeat age (from the API, else Redis C(genesis:heartbeat), else the log).
  - Lists the supervisord programs (name, group, state, pid, uptime) when O(supervisor_socket) is set.
  - Finds which process listens on each of O(ports) from C(/proc/net/tcp), C(/proc/net/tcp6) and C(/proc/*/fd),
    and whether it is a child of a supervisor program of the C(genesis) group (the port-conflict check).
  - Returns the last O(log_lines) lines of C(<genesis_home>/.genesis/logs/genesis.log) with the time of the last
    C(System initialized successfully) and the last C(Heartbeat sent).
  - Reports load average, memory from C(/proc/meminfo) and disk usage of O(genesis_home).
  - Read-only; never changes anything.
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
  ports:
    description:
      - TCP ports whose listening process to identify.
    type: list
    elements: int
    default: [8080]
  log_lines:
    description:
      - How many of the last lines of C(genesis.log) to return (0 to 10000).
    type: int
    default: 100
  main_program:
    description:
      - The supervisor program (as C(group:name)) of the main genesis process. RV(main) tells whether its last start was
        followed by C(System initialized successfully) and a heartbeat, which proves a restart worked.
    type: str
    default: "genesis:genesis"
notes:
  - Identifying another user's listening process needs the privileges to read its C(/proc/<pid>/fd)
    (use become); otherwise C(owner_visible) of that port is false.
'''

EXAMPLES = r'''
- name: Gather the outage evidence
  genesis.runbook.genesis_health_info:
    supervisor_socket: /app/.genesis/supervisor.sock
    ports: [8080, 8443]
    log_lines: 50
  register: health

- name: Report a port held by something that is not genesis
  ansible.builtin.debug:
    msg: "port {{ item.port }} is held by {{ item.processes | map(attribute='name') | join(', ') }}"
  loop: "{{ health.ports | selectattr('conflict') | list }}"
'''

RETURN = r'''
api:
  description: What the control API's health endpoints answered.
  returned: always
  type: dict
  sample:
    url: http://127.0.0.1:8080
    reachable: true
    status_code: 200
    status: healthy
    latency_ms: 3.1
    health: {status: healthy, components: {database: up, redis: up}, heartbeat: {age_s: 1.2}}
    ready: true
    ready_reasons: []
    error: null
heartbeat:
  description:
    - Age of the node's heartbeat in seconds; C(age_s) is the first known of the API, Redis and log ages (C(source) says which).
  returned: always
  type: dict
  sample: {age_s: 1.2, source: api, api_age_s: 1.2, redis_age_s: 1.3, log_age_s: 1.4, last: "2026-11-27T18:40:01.123Z", errors: {}}
supervisor:
  description: supervisord's view of the programs; C(reachable) false and C(error) when the socket does not answer.
  returned: when supervisor_socket is set
  type: dict
  sample:
    socket: /app/.genesis/supervisor.sock
    reachable: true
    error: null
    programs:
      - {name: genesis, group: genesis, fullname: "genesis:genesis", statename: RUNNING, pid: 4242, uptime: 812,
         exitstatus: 0, spawnerr: null, description: "pid 4242, uptime 0:13:32"}
ports:
  description:
    - One entry per port. C(genesis_child) is true when every listener is a supervisor program of the genesis group or its child;
      C(conflict) is true when something else listens there; both are null when that cannot be told.
  returned: always
  type: list
  elements: dict
  sample:
    - port: 8080
      listening: true
      owner_visible: true
      processes: [{pid: 4242, name: python3, genesis_program: "genesis:genesis"}]
      genesis_child: true
      conflict: false
logs:
  description: The tail of genesis.log and the last startup and heartbeat lines.
  returned: always
  type: dict
  sample:
    path: /app/.genesis/logs/genesis.log
    exists: true
    lines: ['{"timestamp": "2026-11-27T18:40:01.123Z", "level": "info", "event": "Heartbeat sent", "logger": "main"}']
    last_initialized_at: "2026-11-27T18:26:29.004Z"
    last_heartbeat_at: "2026-11-27T18:40:01.123Z"
    error: null
resources:
  description: Load average, memory and disk usage of genesis_home.
  returned: always
  type: dict
  sample:
    loadavg: [0.12, 0.2, 0.18]
    cpu_count: 4
    memory: {total_mb: 3936.2, available_mb: 2011.0, used_percent: 48.9}
    disk: {path: /app, total_mb: 64.0, used_mb: 12.5, free_mb: 51.5, used_percent: 19.5}
main:
  description:
    - The main program's state and whether C(System initialized successfully) (C(initialized_since_start)) and a heartbeat
      (C(heartbeat_since_start)) were logged since it last started, by the node's clock. Null values when supervisor
      cannot be read or the program is not running.
  returned: when supervisor_socket is set
  type: dict
  sample: {program: "genesis:genesis", statename: RUNNING, pid: 4242, started_at: "2026-11-27T18:26:28Z",
           initialized_since_start: true, heartbeat_since_start: true}
node:
  description: The node name used for this node.
  returned: always
  type: str
  sample: node1
'''

import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.genesis.runbook.plugins.module_utils._common import (
    GenesisModule, genesis_common_argument_spec, is_set, parse_iso,
)
from ansible_collections.genesis.runbook.plugins.module_utils.api import GenesisApiError
from ansible_collections.genesis.runbook.plugins.module_utils.cache import GenesisCacheError
from ansible_collections.genesis.runbook.plugins.module_utils.supervisor import GenesisSupervisorError, SupervisorClient
from ansible_collections.genesis.runbook.plugins.module_utils import logs as genesis_logs
from ansible_collections.genesis.runbook.plugins.module_utils import procfs

PROC_ROOT = "/proc"
INITIALIZED = "System initialized successfully"
HEARTBEAT = "Heartbeat sent"
GENESIS_GROUP = "genesis"


def api_health(gm):
    api = gm.api()
    info = dict(url=api.endpoint, reachable=False, status_code=None, status=None, latency_ms=None, health=None,
                ready=None, ready_reasons=[], error=None)
    try:
        response = api.get("/health", auth=False, accept=(503,))
    except GenesisApiError as exc:
        info["error"] = exc.message
        if not exc.unreachable:
            info["reachable"] = True
            info["status_code"] = exc.status
        return info
    data = response.data if isinstance(response.data, dict) else {}
    info.update(reachable=True, status_code=response.status, status=data.get("status"), latency_ms=response.elapsed_ms,
                health=data)
    try:
        ready = api.get("/health/ready", auth=False, accept=(503,))
        ready_data = ready.data if isinstance(ready.data, dict) else {}
        info["ready"] = bool(ready_data.get("ready")) if "ready" in ready_data else ready.status == 200
        info["ready_reasons"] = ready_data.get("reasons") or []
    except GenesisApiError as exc:
        info["error"] = exc.message
    return info


def heartbeat(gm, api_info, log_info):
    now = time.time()
    beat = dict(age_s=None, source=None, last=None, api_age_s=None, redis_age_s=None, log_age_s=None, errors={})
    health = api_info.get("health") or {}
    api_beat = health.get("heartbeat") if isinstance(health, dict) else None
    if isinstance(api_beat, dict) and api_beat.get("age_s") is not None:
        beat["api_age_s"] = round(float(api_beat["age_s"]), 3)
        beat["last"] = api_beat.get("last")
    if is_set(gm.params.get("redis_url")):
        try:
            ts = gm.cache("read the heartbeat").hgetall("genesis:heartbeat").get("ts")
            if ts:
                beat["redis_age_s"] = round(now - float(ts), 3)
        except GenesisCacheError as exc:
            beat["errors"]["redis"] = gm.clean(exc.message)
        except ValueError:
            beat["errors"]["redis"] = "genesis:heartbeat has a ts that is not a number."
    last_log = parse_iso(log_info.get("last_heartbeat_at"))
    if last_log is not None:
        beat["log_age_s"] = round(now - last_log, 3)
    for source in ("api", "redis", "log"):
        if beat[source + "_age_s"] is not None:
            beat["age_s"] = beat[source + "_age_s"]
            beat["source"] = source
            break
    if beat["source"] == "log":
        beat["last"] = log_info.get("last_heartbeat_at")
    elif beat["source"] == "redis":
        beat["last"] = None
    return beat


def supervisor_programs(gm):
    path = gm.params.get("supervisor_socket")
    info = dict(socket=path, reachable=False, programs=[], error=None)
    try:
        info["programs"] = SupervisorClient(path, timeout=gm.timeout).get_all_process_info()
        info["reachable"] = True
    except GenesisSupervisorError as exc:
        info["error"] = exc.message
    return info


def port_owners(ports, supervisor_info):
    genesis_pids = {}
    known = supervisor_info is not None and supervisor_info.get("reachable")
    if known:
        for program in supervisor_info["programs"]:
            if program.get("group") == GENESIS_GROUP and program.get("pid"):
                genesis_pids[int(program["pid"])] = program["fullname"]
    inodes = procfs.listening_inodes(ports, PROC_ROOT)
    all_inodes = set()
    for found in inodes.values():
        all_inodes.update(found)
    owners, complete = procfs.socket_owners(all_inodes, PROC_ROOT)
    results = []
    for port in ports:
        port_inodes = inodes.get(port, set())
        pids = sorted(set(pid for inode in port_inodes for pid in owners.get(inode, [])))
        processes = []
        for pid in pids:
            program = None
            for ancestor in procfs.ancestors(pid, PROC_ROOT):
                if ancestor in genesis_pids:
                    program = genesis_pids[ancestor]
                    break
            processes.append(dict(pid=pid, name=procfs.process_name(pid, PROC_ROOT), genesis_program=program))
        listening = bool(port_inodes)
        owner_visible = bool(pids) or not listening
        entry = dict(port=port, listening=listening, owner_visible=owner_visible, processes=processes,
                     genesis_child=None, conflict=None)
        if not listening:
            entry["genesis_child"] = False
            entry["conflict"] = False
        elif pids and known:
            entry["genesis_child"] = all(p["genesis_program"] for p in processes)
            # a listener we could not see (complete is False) leaves the answer open only when none was identified
            entry["conflict"] = not entry["genesis_child"]
        if listening and not pids and not complete:
            entry["owner_visible"] = False
        results.append(entry)
    return results


def log_evidence(path, count):
    info = dict(path=path, exists=os.path.exists(path), lines=[], last_initialized_at=None, last_heartbeat_at=None, error=None)
    if not info["exists"]:
        info["error"] = "%s does not exist." % path
        return info
    try:
        info["lines"] = genesis_logs.tail(path, count)
        last = genesis_logs.last_occurrences(path, [INITIALIZED, HEARTBEAT])
        info["last_initialized_at"] = last[INITIALIZED]
        info["last_heartbeat_at"] = last[HEARTBEAT]
    except (IOError, OSError) as exc:
        info["error"] = "%s could not be read: %s." % (path, exc.strerror or exc)
    return info


def resources(home):
    info = dict(loadavg=procfs.loadavg(PROC_ROOT), cpu_count=os.cpu_count(), memory=procfs.meminfo(PROC_ROOT), disk=None,
                error=None)
    try:
        info["disk"] = procfs.disk_usage(home)
    except OSError as exc:
        info["error"] = "disk usage of %s could not be read: %s." % (home, exc.strerror or exc)
    return info


def main_program_state(fullname, supervisor_info, log_info, now=None):
    """Did the main program's current run log its start-up line and a heartbeat? (node clock, 2 s slack for
    supervisor's whole-second uptime)."""
    now = time.time() if now is None else now
    state = dict(program=fullname, statename=None, pid=None, started_at=None, initialized_since_start=None,
                 heartbeat_since_start=None)
    programs = (supervisor_info or {}).get("programs") or []
    match = [p for p in programs if p.get("fullname") == fullname]
    if not match:
        return state
    program = match[0]
    state.update(statename=program.get("statename"), pid=program.get("pid"))
    if program.get("statename") != "RUNNING":
        return state
    started = now - int(program.get("uptime") or 0)
    state["started_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started))
    for key, logged in (("initialized_since_start", log_info.get("last_initialized_at")),
                        ("heartbeat_since_start", log_info.get("last_heartbeat_at"))):
        at = parse_iso(logged)
        state[key] = at is not None and at >= started - 2
    return state


def main():
    argument_spec = genesis_common_argument_spec()
    argument_spec.update(
        ports=dict(type="list", elements="int", default=[8080]),
        log_lines=dict(type="int", default=100),
        main_program=dict(type="str", default="genesis:genesis"),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    gm = GenesisModule(module, "genesis_health_info")
    ports = module.params["ports"]
    for port in ports:
        if not 1 <= port <= 65535:
            gm.fail("ports must hold TCP ports between 1 and 65535, got %s." % port)
    if not 0 <= module.params["log_lines"] <= 10000:
        gm.fail("log_lines must be between 0 and 10000, got %s." % module.params["log_lines"])
    home = module.params["genesis_home"]

    api_info = api_health(gm)
    log_info = log_evidence(os.path.join(home, ".genesis", "logs", "genesis.log"), module.params["log_lines"])
    result = dict(changed=False, node=gm.node, api=api_info, logs=log_info)
    result["heartbeat"] = heartbeat(gm, api_info, log_info)
    supervisor_info = None
    if is_set(module.params.get("supervisor_socket")):
        supervisor_info = supervisor_programs(gm)
        result["supervisor"] = supervisor_info
        result["main"] = main_program_state(module.params["main_program"], supervisor_info, log_info)
    result["ports"] = port_owners(ports, supervisor_info)
    result["resources"] = resources(home)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
