#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: genesis_memory_info
short_description: Measure the memory of a genesis node's programs against its budget (runbook scenario 5)
version_added: 0.1.0
description:
  - Lists the programs of the supervisor group O(group) through supervisord's socket and reads the resident memory
    (RSS) of each program's process tree from C(/proc).
  - Compares the group's total with the node's memory budget, C(memory_budget_mb) of C(<genesis_home>/config/node.yaml)
    unless O(budget_mb) is given.
  - Samples the total O(samples) times, O(interval) seconds apart, and fits a least-squares line through the samples
    to tell whether memory is still growing.
  - Names the programs that hold the excess in RV(excess_programs) (and in RV(restart_names) as supervisorctl names
    them), the largest programs first, until the programs left would be within O(target_percent) of the budget.
  - Reads C(genesis_memory_usage_bytes) from the public C(GET /metrics) of the control API as a cross-check; an
    unreachable API is recorded in RV(metrics), not a failure.
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
      - The supervisor group whose programs count against the budget.
    type: str
    default: genesis
  budget_mb:
    description:
      - The memory budget in MB. C(0) reads C(memory_budget_mb) from C(<genesis_home>/config/node.yaml).
    type: float
    default: 0
  threshold_percent:
    description:
      - Percentage of the budget above which memory is over the limit (RV(over_threshold)); the runbook's detection is 90.
    type: float
    default: 90
  target_percent:
    description:
      - Percentage of the budget the node must be under once recovered (RV(within_target)); the runbook's is 50.
    type: float
    default: 50
  samples:
    description:
      - How many times the total is sampled (1 to 120). The trend needs at least 2.
    type: int
    default: 3
  interval:
    description:
      - Seconds between two samples (0.1 to 60).
    type: float
    default: 1.0
  max_growth_mb_per_min:
    description:
      - Growth of the total (MB per minute, least-squares over the samples) above which memory counts as growing.
    type: float
    default: 10
notes:
  - Needs O(supervisor_socket). Reading another user's C(/proc/<pid>/statm) is allowed on Linux; no become is needed.
'''

EXAMPLES = r'''
- name: Measure the genesis programs against the node's budget
  genesis.runbook.genesis_memory_info:
    supervisor_socket: /app/.genesis/supervisor.sock
    samples: 5
  register: memory

- name: Say which programs hold the excess
  ansible.builtin.debug:
    msg: "{{ memory.percent_of_budget }} % of {{ memory.budget_mb }} MB; restart {{ memory.excess_programs }}"
  when: memory.over_threshold
'''

RETURN = r'''
budget_mb:
  description: The memory budget compared against, in MB.
  returned: always
  type: float
  sample: 400.0
budget_source:
  description: Where the budget came from (C(budget_mb) or the node.yaml path).
  returned: always
  type: str
  sample: /app/config/node.yaml
programs:
  description: Per program of the group (C(group:name)), its state, pid, RSS in MB and its share of the budget.
  returned: always
  type: dict
  sample: {"genesis:genesis": {statename: RUNNING, pid: 4242, ctl_name: genesis, rss_mb: 390.2, percent_of_budget: 97.6}}
total_rss_mb:
  description: RSS of all the group's programs together at the last sample, in MB.
  returned: always
  type: float
  sample: 513.1
percent_of_budget:
  description: RV(total_rss_mb) as a percentage of RV(budget_mb).
  returned: always
  type: float
  sample: 128.3
over_threshold:
  description: Whether RV(percent_of_budget) is above O(threshold_percent).
  returned: always
  type: bool
  sample: true
within_target:
  description: Whether RV(percent_of_budget) is below O(target_percent).
  returned: always
  type: bool
  sample: false
samples:
  description: The sampled totals, C(t_s) seconds after the first sample.
  returned: always
  type: list
  elements: dict
  sample: [{t_s: 0.0, total_rss_mb: 480.3}, {t_s: 1.0, total_rss_mb: 500.1}, {t_s: 2.0, total_rss_mb: 513.1}]
growth_mb_per_min:
  description: Least-squares growth of the total over the samples in MB per minute; null with a single sample.
  returned: always
  type: float
  sample: 1098.0
growing:
  description: Whether RV(growth_mb_per_min) is above O(max_growth_mb_per_min).
  returned: always
  type: bool
  sample: true
excess_programs:
  description: The programs holding the excess, biggest first (empty when the group is within O(target_percent)).
  returned: always
  type: list
  elements: str
  sample: ["genesis:genesis"]
restart_names:
  description:
    - RV(excess_programs) as supervisorctl names them (and M(community.general.supervisorctl) takes them)
      - C(genesis) for the program C(genesis:genesis), whose group has its name.
  returned: always
  type: list
  elements: str
  sample: ["genesis"]
not_running:
  description: Programs of the group that are not RUNNING (they use no memory and are not restarted by scenario 5).
  returned: always
  type: list
  elements: str
  sample: []
reasons:
  description: One sentence per finding (over the threshold, growing); empty when memory is fine.
  returned: always
  type: list
  elements: str
  sample: ["The genesis programs use 513.1 MB, 128.3 % of the 400 MB budget (threshold 90 %)."]
metrics:
  description: C(genesis_memory_usage_bytes) from C(GET /metrics) (the main process's own RSS), or the error sentence.
  returned: always
  type: dict
  sample: {genesis_memory_usage_bytes: 409219072, error: null}
'''

import re

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.genesis.runbook.plugins.module_utils._common import GenesisModule, clause, genesis_common_argument_spec
from ansible_collections.genesis.runbook.plugins.module_utils._http import HttpConnectionError, http_call
from ansible_collections.genesis.runbook.plugins.module_utils.supervisor import GenesisSupervisorError, SupervisorClient
from ansible_collections.genesis.runbook.plugins.module_utils import process_usage

PROC_ROOT = "/proc"
METRIC_RE = re.compile(r"^genesis_memory_usage_bytes\s+([0-9.eE+]+)\s*$", re.M)


def mb(value):
    return round(value / process_usage.MIB, 1)


def excess_programs(rss_by_program, budget, target_percent):
    """Biggest programs first until the programs left would be under target_percent of the budget (same unit as rss)."""
    limit = budget * target_percent / 100.0
    left = sum(rss_by_program.values())
    chosen = []
    for name, rss in sorted(rss_by_program.items(), key=lambda item: (-item[1], item[0])):
        if left < limit:
            break
        chosen.append(name)
        left -= rss
    return chosen


def ctl_name(record):
    """The name supervisorctl shows and takes: "genesis" for program genesis of group genesis."""
    if record.get("ctl_name"):
        return record["ctl_name"]
    name, group = record.get("name"), record.get("group")
    return name if not group or group == name else "%s:%s" % (group, name)


def read_metrics(gm):
    """genesis_memory_usage_bytes from the public GET /metrics (Prometheus text, so not through the JSON client)."""
    api = gm.api()
    info = dict(genesis_memory_usage_bytes=None, error=None)
    try:
        result = http_call(api.url("/metrics"), method="GET", headers={"Accept": "text/plain"}, timeout=gm.timeout,
                           use_proxy=False)
    except HttpConnectionError as exc:
        info["error"] = "Control API GET %s/metrics is unreachable: %s." % (api.endpoint, clause(exc.reason))
        return info
    if result.status != 200:
        info["error"] = "Control API GET %s/metrics answered HTTP %s." % (api.endpoint, result.status)
        return info
    body = result.body.decode("utf-8", "replace") if isinstance(result.body, bytes) else str(result.body)
    match = METRIC_RE.search(body)
    if match:
        info["genesis_memory_usage_bytes"] = int(float(match.group(1)))
    else:
        info["error"] = "Control API GET %s/metrics has no genesis_memory_usage_bytes line." % api.endpoint
    return info


def main():
    argument_spec = genesis_common_argument_spec()
    argument_spec.update(
        group=dict(type="str", default="genesis"),
        budget_mb=dict(type="float", default=0),
        threshold_percent=dict(type="float", default=90),
        target_percent=dict(type="float", default=50),
        samples=dict(type="int", default=3),
        interval=dict(type="float", default=1.0),
        max_growth_mb_per_min=dict(type="float", default=10),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    gm = GenesisModule(module, "genesis_memory_info")
    params = module.params
    if not (params["group"] or "").strip():
        gm.fail("group is empty: name the supervisor group whose programs count against the budget.")
    if params["budget_mb"] < 0:
        gm.fail("budget_mb must be 0 (read node.yaml) or a positive number of MB, got %s." % params["budget_mb"])
    for option in ("threshold_percent", "target_percent"):
        if not 0 < params[option] <= 1000:
            gm.fail("%s must be above 0 and at most 1000, got %s." % (option, params[option]))
    if params["target_percent"] >= params["threshold_percent"]:
        gm.fail("target_percent (%s) must be below threshold_percent (%s)." % (params["target_percent"], params["threshold_percent"]))
    if not 1 <= params["samples"] <= 120:
        gm.fail("samples must be between 1 and 120, got %s." % params["samples"])
    if not 0.1 <= params["interval"] <= 60:
        gm.fail("interval must be between 0.1 and 60 seconds, got %s." % params["interval"])
    if params["max_growth_mb_per_min"] < 0:
        gm.fail("max_growth_mb_per_min must be 0 or more, got %s." % params["max_growth_mb_per_min"])
    socket_path = gm.require("supervisor_socket", "list the programs whose memory it measures")

    budget = params["budget_mb"]
    source = "budget_mb"
    if not budget:
        budget, source = process_usage.memory_budget_mb(params["genesis_home"])
        if not budget:
            gm.fail("No memory budget: %s has no memory_budget_mb; set budget_mb (role variable memory_cleanup_budget_mb)." % source)

    client = SupervisorClient(socket_path, timeout=gm.timeout)
    group = params["group"].strip()
    points = []
    rss = {}
    programs = {}
    start = process_usage.now()
    for index in range(params["samples"]):
        if index:
            process_usage.pause(params["interval"])
        try:
            records = [p for p in client.get_all_process_info() if p.get("group") == group]
        except GenesisSupervisorError as exc:
            gm.fail(exc.message)
        if not records:
            gm.fail("supervisord socket %s has no program in group %s (check group, role variable memory_cleanup_group)."
                    % (socket_path, group))
        kids = process_usage.children_map(PROC_ROOT)
        rss = {}
        programs = {}
        for record in records:
            pid = record.get("pid") if record.get("statename") == "RUNNING" else None
            value = process_usage.tree_rss_bytes(pid, kids, PROC_ROOT) if pid else 0
            rss[record["fullname"]] = value
            programs[record["fullname"]] = dict(statename=record.get("statename"), pid=pid, ctl_name=ctl_name(record),
                                                rss_mb=mb(value), percent_of_budget=round(100.0 * mb(value) / budget, 1))
        points.append((round(process_usage.now() - start, 3), mb(sum(rss.values()))))

    total_mb = points[-1][1]
    percent = round(100.0 * total_mb / budget, 1)
    growth = process_usage.slope_per_minute(points)
    growing = growth is not None and growth > params["max_growth_mb_per_min"]
    over = percent > params["threshold_percent"]
    reasons = []
    if over:
        biggest = sorted(programs.items(), key=lambda item: -item[1]["rss_mb"])[0]
        reasons.append("The %s programs use %s MB, %s %% of the %g MB budget (threshold %g %%); the largest is %s with %s MB."
                       % (group, total_mb, percent, budget, params["threshold_percent"], biggest[0], biggest[1]["rss_mb"]))
    if growing:
        reasons.append("Memory of the %s programs grows by %s MB per minute (limit %g) over %d samples."
                       % (group, growth, params["max_growth_mb_per_min"], len(points)))
    excess = excess_programs(rss, budget * process_usage.MIB, params["target_percent"])
    result = dict(
        changed=False, budget_mb=budget, budget_source=source, programs=programs, total_rss_mb=total_mb,
        percent_of_budget=percent, over_threshold=over, within_target=percent < params["target_percent"],
        samples=[dict(t_s=t, total_rss_mb=v) for t, v in points], growth_mb_per_min=growth, growing=growing,
        excess_programs=excess, restart_names=[programs[name]["ctl_name"] for name in excess],
        not_running=sorted(name for name, info in programs.items() if info["statename"] != "RUNNING"),
        reasons=reasons, metrics=read_metrics(gm))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
