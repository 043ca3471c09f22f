#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: genesis_performance_info
short_description: Gather the evidence of a genesis node's performance degradation (runbook scenario 17)
version_added: 0.1.0
description:
  - Samples the CPU of every supervisor program (its whole process tree) over O(cpu_window) seconds from C(/proc).
    C(cpu_percent) is the time on a CPU over wall time; C(cpu_demand_percent) adds the time the program's threads
    waited for a CPU (C(/proc/<pid>/task/*/schedstat)), so a busy host does not hide a runaway program.
    A program of O(group) whose demand is above O(cpu_threshold_percent) is hot (RV(hot_programs)).
  - Times up to O(samples) requests to each of O(endpoints) of the control API (authenticated with O(api_key) except
    the public health paths, never retried) and compares each endpoint's median with O(response_threshold_ms)
    (RV(slow_endpoints)).
  - Measures order latency from the database when O(db_dsn) is set (C(executed_at - created_at) of the orders created
    in the last O(orders_window) seconds) and counts PENDING orders older than O(pending_older_than) seconds.
  - With O(profile=auto), dumps the Python stacks of each hot program with C(py-spy dump --nonblocking) when
    C(py-spy) is installed on the node (a read-only snapshot that does not pause the program); otherwise says why
    there is no profile.
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
  group:
    description:
      - The supervisor group whose programs can be hot (the programs of other groups are measured as evidence only).
    type: str
    default: genesis
  cpu_window:
    description:
      - Seconds over which CPU is sampled (0.5 to 60).
    type: float
    default: 2.0
  cpu_threshold_percent:
    description:
      - CPU demand (percent of one core) above which a program is hot; the runbook's detection is 80, its recovery 60.
    type: float
    default: 80
  endpoints:
    description:
      - Control API paths to time (C(GET)). C(/health), C(/health/live), C(/health/ready) and C(/metrics) are sent
        without the API key; the others with it.
    type: list
    elements: str
    default: [/health, /account/status, /positions]
  samples:
    description:
      - Requests timed per endpoint (1 to 20). Sampling an endpoint stops early once more than half of O(samples)
        are on the same side of O(response_threshold_ms), since the median is then decided.
    type: int
    default: 3
  response_timeout:
    description:
      - Seconds a timed request may take (above O(response_threshold_ms), at most 300). A request that times out
        counts as this long, a lower bound of its real time.
    type: float
    default: 5
  response_threshold_ms:
    description:
      - Median response time (ms) above which an endpoint is slow; the runbook's detection is 1000, its recovery 500.
    type: float
    default: 1000
  orders_window:
    description:
      - Seconds of order history whose latency is measured (10 to 86400).
    type: int
    default: 120
  pending_older_than:
    description:
      - A PENDING order older than this many seconds counts as stuck.
    type: int
    default: 30
  order_latency_threshold_ms:
    description:
      - 95th percentile of order latency (ms) above which order latency is not normal.
    type: float
    default: 2000
  profile:
    description:
      - C(auto) profiles each hot program with C(py-spy dump --nonblocking) when C(py-spy) is on the node;
        C(never) skips it.
    type: str
    choices: [auto, never]
    default: auto
  profile_lines:
    description:
      - Lines of each profile kept in the result (1 to 500).
    type: int
    default: 60
notes:
  - Needs O(supervisor_socket) and O(api_key); O(db_dsn) for the order latency.
'''

EXAMPLES = r'''
- name: Gather the performance evidence
  genesis.runbook.genesis_performance_info:
    supervisor_socket: /app/.genesis/supervisor.sock
    api_key: "{{ genesis_api_key }}"
    db_dsn: "{{ genesis_db_dsn }}"
  register: perf

- name: Which programs burn CPU, which endpoints are slow
  ansible.builtin.debug:
    msg: "hot {{ perf.hot_programs }}, slow {{ perf.slow_endpoints }}, order p95 {{ perf.orders.p95_ms }} ms"
'''

RETURN = r'''
programs:
  description: Per supervisor program (C(group:name)), its state, pid, supervisorctl name and CPU over the window.
  returned: always
  type: dict
  sample: {"genesis:strategies": {statename: RUNNING, pid: 4245, ctl_name: "genesis:strategies", group: genesis,
           cpu_percent: 85.9, cpu_demand_percent: 100.1, hot: true}}
cpu_window_s:
  description: The measured CPU window in seconds.
  returned: always
  type: float
  sample: 2.001
hot_programs:
  description: Programs of O(group) whose CPU demand is above O(cpu_threshold_percent).
  returned: always
  type: list
  elements: str
  sample: ["genesis:strategies"]
hot_restart_names:
  description: RV(hot_programs) as supervisorctl names them (C(genesis) for the program C(genesis:genesis)).
  returned: always
  type: list
  elements: str
  sample: ["genesis:strategies"]
responses:
  description: Per endpoint, the timed samples (ms), their median and maximum, the last HTTP status, the errors and
    how many requests timed out.
  returned: always
  type: dict
  sample: {"/account/status": {samples_ms: [3297.4, 1761.9], median_ms: 2529.7, max_ms: 3297.4, status: 200,
           errors: [], timeouts: 0, slow: true}}
slow_endpoints:
  description: Endpoints whose median is above O(response_threshold_ms), or that did not answer.
  returned: always
  type: list
  elements: str
  sample: ["/account/status", "/positions"]
max_median_ms:
  description: The highest median over the endpoints; null when none answered.
  returned: always
  type: float
  sample: 2010.3
orders:
  description: Order latency over the window (C(count), C(filled), C(p50_ms), C(p95_ms), C(max_ms)), stuck PENDING
    orders (C(stuck_pending)), whether latency is normal (C(latency_ok)), or the database error (C(error)).
  returned: always
  type: dict
  sample: {window_s: 120, count: 31, filled: 30, p50_ms: 473.0, p95_ms: 478.1, max_ms: 481.0, stuck_pending: 0,
           latency_ok: true, error: null}
profile:
  description: Per hot program, the profiler's output lines, or why there is no profile (C(tool), C(reason)).
  returned: always
  type: dict
  sample: {tool: null, reason: "py-spy is not installed on the node", programs: {}}
degraded:
  description: Whether a program is hot or an endpoint is slow.
  returned: always
  type: bool
  sample: true
reasons:
  description: One sentence per finding.
  returned: always
  type: list
  elements: str
  sample: ["genesis:strategies uses 100.1 % of a core (threshold 80 %).",
           "GET /account/status answers in 2529.7 ms (median of 2; threshold 1000 ms)."]
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.genesis.runbook.plugins.module_utils._common import GenesisModule, genesis_common_argument_spec, is_set
from ansible_collections.genesis.runbook.plugins.module_utils.api import GenesisApi, GenesisApiError
from ansible_collections.genesis.runbook.plugins.module_utils.db import GenesisDbError
from ansible_collections.genesis.runbook.plugins.module_utils.supervisor import GenesisSupervisorError, SupervisorClient
from ansible_collections.genesis.runbook.plugins.module_utils import process_usage

PROC_ROOT = "/proc"
PUBLIC_PATHS = ("/health", "/health/live", "/health/ready", "/metrics")

LATENCY_SQL = (
    "SELECT status, EXTRACT(EPOCH FROM (executed_at - created_at)) * 1000.0 AS latency_ms FROM orders "
    "WHERE created_at > now() - make_interval(secs => %s)")
STUCK_SQL = "SELECT count(*) AS n FROM orders WHERE status = 'PENDING' AND created_at < now() - make_interval(secs => %s)"


def ctl_name(record):
    if record.get("ctl_name"):
        return record["ctl_name"]
    name, group = record.get("name"), record.get("group")
    return name if not group or group == name else "%s:%s" % (group, name)


def measure_cpu(gm, socket_path, group, window, threshold):
    try:
        records = SupervisorClient(socket_path, timeout=gm.timeout).get_all_process_info()
    except GenesisSupervisorError as exc:
        gm.fail(exc.message)
    if not any(r.get("group") == group for r in records):
        gm.fail("supervisord socket %s has no program in group %s (check group, role variable performance_tune_group)."
                % (socket_path, group))
    pids = dict((r["fullname"], r["pid"]) for r in records if r.get("statename") == "RUNNING" and r.get("pid"))
    usage, elapsed = process_usage.sample_cpu(pids, window, PROC_ROOT)
    programs = {}
    for record in records:
        name = record["fullname"]
        cpu, demand = usage.get(name, (None, None))
        programs[name] = dict(statename=record.get("statename"), pid=pids.get(name), ctl_name=ctl_name(record),
                              group=record.get("group"), cpu_percent=cpu, cpu_demand_percent=demand,
                              hot=bool(record.get("group") == group and demand is not None and demand > threshold))
    return programs, elapsed


def time_endpoints(gm, endpoints, samples, threshold, timeout):
    """Time each endpoint up to `samples` times; stop once the median is decided (more than half on one side).

    A request that times out counts as `timeout` (a lower bound of its real time); one that gets no answer
    at all is an error, not a sample.
    """
    # retries=0: a retried request would hide the time it really took
    api = GenesisApi(gm.params["api_url"], api_key=gm.params.get("api_key"), timeout=timeout, retries=0)
    responses = {}
    for path in endpoints:
        entry = dict(samples_ms=[], median_ms=None, max_ms=None, status=None, errors=[], timeouts=0, slow=False)
        for dummy in range(samples):
            try:
                answer = api.get(path, auth=path.split("?")[0] not in PUBLIC_PATHS)
                entry["status"] = answer.status
                entry["samples_ms"].append(answer.elapsed_ms)
            except GenesisApiError as exc:
                if exc.status == 401:
                    gm.fail(exc.message)
                entry["errors"].append(exc.message)
                entry["status"] = exc.status
                if exc.unreachable and "timed out" in exc.message:
                    entry["timeouts"] += 1
                    entry["samples_ms"].append(round(timeout * 1000.0, 1))
            slow = len([v for v in entry["samples_ms"] if v > threshold])
            fast = len(entry["samples_ms"]) - slow
            if max(slow, fast) > samples // 2:
                break
        entry["median_ms"] = process_usage.median(entry["samples_ms"])
        entry["max_ms"] = max(entry["samples_ms"]) if entry["samples_ms"] else None
        entry["slow"] = entry["median_ms"] is None or entry["median_ms"] > threshold
        responses[path] = entry
    return responses


def order_latency(gm, window, pending_older_than, threshold):
    info = dict(window_s=window, count=0, filled=0, p50_ms=None, p95_ms=None, max_ms=None, stuck_pending=None,
                latency_ok=None, error=None)
    if not is_set(gm.params.get("db_dsn")):
        info["error"] = "db_dsn (inventory variable genesis_db_dsn) is not set, so order latency was not measured."
        return info
    db = gm.db("measure order latency")
    try:
        rows = db.query(LATENCY_SQL, (window,), what="reading recent order latencies")
        stuck = db.query(STUCK_SQL, (pending_older_than,), what="counting stuck PENDING orders")
    except GenesisDbError as exc:
        info["error"] = gm.clean(exc.message)
        return info
    finally:
        db.close()
    latencies = [round(float(r["latency_ms"]), 1) for r in rows if r.get("latency_ms") is not None]
    info.update(count=len(rows), filled=len(latencies), p50_ms=process_usage.percentile(latencies, 0.5),
                p95_ms=process_usage.percentile(latencies, 0.95), max_ms=max(latencies) if latencies else None,
                stuck_pending=int(stuck[0]["n"]))
    info["latency_ok"] = info["stuck_pending"] == 0 and (info["p95_ms"] is None or info["p95_ms"] <= threshold)
    return info


def profile_programs(module, programs, names, lines):
    info = dict(tool=None, reason=None, programs={})
    if not names:
        info["reason"] = "no program is hot"
        return info
    tool = module.get_bin_path("py-spy")
    if not tool:
        info["reason"] = "py-spy is not installed on the node"
        return info
    info["tool"] = tool
    for name in names:
        pid = programs[name]["pid"]
        rc, out, err = module.run_command([tool, "dump", "--nonblocking", "--pid", str(pid)])
        text = out if rc == 0 else (err or out or "py-spy exited with %s" % rc)
        info["programs"][name] = dict(pid=pid, rc=rc, lines=text.splitlines()[:lines])
    return info


def main():
    argument_spec = genesis_common_argument_spec()
    argument_spec.update(
        group=dict(type="str", default="genesis"),
        cpu_window=dict(type="float", default=2.0),
        cpu_threshold_percent=dict(type="float", default=80),
        endpoints=dict(type="list", elements="str", default=["/health", "/account/status", "/positions"]),
        samples=dict(type="int", default=3),
        response_threshold_ms=dict(type="float", default=1000),
        response_timeout=dict(type="float", default=5),
        orders_window=dict(type="int", default=120),
        pending_older_than=dict(type="int", default=30),
        order_latency_threshold_ms=dict(type="float", default=2000),
        profile=dict(type="str", choices=["auto", "never"], default="auto"),
        profile_lines=dict(type="int", default=60),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    gm = GenesisModule(module, "genesis_performance_info")
    p = module.params
    if not (p["group"] or "").strip():
        gm.fail("group is empty: name the supervisor group whose programs can be hot.")
    if not 0.5 <= p["cpu_window"] <= 60:
        gm.fail("cpu_window must be between 0.5 and 60 seconds, got %s." % p["cpu_window"])
    if not 0 < p["cpu_threshold_percent"] <= 6400:
        gm.fail("cpu_threshold_percent must be above 0 (percent of one core), got %s." % p["cpu_threshold_percent"])
    if not p["endpoints"] or any(not str(e).startswith("/") for e in p["endpoints"]):
        gm.fail("endpoints must be a non-empty list of control API paths starting with /, got %s." % p["endpoints"])
    if not 1 <= p["samples"] <= 20:
        gm.fail("samples must be between 1 and 20, got %s." % p["samples"])
    for option in ("response_threshold_ms", "order_latency_threshold_ms"):
        if p[option] <= 0:
            gm.fail("%s must be above 0 ms, got %s." % (option, p[option]))
    if not p["response_threshold_ms"] / 1000.0 < p["response_timeout"] <= 300:
        gm.fail("response_timeout must be above response_threshold_ms (%s ms) and at most 300 seconds, got %s."
                % (p["response_threshold_ms"], p["response_timeout"]))
    if not 10 <= p["orders_window"] <= 86400:
        gm.fail("orders_window must be between 10 and 86400 seconds, got %s." % p["orders_window"])
    if p["pending_older_than"] < 0:
        gm.fail("pending_older_than must be 0 or more seconds, got %s." % p["pending_older_than"])
    if not 1 <= p["profile_lines"] <= 500:
        gm.fail("profile_lines must be between 1 and 500, got %s." % p["profile_lines"])
    socket_path = gm.require("supervisor_socket", "list the programs whose CPU it samples")
    gm.require("api_key", "time the control API's authenticated endpoints")
    group = p["group"].strip()

    programs, elapsed = measure_cpu(gm, socket_path, group, p["cpu_window"], p["cpu_threshold_percent"])
    responses = time_endpoints(gm, p["endpoints"], p["samples"], p["response_threshold_ms"], p["response_timeout"])
    orders = order_latency(gm, p["orders_window"], p["pending_older_than"], p["order_latency_threshold_ms"])
    hot = sorted(name for name, info in programs.items() if info["hot"])
    slow = [path for path in p["endpoints"] if responses[path]["slow"]]
    medians = [r["median_ms"] for r in responses.values() if r["median_ms"] is not None]
    reasons = []
    for name in hot:
        reasons.append("%s uses %s %% of a core (threshold %g %%)." % (name, programs[name]["cpu_demand_percent"], p["cpu_threshold_percent"]))
    for path in slow:
        entry = responses[path]
        if entry["median_ms"] is None:
            reasons.append("GET %s did not answer: %s" % (path, entry["errors"][-1] if entry["errors"] else "no sample."))
        else:
            reasons.append("GET %s answers in %s ms (median of %d%s; threshold %g ms)."
                           % (path, entry["median_ms"], len(entry["samples_ms"]),
                              ", %d timed out after %g s" % (entry["timeouts"], p["response_timeout"]) if entry["timeouts"] else "",
                              p["response_threshold_ms"]))
    profile = dict(tool=None, reason="profile=never", programs={})
    if p["profile"] == "auto":
        profile = profile_programs(module, programs, hot, p["profile_lines"])
    module.exit_json(changed=False, programs=programs, cpu_window_s=elapsed, hot_programs=hot,
                     hot_restart_names=[programs[name]["ctl_name"] for name in hot], responses=responses,
                     slow_endpoints=slow, max_median_ms=max(medians) if medians else None, orders=orders,
                     profile=profile, degraded=bool(hot or slow), reasons=reasons)


if __name__ == "__main__":
    main()
