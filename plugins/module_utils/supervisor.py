# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Read-only supervisord XML-RPC over its unix socket (docs/genesis-contract.md section 2).

Restarts are not done here: the roles use community.general.supervisorctl.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import socket

from ansible_collections.genesis.runbook.plugins.module_utils._common import GenesisError, clause

import http.client as http_client
import xmlrpc.client as xmlrpc_client


class GenesisSupervisorError(GenesisError):
    def __init__(self, message, unreachable=False, fault=None):
        super(GenesisSupervisorError, self).__init__(message)
        self.unreachable = unreachable
        self.fault = fault


class UnixStreamHTTPConnection(http_client.HTTPConnection):
    def __init__(self, socket_path, timeout=10):
        http_client.HTTPConnection.__init__(self, "localhost", timeout=timeout)
        self.socket_path = socket_path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.socket_path)
        except Exception:
            sock.close()
            raise
        self.sock = sock


class UnixStreamTransport(xmlrpc_client.Transport):
    def __init__(self, socket_path, timeout=10):
        xmlrpc_client.Transport.__init__(self)
        self.socket_path = socket_path
        self.timeout = timeout

    def make_connection(self, host):
        return UnixStreamHTTPConnection(self.socket_path, timeout=self.timeout)


# Declared [group:x] sections. supervisord reports a program outside any group with group == name,
# so `genesis:genesis` (program genesis in group genesis) is told apart from a lone program only by this.
DECLARED_GROUPS = ("genesis",)


def program_record(info, groups=DECLARED_GROUPS):
    """The fields of getProcessInfo the modules return, plus fullname (as supervisorctl takes it) and uptime."""
    name = info.get("name")
    group = info.get("group")
    fullname = "%s:%s" % (group, name) if group and (group != name or group in groups) else name
    uptime = 0
    if info.get("statename") == "RUNNING" and info.get("start") and info.get("now"):
        uptime = max(0, int(info["now"]) - int(info["start"]))
    # supervisorctl (and community.general.supervisorctl, which matches its status lines) names a
    # program whose group has its name by the bare name: "genesis", not "genesis:genesis".
    ctl_name = name if not group or group == name else "%s:%s" % (group, name)
    return dict(name=name, group=group, fullname=fullname, ctl_name=ctl_name, statename=info.get("statename"),
                pid=info.get("pid") or None,
                uptime=uptime, exitstatus=info.get("exitstatus"), spawnerr=info.get("spawnerr") or None,
                description=info.get("description"))


class SupervisorClient(object):
    def __init__(self, socket_path, timeout=10):
        self.socket_path = socket_path
        self.timeout = timeout
        self.endpoint = "supervisord socket %s" % socket_path

    def _proxy(self):
        return xmlrpc_client.ServerProxy("http://localhost/RPC2",
                                         transport=UnixStreamTransport(self.socket_path, self.timeout))

    def _call(self, method, *args):
        try:
            return getattr(self._proxy().supervisor, method)(*args)
        except xmlrpc_client.Fault as exc:
            called = "%s(%s)" % (method, ", ".join(str(a) for a in args))
            raise GenesisSupervisorError("%s answered %s with fault %s." % (self.endpoint, called, clause(exc.faultString)),
                                         fault=exc.faultString)
        except (socket.error, OSError, IOError, http_client.HTTPException, xmlrpc_client.ProtocolError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc) or exc.__class__.__name__
            raise GenesisSupervisorError("%s is unreachable: %s." % (self.endpoint, clause(reason)), unreachable=True)

    def get_all_process_info(self):
        return [program_record(info) for info in self._call("getAllProcessInfo")]

    def get_process_info(self, name):
        return program_record(self._call("getProcessInfo", name))
