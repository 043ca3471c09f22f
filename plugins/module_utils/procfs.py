# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Linux /proc readers: listening sockets and their processes, memory, load (no extra dependency)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

TCP_LISTEN = "0A"


def _read(path):
    try:
        with open(path) as handle:
            return handle.read()
    except (IOError, OSError):
        return None


def listening_inodes(ports, proc_root="/proc"):
    """{port: set(socket inode)} of TCP sockets in LISTEN on those ports (IPv4 and IPv6)."""
    wanted = set(int(p) for p in ports)
    found = dict((port, set()) for port in wanted)
    for table in ("tcp", "tcp6"):
        content = _read(os.path.join(proc_root, "net", table))
        if not content:
            continue
        for line in content.splitlines()[1:]:
            fields = line.split()
            if len(fields) < 10 or fields[3] != TCP_LISTEN:
                continue
            try:
                port = int(fields[1].rsplit(":", 1)[1], 16)
            except (IndexError, ValueError):
                continue
            if port in wanted:
                found[port].add(fields[9])
    return found


def socket_owners(inodes, proc_root="/proc"):
    """{inode: sorted pids} for the inodes, from /proc/<pid>/fd (processes we may not inspect are skipped).

    Returns (owners, complete): complete is False when some process's fds could not be read.
    """
    targets = set("socket:[%s]" % inode for inode in inodes)
    owners = dict((inode, set()) for inode in inodes)
    complete = True
    if not targets:
        return dict((k, []) for k in owners), complete
    try:
        entries = os.listdir(proc_root)
    except OSError:
        return dict((k, []) for k in owners), False
    for entry in entries:
        if not entry.isdigit():
            continue
        fd_dir = os.path.join(proc_root, entry, "fd")
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            complete = False
            continue
        for fd in fds:
            try:
                link = os.readlink(os.path.join(fd_dir, fd))
            except OSError:
                continue
            if link in targets:
                owners[link[8:-1]].add(int(entry))
    return dict((k, sorted(v)) for k, v in owners.items()), complete


def process_name(pid, proc_root="/proc"):
    name = _read(os.path.join(proc_root, str(pid), "comm"))
    return name.strip() if name else None


def parent_pid(pid, proc_root="/proc"):
    stat = _read(os.path.join(proc_root, str(pid), "stat"))
    if not stat:
        return None
    try:
        # the name is in parentheses and may contain spaces: split after the last ')'
        return int(stat.rsplit(")", 1)[1].split()[1])
    except (IndexError, ValueError):
        return None


def ancestors(pid, proc_root="/proc", limit=16):
    """pid, its parent, grandparent... up to init (bounded)."""
    chain = []
    current = pid
    while current and current not in chain and len(chain) < limit:
        chain.append(current)
        current = parent_pid(current, proc_root)
        if current in (0, 1):
            break
    return chain


def meminfo(proc_root="/proc"):
    """MemTotal/MemAvailable in MiB and the used percentage, or None."""
    content = _read(os.path.join(proc_root, "meminfo"))
    if not content:
        return None
    values = {}
    for line in content.splitlines():
        parts = line.replace(":", " ").split()
        if len(parts) >= 2 and parts[1].isdigit():
            values[parts[0]] = int(parts[1])
    total = values.get("MemTotal")
    available = values.get("MemAvailable", values.get("MemFree"))
    if not total or available is None:
        return None
    return dict(total_mb=round(total / 1024.0, 1), available_mb=round(available / 1024.0, 1),
                used_percent=round((total - available) * 100.0 / total, 1))


def loadavg(proc_root="/proc"):
    content = _read(os.path.join(proc_root, "loadavg"))
    if content:
        try:
            return [float(x) for x in content.split()[:3]]
        except ValueError:
            pass
    try:
        return list(os.getloadavg())
    except (OSError, AttributeError):
        return None


def disk_usage(path):
    """Total/used/free MiB and used percentage of the filesystem holding path."""
    stat = os.statvfs(path)
    total = stat.f_blocks * stat.f_frsize
    free = stat.f_bavail * stat.f_frsize
    used = (stat.f_blocks - stat.f_bfree) * stat.f_frsize
    usable = used + free
    return dict(path=path, total_mb=round(total / 1048576.0, 1), used_mb=round(used / 1048576.0, 1),
                free_mb=round(free / 1048576.0, 1), used_percent=round(used * 100.0 / usable, 1) if usable else 0.0)
