#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: genesis_backup
short_description: Point a genesis node's backup job at its restic repository and password file (runbook scenario 16)
version_added: 0.1.0
description:
  - The node's C(backup) program runs restic with the repository and password file it takes from
    C(<genesis_home>/.env) (C(RESTIC_REPOSITORY), C(RESTIC_PASSWORD_FILE)) or, without them, from the contract's
    C(.genesis/backups/restic-repo) and C(.genesis/backups/restic-password).
  - With O(state=configured), makes the job use O(repository) and O(password_file) - removing an override that
    differs when the configured path is the contract's default, setting it otherwise - and changes nothing when the
    job already uses them.
  - Before any change, proves O(password_file) opens O(repository) (C(restic snapshots)); the job is never pointed
    at a repository it cannot open.
  - The current C(.env) is copied to C(.env.bak-<UTC timestamp>) (mode 0600) and the new one is renamed over it
    (atomic; owner, mode and every other line kept). Only the two paths are shown; secrets in the file are never read out.
  - Writes one C(RUNBOOK_ACTION) audit event (step C(fix_backup_job)); O(db_dsn) is needed, and nothing is changed
    when the audit trail cannot be written.
  - Running a backup is not done here; start the job through supervisor (the backup_recovery role does).
author:
  - genesis.runbook maintainers (@genesis-runbook)
extends_documentation_fragment:
  - genesis.runbook.connection
attributes:
  check_mode:
    description: Reports the settings it would change; nothing is written.
    support: full
  diff_mode:
    description: Shows the job's repository and password file settings before and after.
    support: full
options:
  state:
    description:
      - C(configured) makes the backup job use O(repository) and O(password_file).
    type: str
    choices: [configured]
    default: configured
  repository:
    description:
      - The restic repository; by default the contract's C(<genesis_home>/.genesis/backups/restic-repo).
    type: path
  password_file:
    description:
      - The repository's password file; by default the contract's C(<genesis_home>/.genesis/backups/restic-password).
    type: path
  restic_path:
    description:
      - The restic binary on the node (a name looked up in C(PATH), or a path).
    type: path
    default: restic
  restic_timeout:
    description:
      - Seconds the verifying C(restic snapshots) may take (10 to 7200).
    type: int
    default: 300
  backup_dir:
    description:
      - Folder for the copy of the current C(.env); by default the folder of C(.env) itself.
    type: path
requirements:
  - restic on the node
  - psycopg2 (psycopg2-binary) on the node, to write the audit event
'''

EXAMPLES = r'''
- name: Make the backup job use the contract's repository and password file again
  genesis.runbook.genesis_backup:
    state: configured
    scenario: "16"
  register: job
'''

RETURN = r'''
settings:
  description: Per C(.env) key, the value before and after (C(null) means absent, so the contract's default applies).
  returned: always
  type: dict
  sample: {RESTIC_PASSWORD_FILE: {before: /app/.genesis/backups/restic-password.old, after: null, changed: true},
           RESTIC_REPOSITORY: {before: null, after: null, changed: false}}
backup_path:
  description: Where the previous C(.env) was copied; null when nothing was written.
  returned: always
  type: str
  sample: /app/.env.bak-20261127T184001Z
snapshot_count:
  description: The snapshots the configured password file opened in the configured repository (the verification).
  returned: always
  type: int
  sample: 12
audit_events:
  description: The RUNBOOK_ACTION event written; empty in check mode and when nothing changed.
  returned: always
  type: list
  elements: dict
  sample: [{event_id: 4717, event_type: RUNBOOK_ACTION, aggregate_id: "runbook:node1", sequence_number: 8}]
'''

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.genesis.runbook.plugins.module_utils._common import (
    GenesisModule, clause, genesis_common_argument_spec,
)
from ansible_collections.genesis.runbook.plugins.module_utils.audit import AuditError, short_event
from ansible_collections.genesis.runbook.plugins.module_utils.db import GenesisDbError
from ansible_collections.genesis.runbook.plugins.module_utils.envfile import EnvFile, EnvFileError, env_path
from ansible_collections.genesis.runbook.plugins.module_utils import restic as resticmod

STEP = "fix_backup_job"


def wanted(current, configured, default):
    """The .env value that makes the job use `configured`: the current one when it already does, no
    override when `configured` is the contract default, else `configured` itself."""
    effective = current or default
    if os.path.abspath(effective) == os.path.abspath(configured):
        return current
    if os.path.abspath(configured) == os.path.abspath(default):
        return None
    return configured


def main():
    argument_spec = genesis_common_argument_spec()
    argument_spec.update(resticmod.restic_argument_spec())
    argument_spec.update(
        state=dict(type="str", choices=["configured"], default="configured"),
        backup_dir=dict(type="path"),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    gm = GenesisModule(module, "genesis_backup")
    params = module.params
    if not 10 <= params["restic_timeout"] <= 7200:
        gm.fail("restic_timeout must be between 10 and 7200 seconds, got %s." % params["restic_timeout"])
    if params["backup_dir"] and not os.path.isdir(params["backup_dir"]):
        gm.fail("backup_dir %s is not a folder; nothing was changed." % params["backup_dir"])
    home = params["genesis_home"] or "/app"
    default_repo, default_password = resticmod.contract_paths(home)
    repository = params["repository"] or default_repo
    password_file = params["password_file"] or default_password
    if not os.path.isfile(password_file):
        gm.fail("password_file %s does not exist, so the backup job cannot be pointed at it; nothing was changed." % password_file)

    path = env_path(home)
    try:
        env = EnvFile.read(path)
    except EnvFileError as exc:
        gm.fail(exc.message)
    settings = {}
    desired = {}
    for key, configured, default in ((resticmod.ENV_PASSWORD_FILE, password_file, default_password),
                                     (resticmod.ENV_REPOSITORY, repository, default_repo)):
        current = env.get(key)
        target = wanted(current, configured, default)
        settings[key] = dict(before=current, after=target, changed=target != current)
        if target != current:
            desired[key] = target

    try:
        restic = resticmod.Restic.resolve(params["restic_path"], repository, password_file, cwd=home,
                                          timeout=params["restic_timeout"])
        count = len(restic.snapshots())
    except resticmod.ResticError as exc:
        gm.fail("The backup job was not changed because the configured password file does not open the configured "
                "repository: %s" % clause(exc.message))
    result = dict(changed=bool(desired), settings=settings, backup_path=None, snapshot_count=count, audit_events=[])
    if desired and module._diff:
        result["diff"] = dict(before=dict((k, v["before"]) for k, v in settings.items()),
                              after=dict((k, v["after"]) for k, v in settings.items()))
    if not desired or module.check_mode:
        module.exit_json(**result)

    db = gm.db("write the audit event of the backup job fix")
    try:
        audit = gm.connected_audit(db, "The backup job was not changed")
        lines, _keys = env.updated(desired)
        try:
            result["backup_path"] = env.backup(params["backup_dir"])
            env.replace(lines)
        except EnvFileError as exc:
            result["changed"] = False
            gm.fail(exc.message, **result)
        try:
            audit.write_runbook_action(STEP, before=dict((k, v["before"]) for k, v in settings.items()),
                                       after=dict((k, v["after"]) for k, v in settings.items()),
                                       details=dict(env_file=path, backup_path=result["backup_path"], repository=repository,
                                                    password_file=password_file, snapshots=count))
        except (GenesisDbError, AuditError) as exc:
            gm.fail("The backup job was fixed in %s (previous file saved as %s) but its audit event was not written: %s"
                    % (path, result["backup_path"], clause(exc.message)), **result)
        result["audit_events"] = [short_event(e) for e in audit.written]
        module.exit_json(**result)
    finally:
        db.close()


if __name__ == "__main__":
    main()
