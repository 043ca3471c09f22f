# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Memory and CPU of supervisor programs from /proc (runbook scenarios 5 and 17), no extra dependency.

A program's usage is that of its process tree (its pid and every descendant), so a program
that forks workers is measured whole. CPU is sampled over a window: `cpu_percent` is the
time on a CPU (utime + stime) over wall time, `cpu_demand_percent` adds the time its threads
waited on a run queue (/proc/<pid>/task/*/schedstat), so a busy host does not hide a
runaway program (a spinning thread demands 100 % of a core even when it gets less).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import math
import os
import re
import time

MIB = 1048576.0
BUDGET_RE = re.compile(r"^memory_budget_mb\s*:\s*([0-9]+(?:\.[0-9]+)?)\s*(?:#.*)?$", re.M)


def now():
    """Monotonic seconds (a function so tests can drive the clock)."""
    return time.monotonic()


def pause(seconds):
    """Sleep (a function so tests can advance a fake /proc instead)."""
    time.sleep(seconds)


def _read(path):
    try:
        with open(path) as handle:
            return handle.read()
    except (IOError, OSError):
        return None


def _stat_fields(pid, proc_root):
    """The fields of /proc/<pid>/stat after the command name (which may hold spaces and parentheses)."""
    content = _read(os.path.join(proc_root, str(pid), "stat"))
    if not content or ")" not in content:
        return None
    return content.rsplit(")", 1)[1].split()


def children_map(proc_root="/proc"):
    """{ppid: [pid, ...]} of every process visible in proc_root."""
    kids = {}
    try:
        entries = os.listdir(proc_root)
    except OSError:
        return kids
    for entry in entries:
        if not entry.isdigit():
            continue
        fields = _stat_fields(entry, proc_root)
        if not fields or len(fields) < 2:
            continue
        try:
            kids.setdefault(int(fields[1]), []).append(int(entry))
        except ValueError:
            continue
    return kids


def tree(pid, kids, limit=512):
    """pid and all its descendants (bounded), pid first."""
    found = [pid]
    index = 0
    while index < len(found) and len(found) < limit:
        for child in sorted(kids.get(found[index], [])):
            if child not in found:
                found.append(child)
        index += 1
    return found


def rss_bytes(pid, proc_root="/proc"):
    """Resident set size of one process from /proc/<pid>/statm, 0 when it is gone."""
    content = _read(os.path.join(proc_root, str(pid), "statm"))
    try:
        return int(content.split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, IndexError, ValueError):
        return 0


def tree_rss_bytes(pid, kids, proc_root="/proc"):
    return sum(rss_bytes(p, proc_root) for p in tree(pid, kids))


def cpu_counters(pid, proc_root="/proc"):
    """(cpu seconds, run-queue wait seconds or None) of one process, all its threads together."""
    fields = _stat_fields(pid, proc_root)
    if not fields or len(fields) < 13:
        return None
    try:
        ticks = int(fields[11]) + int(fields[12])
    except ValueError:
        return None
    cpu_s = ticks / float(os.sysconf("SC_CLK_TCK"))
    wait_s = None
    task_dir = os.path.join(proc_root, str(pid), "task")
    try:
        tasks = os.listdir(task_dir)
    except OSError:
        tasks = []
    for task in tasks:
        content = _read(os.path.join(task_dir, task, "schedstat"))
        if not content:
            continue
        try:
            wait_s = (wait_s or 0.0) + int(content.split()[1]) / 1e9
        except (IndexError, ValueError):
            continue
    return cpu_s, wait_s


def tree_cpu_counters(pid, kids, proc_root="/proc"):
    """{pid: (cpu seconds, wait seconds)} of a program's process tree."""
    counters = {}
    for member in tree(pid, kids):
        value = cpu_counters(member, proc_root)
        if value is not None:
            counters[member] = value
    return counters


def cpu_usage(before, after, elapsed):
    """cpu_percent and cpu_demand_percent (percent of one core) between two tree_cpu_counters samples.

    Only processes present in both samples count (a process born or gone in between is skipped).
    """
    elapsed = max(elapsed, 1e-6)
    cpu = 0.0
    wait = 0.0
    have_wait = False
    for pid, (cpu_a, wait_a) in before.items():
        if pid not in after:
            continue
        cpu_b, wait_b = after[pid]
        cpu += max(0.0, cpu_b - cpu_a)
        if wait_a is not None and wait_b is not None:
            wait += max(0.0, wait_b - wait_a)
            have_wait = True
    cpu_percent = round(100.0 * cpu / elapsed, 1)
    demand = round(100.0 * (cpu + wait) / elapsed, 1) if have_wait else cpu_percent
    return cpu_percent, max(cpu_percent, demand)


def sample_cpu(pids, window, proc_root="/proc"):
    """({name: (cpu_percent, cpu_demand_percent)}, elapsed seconds) of named process trees over `window` seconds."""
    kids = children_map(proc_root)
    first = dict((name, tree_cpu_counters(pid, kids, proc_root)) for name, pid in pids.items())
    start = now()
    pause(window)
    elapsed = now() - start
    kids = children_map(proc_root)
    usage = {}
    for name, pid in pids.items():
        usage[name] = cpu_usage(first[name], tree_cpu_counters(pid, kids, proc_root), elapsed)
    return usage, round(elapsed, 3)


def memory_budget_mb(genesis_home):
    """(budget MB, path) from `memory_budget_mb` in <genesis_home>/config/node.yaml; budget None when absent."""
    path = os.path.join(genesis_home or "/app", "config", "node.yaml")
    content = _read(path)
    if content is None:
        return None, path
    match = BUDGET_RE.search(content)
    return (float(match.group(1)) if match else None), path


def slope_per_minute(points):
    """Least-squares slope (units per minute) of [(seconds, value), ...]; None with fewer than 2 points."""
    if len(points) < 2:
        return None
    n = float(len(points))
    mean_t = sum(p[0] for p in points) / n
    mean_v = sum(p[1] for p in points) / n
    var = sum((p[0] - mean_t) ** 2 for p in points)
    if var <= 0:
        return None
    cov = sum((p[0] - mean_t) * (p[1] - mean_v) for p in points)
    return round(60.0 * cov / var, 2)


def percentile(values, fraction):
    """Nearest-rank percentile (fraction 0..1) of numbers; None for an empty list."""
    ordered = sorted(v for v in values if v is not None)
    if not ordered:
        return None
    rank = max(1, int(math.ceil(fraction * len(ordered))))
    return ordered[min(rank, len(ordered)) - 1]


def median(values):
    ordered = sorted(v for v in values if v is not None)
    if not ordered:
        return None
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return round((ordered[middle - 1] + ordered[middle]) / 2.0, 1)
