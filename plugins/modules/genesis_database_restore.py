#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: genesis_database_restore
short_description: Restore a genesis node's PostgreSQL data directory from the latest restic backup, keeping the current one
version_added: 0.1.0
description:
  - The destructive last step of runbook scenario 4, for a database that does not come back after a restart.
    It runs only with O(confirmation) set to C(HALT TRADING NOW) and never in check mode.
  - Finds the newest snapshot (or O(snapshot)) in the restic repository that holds O(data_directory), optionally
    filtered by O(tags). Without one it fails and changes nothing.
  - Refuses while a server still runs from O(data_directory) (a live C(postmaster.pid)); stop the service through
    its manager first.
  - Halts trading through C(POST /emergency/halt) (O(halt_trading)), because the restored database is older than
    the trades genesis made since the backup; trading stays halted until an operator resumes it.
  - Saves the current data directory aside by renaming it to C(<data_directory>.pre-restore-<UTC time>) (never
    deleted), restores the snapshot into a staging directory beside it, moves it into place with the owner and mode
    of the saved directory, and records C(.<name>.genesis-restore.json) beside it so that a repeated call in the
    same run changes nothing. On any error the saved directory is put back.
  - The database is down while this runs, so the module cannot write its own audit event; write one with
    M(genesis.runbook.genesis_audit_event) after starting the database (the database_recovery role does).
author:
  - genesis.runbook maintainers (@genesis-runbook)
extends_documentation_fragment:
  - genesis.runbook.connection
attributes:
  check_mode:
    description: Finds the snapshot and reports the restore it would do; nothing is halted, moved or written.
    support: full
  diff_mode:
    description: Shows the data directory and snapshot before and after.
    support: full
options:
  data_directory:
    description:
      - The PostgreSQL data directory to restore (as the backup recorded it).
    type: path
    required: true
  confirmation:
    description:
      - Must be exactly C(HALT TRADING NOW) (docs/genesis-contract.md section 8).
    type: str
  restic_repository:
    description:
      - The restic repository holding the database backups.
    type: str
    required: true
  restic_password_file:
    description:
      - File holding the repository password (mode 0600). The password itself is never read by the module.
    type: path
    required: true
  restic_path:
    description:
      - The restic binary.
    type: path
    default: restic
  snapshot:
    description:
      - C(latest) or the id (or short id) of the snapshot to restore.
    type: str
    default: latest
  tags:
    description:
      - Only consider snapshots carrying all these tags.
    type: list
    elements: str
    default: []
  halt_trading:
    description:
      - Halt trading through the control API before the restore (needs O(api_key)).
    type: bool
    default: true
  halt_reason:
    description:
      - The reason recorded with the halt.
    type: str
    default: database restore (runbook scenario 4)
requirements:
  - restic on the node
'''

EXAMPLES = r'''
- name: Restore the data directory from the latest backup (the current one is saved aside)
  genesis.runbook.genesis_database_restore:
    data_directory: /var/lib/postgresql/15/main
    restic_repository: /app/.genesis/backups/restic-repo
    restic_password_file: /app/.genesis/backups/restic-password
    tags: [postgresql]
    confirmation: "{{ database_recovery_confirmation }}"
  register: restore
'''

RETURN = r'''
snapshot:
  description: The snapshot restored (or that would be).
  returned: always
  type: dict
  sample: {id: 4f1c2d3e..., short_id: 4f1c2d3e, time: "2026-11-27T02:00:01.000Z", paths: [/var/lib/postgresql/15/main], tags: [postgresql]}
data_directory:
  description: The restored data directory.
  returned: always
  type: str
  sample: /var/lib/postgresql/15/main
saved_aside:
  description: Where the data directory that was there before now is (null when there was none, or in check mode).
  returned: always
  type: str
  sample: /var/lib/postgresql/15/main.pre-restore-20261127T184001Z
halted:
  description: What the control API answered to the halt (null when O(halt_trading=false) or in check mode).
  returned: always
  type: dict
  sample: {changed: true, halted: true, since: "2026-11-27T18:40:01.000Z", reason: database restore (runbook scenario 4)}
'''

import json
import os
import shutil
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.genesis.runbook.plugins.module_utils._common import (
    GenesisModule, clause, genesis_common_argument_spec, is_set, iso, parse_iso,
)
from ansible_collections.genesis.runbook.plugins.module_utils.api import GenesisApiError

PHRASE = "HALT TRADING NOW"


def marker_path(data_directory):
    parent, name = os.path.split(data_directory.rstrip(os.sep))
    return os.path.join(parent, ".%s.genesis-restore.json" % name)


def read_marker(data_directory):
    try:
        with open(marker_path(data_directory)) as handle:
            return json.load(handle)
    except (IOError, OSError, ValueError):
        return None


def live_server(data_directory):
    """The pid of a server running from data_directory (postmaster.pid names a live process), else None."""
    try:
        with open(os.path.join(data_directory, "postmaster.pid")) as handle:
            pid = int(handle.readline().strip())
    except (IOError, OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return pid if exc.errno == 1 else None  # EPERM: alive, owned by another user
    return pid


class ResticError(Exception):
    pass


class Restic(object):
    def __init__(self, gm, binary):
        self.gm = gm
        self.binary = binary
        params = gm.params
        self.base = [binary, "-r", params["restic_repository"], "--password-file", params["restic_password_file"], "--no-cache"]
        self.endpoint = "restic repository %s" % params["restic_repository"]

    def run(self, args, what):
        rc, out, err = self.gm.module.run_command(self.base + args, environ_update=dict(RESTIC_PASSWORD="", RESTIC_REPOSITORY=""))
        if rc != 0:
            reason = (err or out or "exit code %d" % rc).strip().splitlines()
            raise ResticError("%s: %s failed: %s" % (self.endpoint, what, clause(reason[-1] if reason else "exit code %d" % rc)))
        return out

    def snapshots(self, path, tags):
        args = ["--json", "snapshots", "--path", path]
        for tag in tags:
            args += ["--tag", tag]
        try:
            out = self.run(args, "listing the snapshots")
        except ResticError as exc:
            self.gm.fail("%s; nothing was changed." % clause(str(exc)))
        try:
            found = json.loads(out or "[]") or []
        except ValueError:
            self.gm.fail("%s answered the snapshot list with something that is not JSON." % self.endpoint)
        return [s for s in found if isinstance(s, dict) and s.get("id")]


def choose(snapshots, wanted):
    if wanted == "latest":
        return max(snapshots, key=lambda s: parse_iso(s.get("time")) or 0) if snapshots else None
    for snap in snapshots:
        if snap["id"].startswith(wanted) or snap.get("short_id") == wanted:
            return snap
    return None


def main():
    argument_spec = genesis_common_argument_spec()
    argument_spec.update(
        data_directory=dict(type="path", required=True),
        confirmation=dict(type="str"),
        restic_repository=dict(type="str", required=True),
        restic_password_file=dict(type="path", required=True, no_log=False),
        restic_path=dict(type="path", default="restic"),
        snapshot=dict(type="str", default="latest"),
        tags=dict(type="list", elements="str", default=[]),
        halt_trading=dict(type="bool", default=True),
        halt_reason=dict(type="str", default="database restore (runbook scenario 4)"),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    gm = GenesisModule(module, "genesis_database_restore")
    params = module.params
    if params.get("confirmation") != PHRASE:
        gm.fail("confirmation must be the phrase '%s' (a restore halts trading and replaces the database's data directory); "
                "nothing was changed." % PHRASE)
    data_directory = os.path.normpath(params["data_directory"] or "")
    if not os.path.isabs(data_directory) or data_directory == os.sep:
        gm.fail("data_directory must be an absolute path below /, got %s." % params["data_directory"])
    parent = os.path.dirname(data_directory)
    if not os.path.isdir(parent):
        gm.fail("The parent directory %s of data_directory does not exist; nothing was changed." % parent)
    if not os.path.isfile(params["restic_password_file"]):
        gm.fail("restic_password_file %s does not exist; nothing was changed." % params["restic_password_file"])
    if params["halt_trading"] and not is_set(params.get("api_key")):
        gm.fail("api_key (inventory variable genesis_api_key) is not set: genesis_database_restore needs it to halt trading "
                "before the restore; nothing was changed.")
    pid = live_server(data_directory)
    if pid is not None:
        gm.fail("A database server (pid %d) still runs from %s: stop it through its service manager first; nothing was changed."
                % (pid, data_directory))
    binary = params["restic_path"]
    if os.sep not in binary:
        binary = module.get_bin_path(binary) or binary
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        gm.fail("restic_path %s is not an executable on the node; nothing was changed." % params["restic_path"])

    restic = Restic(gm, binary)
    snap = choose(restic.snapshots(data_directory, params["tags"]), params["snapshot"])
    if snap is None:
        gm.fail("No snapshot%s in %s holds %s%s; nothing was changed." % (
            "" if params["snapshot"] == "latest" else " " + params["snapshot"], restic.endpoint, data_directory,
            " with tags %s" % ", ".join(params["tags"]) if params["tags"] else ""))
    snapshot = dict(id=snap["id"], short_id=snap.get("short_id") or snap["id"][:8], time=snap.get("time"),
                    paths=snap.get("paths") or [], tags=snap.get("tags") or [])
    result = dict(changed=False, snapshot=snapshot, data_directory=data_directory, saved_aside=None, halted=None)

    marker = read_marker(data_directory)
    if marker and marker.get("snapshot_id") == snapshot["id"] and marker.get("run_id") == gm.run_id and os.path.isdir(data_directory):
        result["saved_aside"] = marker.get("saved_aside")
        module.exit_json(**result)

    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    aside = "%s.pre-restore-%s" % (data_directory, stamp)
    result["changed"] = True
    if module._diff:
        result["diff"] = dict(before=dict(data_directory=data_directory, exists=os.path.isdir(data_directory)),
                              after=dict(data_directory=data_directory, snapshot=snapshot["short_id"],
                                         saved_aside=aside if os.path.isdir(data_directory) else None))
    if module.check_mode:
        module.exit_json(**result)

    if params["halt_trading"]:
        try:
            answer = gm.api().post("/emergency/halt", dict(reason=params["halt_reason"], confirmation=PHRASE), idempotent=True)
        except GenesisApiError as exc:
            gm.fail("Trading could not be halted before the restore (%s); nothing was restored." % clause(exc.message))
        result["halted"] = answer.data if isinstance(answer.data, dict) else dict(halted=True)

    staging = os.path.join(parent, ".genesis-restore-%s" % stamp)
    saved = None
    try:
        if os.path.lexists(data_directory):
            os.rename(data_directory, aside)
            saved = aside
        os.mkdir(staging, 0o700)
        restic.run(["restore", snapshot["id"], "--target", staging, "--include", data_directory], "restoring %s" % snapshot["short_id"])
        restored = os.path.join(staging, data_directory.lstrip(os.sep))
        if not os.path.isdir(restored):
            raise OSError(2, "snapshot %s has no %s" % (snapshot["short_id"], data_directory))
        os.rename(restored, data_directory)
        owner = os.stat(saved) if saved else os.stat(parent)
        for root, dirs, files in os.walk(data_directory):
            for name in [root] + [os.path.join(root, n) for n in dirs + files]:
                os.lchown(name, owner.st_uid, owner.st_gid)
        os.chmod(data_directory, 0o700)
    except (IOError, OSError, ResticError) as exc:
        put_back = ""
        if saved and not os.path.exists(data_directory):
            os.rename(saved, data_directory)
            put_back = "; the data directory was put back as it was"
            result["saved_aside"] = None
        else:
            result["saved_aside"] = saved
        shutil.rmtree(staging, ignore_errors=True)
        gm.fail("The restore of %s from snapshot %s failed: %s%s." % (data_directory, snapshot["short_id"],
                                                                      clause(getattr(exc, "strerror", None) or str(exc)), put_back), **result)
    shutil.rmtree(staging, ignore_errors=True)
    result["saved_aside"] = saved
    try:
        with open(marker_path(data_directory), "w") as handle:
            json.dump(dict(snapshot_id=snapshot["id"], run_id=gm.run_id, saved_aside=saved, restored_at=iso(time.time())), handle)
    except (IOError, OSError) as exc:
        module.warn("The restore marker %s could not be written (%s); a repeated call would restore again."
                    % (marker_path(data_directory), exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
