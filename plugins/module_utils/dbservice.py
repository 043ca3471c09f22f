# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The PostgreSQL service of a genesis node as its service manager sees it (runbook scenario 4).

Read-only: starting and stopping are done by the roles through community.general.supervisorctl,
ansible.builtin.systemd_service or pg_ctlcluster. Also resolves the database DSN from the
node's .env without ever returning its password.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import re

from ansible_collections.genesis.runbook.plugins.module_utils._common import (
    clause, is_set, read_env_value, secrets_of, url_password,
)
from ansible_collections.genesis.runbook.plugins.module_utils.supervisor import GenesisSupervisorError, SupervisorClient

MANAGERS = ("supervisor", "systemd", "pg_ctlcluster")

SUPERVISOR_STATES = {"RUNNING": "running", "STARTING": "starting", "BACKOFF": "starting", "STOPPING": "stopping",
                     "STOPPED": "stopped", "EXITED": "stopped", "FATAL": "failed", "UNKNOWN": "unknown"}
SYSTEMD_STATES = {"active": "running", "reloading": "running", "activating": "starting", "deactivating": "stopping",
                  "inactive": "stopped", "failed": "failed"}


def resolve_dsn(gm, env_key="GENESIS_DATABASE_URL"):
    """(dsn, source): db_dsn when set, else env_key from <genesis_home>/.env; its password joins the secrets to scrub."""
    dsn = gm.params.get("db_dsn")
    if is_set(dsn):
        return dsn, "option"
    dsn = read_env_value(gm.params.get("genesis_home"), env_key)
    if not is_set(dsn):
        return None, None
    found = set(gm.secrets)
    found.update(secrets_of(dict(db_dsn=dsn)))
    password = url_password(dsn)
    if password:
        found.add(password)
    gm.secrets = sorted(found, key=len, reverse=True)
    return dsn, "env_file"


def status(name, state, manager, detail=None, error=None, data_directory=None):
    return dict(manager=manager, name=name, state=state, detail=detail, error=error, data_directory=data_directory)


def supervisor_status(socket_path, name, timeout=10):
    if not socket_path:
        return status(name, "unknown", "supervisor", error="supervisor_socket is not set.")
    client = SupervisorClient(socket_path, timeout=timeout)
    try:
        info = client.get_process_info(name)
    except GenesisSupervisorError as exc:
        return status(name, "unknown", "supervisor", error=exc.message)
    state = SUPERVISOR_STATES.get(info["statename"], "unknown")
    return status(info["fullname"], state, "supervisor", detail=info["statename"])


def systemd_status(run_command, systemctl, unit):
    if not systemctl:
        return status(unit, "unknown", "systemd", error="systemctl was not found on the node.")
    rc, out, err = run_command([systemctl, "show", "--property=LoadState,ActiveState,SubState", unit])
    if rc != 0:
        return status(unit, "unknown", "systemd", error="systemctl show %s failed: %s." % (unit, clause(err or out or "rc %d" % rc)))
    props = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    if props.get("LoadState") in ("not-found", None):
        return status(unit, "unknown", "systemd", error="systemd has no unit %s." % unit)
    state = SYSTEMD_STATES.get(props.get("ActiveState"), "unknown")
    return status(unit, state, "systemd", detail="%s (%s)" % (props.get("ActiveState"), props.get("SubState")))


def parse_cluster(cluster):
    """('15', 'main') from '15/main' or '15 main'; None when malformed."""
    match = re.match(r"^\s*(\d+(?:\.\d+)?)\s*[/ ]\s*([A-Za-z0-9_.-]+)\s*$", cluster or "")
    return (match.group(1), match.group(2)) if match else None


def pg_cluster_status(run_command, pg_lsclusters, cluster):
    parsed = parse_cluster(cluster)
    if parsed is None:
        return status(cluster, "unknown", "pg_ctlcluster", error="pg_cluster must look like 15/main, got %s." % cluster)
    if not pg_lsclusters:
        return status(cluster, "unknown", "pg_ctlcluster", error="pg_lsclusters was not found on the node.")
    rc, out, err = run_command([pg_lsclusters, "--no-header", parsed[0], parsed[1]])
    line = out.strip().splitlines()[0] if out.strip() else ""
    fields = line.split()
    if rc != 0 or len(fields) < 6:
        return status(cluster, "unknown", "pg_ctlcluster",
                      error="pg_lsclusters knows no cluster %s: %s." % (cluster, clause(err or out or "rc %d" % rc)))
    # Ver Cluster Port Status Owner Data-directory Log-file
    online = fields[3].split(",")[0]
    state = "running" if online == "online" else ("stopped" if online == "down" else "unknown")
    return status("%s/%s" % parsed, state, "pg_ctlcluster", detail=fields[3], data_directory=fields[5])


def service_status(module, manager, name, cluster, socket_path, timeout=10):
    """The service's state through `manager`, or through the first manager that knows it when manager is auto."""
    run = module.run_command
    if manager == "supervisor":
        return supervisor_status(socket_path, name, timeout)
    if manager == "systemd":
        return systemd_status(run, module.get_bin_path("systemctl"), name)
    if manager == "pg_ctlcluster":
        return pg_cluster_status(run, module.get_bin_path("pg_lsclusters"), cluster)
    tried = []
    if socket_path and os.path.exists(socket_path):
        found = supervisor_status(socket_path, name, timeout)
        if found["error"] is None:
            return found
        tried.append(found["error"])
    lsclusters = module.get_bin_path("pg_lsclusters")
    if lsclusters:
        found = pg_cluster_status(run, lsclusters, cluster)
        if found["error"] is None:
            return found
        tried.append(found["error"])
    systemctl = module.get_bin_path("systemctl")
    if systemctl:
        found = systemd_status(run, systemctl, name)
        if found["error"] is None:
            return found
        tried.append(found["error"])
    return status(name, "unknown", None,
                  error="No service manager on the node knows the database service %s (set service_manager): %s"
                  % (name, " ".join(tried) or "neither supervisord, pg_lsclusters nor systemctl is there."))
