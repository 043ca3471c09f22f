# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import socket

import pytest

import genesis_fakes

from ansible_collections.genesis.runbook.plugins.module_utils import logs, procfs
from ansible_collections.genesis.runbook.plugins.module_utils.supervisor import GenesisSupervisorError, SupervisorClient


def test_supervisor_all_process_info(supervisord):
    programs = SupervisorClient(supervisord, timeout=5).get_all_process_info()
    assert programs[0] == dict(name="genesis", group="genesis", fullname="genesis:genesis", ctl_name="genesis",
                               statename="RUNNING", pid=4242,
                               uptime=812, exitstatus=0, spawnerr=None, description="pid 4242, uptime 0:13:32")
    assert programs[1]["pid"] is None and programs[1]["uptime"] == 0 and programs[1]["spawnerr"] == "Exited too quickly"
    assert programs[1]["ctl_name"] == "genesis:executor"
    assert programs[2]["fullname"] == "backup" and programs[2]["ctl_name"] == "backup"


def test_supervisor_process_info_and_fault(supervisord):
    client = SupervisorClient(supervisord)
    assert client.get_process_info("genesis:executor")["statename"] == "FATAL"
    with pytest.raises(GenesisSupervisorError) as caught:
        client.get_process_info("genesis:nope")
    assert str(caught.value) == ("supervisord socket %s answered getProcessInfo(genesis:nope) with fault BAD_NAME: genesis:nope."
                                 % supervisord)


def test_supervisor_unreachable(tmp_path):
    with pytest.raises(GenesisSupervisorError) as caught:
        SupervisorClient(str(tmp_path / "none.sock")).get_all_process_info()
    assert caught.value.unreachable
    assert str(caught.value).startswith("supervisord socket %s is unreachable: " % (tmp_path / "none.sock"))


def test_procfs_listeners_owners_and_ancestors(tmp_path):
    genesis_fakes.make_proc(tmp_path, [(8080, "111", False), (8443, "222", True)],
                            {4242: ("python3", 1, ["111"]), 4300: ("my server", 4242, ["222"]), 5000: ("nginx", 1, [])})
    inodes = procfs.listening_inodes([8080, 8443, 9000], str(tmp_path))
    assert inodes == {8080: {"111"}, 8443: {"222"}, 9000: set()}
    owners, complete = procfs.socket_owners({"111", "222"}, str(tmp_path))
    assert owners == {"111": [4242], "222": [4300]} and complete
    assert procfs.ancestors(4300, str(tmp_path)) == [4300, 4242]
    assert procfs.process_name(4300, str(tmp_path)) == "my server"
    assert procfs.meminfo(str(tmp_path)) == {"total_mb": 3906.2, "available_mb": 976.6, "used_percent": 75.0}
    assert procfs.loadavg(str(tmp_path)) == [0.5, 0.4, 0.3]
    assert procfs.disk_usage(str(tmp_path))["total_mb"] > 0


def test_logs_tail_and_last_occurrences(tmp_path):
    path = tmp_path / "genesis.log"
    lines = [json.dumps({"timestamp": "2026-11-27T18:00:00.000Z", "level": "info", "event": "System initialized successfully"})]
    for i in range(5000):
        lines.append(json.dumps({"timestamp": "2026-11-27T18:%02d:%02d.000Z" % (i // 60 % 60, i % 60), "level": "info",
                                 "event": "Heartbeat sent"}))
    lines.append("2026-11-27T19:00:00Z plain text line")
    path.write_text("\n".join(lines) + "\n")
    tail = logs.tail(str(path), 3)
    assert len(tail) == 3 and tail[-1] == "2026-11-27T19:00:00Z plain text line"
    last = logs.last_occurrences(str(path), ["System initialized successfully", "Heartbeat sent"])
    assert last == {"System initialized successfully": "2026-11-27T18:00:00.000Z", "Heartbeat sent": "2026-11-27T18:23:19.000Z"}
    assert logs.tail(str(path), 0) == []
    capped = logs.last_occurrences(str(path), ["System initialized successfully"], max_bytes=4096)
    assert capped == {"System initialized successfully": None}


def test_logs_plain_text_lines(tmp_path):
    path = tmp_path / "g.log"
    path.write_text("2026-11-27T18:00:00Z INFO System initialized successfully\nno newline at end")
    assert logs.last_occurrences(str(path), ["System initialized successfully"]) == {
        "System initialized successfully": "2026-11-27T18:00:00Z"}
    assert logs.tail(str(path), 5)[-1] == "no newline at end"


def test_socket_module_is_unix_capable():
    assert hasattr(socket, "AF_UNIX")
