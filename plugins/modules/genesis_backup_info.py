#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: genesis_backup_info
short_description: Inspect a genesis node's restic backups and its backup job (runbook scenario 16)
version_added: 0.1.0
description:
  - Lists the snapshots of the node's restic repository (C(restic snapshots), read-only, without a lock) and reports
    the newest one and its age.
  - With O(check=true), runs C(restic check) (repository integrity; restic takes its lock for it, nothing is modified).
  - With O(ls_latest=true), lists the newest snapshot (C(restic ls latest)) and reports which O(expected_paths) it lacks.
  - With O(job=true), inspects the node's C(backup) job as genesis runs it - the supervisor program's state and exit
    status, the last C(Backup completed) and C(Backup failed) lines of C(genesis.log), and the restic settings the job
    takes from C(<genesis_home>/.env) (C(RESTIC_PASSWORD_FILE), C(RESTIC_REPOSITORY), else the contract's paths) - and
    lists what would make it fail.
  - Never prints the repository password. A repository that cannot be opened is evidence (C(ok=false)), not a failure.
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
      - Seconds each restic command may take (10 to 7200).
    type: int
    default: 300
  host:
    description:
      - Only consider the snapshots of this restic host name (genesis tags its backups with the node name).
    type: str
  check:
    description:
      - Run C(restic check).
    type: bool
    default: true
  check_read_data:
    description:
      - Make C(restic check) read every pack (C(--read-data)); slow on a large repository.
    type: bool
    default: false
  ls_latest:
    description:
      - List the newest snapshot with C(restic ls latest) and compare it with O(expected_paths).
    type: bool
    default: false
  expected_paths:
    description:
      - Paths, relative to C(genesis_home), that a good snapshot must contain.
    type: list
    elements: str
    default: [config, .genesis/state]
  job:
    description:
      - Inspect the backup job (supervisor program, its C(.env) settings, its last runs in C(genesis.log)).
    type: bool
    default: true
  job_program:
    description:
      - The supervisor program that runs one backup.
    type: str
    default: backup
'''

EXAMPLES = r'''
- name: How old is the newest backup, and is the repository sound?
  genesis.runbook.genesis_backup_info:
    check: true
  register: backups

- name: Verify the newest snapshot holds the configuration and the state
  genesis.runbook.genesis_backup_info:
    check: false
    ls_latest: true
    expected_paths: [config, .genesis/state]
  register: latest
  failed_when: latest.latest_ls.missing | length > 0
'''

RETURN = r'''
ok:
  description: Whether the repository could be opened and its snapshots listed.
  returned: always
  type: bool
  sample: true
error:
  description: Why the snapshots could not be listed, as one sentence; null otherwise.
  returned: always
  type: str
  sample: "restic snapshots of repository /app/.genesis/backups/restic-repo failed (exit 1): Fatal: wrong password or no key found."
repository:
  description: The repository inspected.
  returned: always
  type: str
  sample: /app/.genesis/backups/restic-repo
password_file:
  description: The password file used (its path only).
  returned: always
  type: str
  sample: /app/.genesis/backups/restic-password
snapshot_count:
  description: How many snapshots the repository holds (for O(host) when set).
  returned: always
  type: int
  sample: 42
newest:
  description: The newest snapshot; null when there is none.
  returned: always
  type: dict
  sample: {id: 3f9c..., short_id: 3f9c2a1b, time: "2026-11-27T18:00:02.1Z", age_h: 0.67, hostname: node1,
           tags: [genesis], paths: [/app/config, /app/.genesis/state]}
newest_age_h:
  description: Age of the newest snapshot in hours; null when there is none.
  returned: always
  type: float
  sample: 0.67
check:
  description: The outcome of C(restic check).
  returned: always
  type: dict
  sample: {ran: true, ok: true, summary: no errors were found, error: null}
latest_ls:
  description: The outcome of C(restic ls latest).
  returned: always
  type: dict
  sample: {ran: true, ok: true, snapshot: 3f9c2a1b, entries: 14, missing: [], error: null}
job:
  description: The backup job as genesis runs it, and the problems that make it fail.
  returned: always
  type: dict
  sample:
    inspected: true
    program: {name: backup, statename: EXITED, exitstatus: 1, error: null}
    env_overrides: {RESTIC_PASSWORD_FILE: /app/.genesis/backups/restic-password.old, RESTIC_REPOSITORY: null}
    effective_password_file: /app/.genesis/backups/restic-password.old
    password_file_exists: false
    effective_repository: /app/.genesis/backups/restic-repo
    repository_exists: true
    last_completed_at: "2026-11-26T12:00:02.1Z"
    last_failed_at: "2026-11-27T18:40:01.1Z"
    last_failure: "Resolving password failed: Fatal: /app/.genesis/backups/restic-password.old does not exist"
    last_run_failed: true
    problems: ["the job's password file /app/.genesis/backups/restic-password.old (RESTIC_PASSWORD_FILE in /app/.env) does not exist"]
    ok: false
'''

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.genesis.runbook.plugins.module_utils._common import (
    GenesisModule, genesis_common_argument_spec, is_set,
)
from ansible_collections.genesis.runbook.plugins.module_utils.envfile import EnvFile, EnvFileError, env_path
from ansible_collections.genesis.runbook.plugins.module_utils.supervisor import GenesisSupervisorError, SupervisorClient
from ansible_collections.genesis.runbook.plugins.module_utils import restic as resticmod


def inspect_job(gm, params, repository, password_file):
    home = params["genesis_home"] or "/app"
    default_repo, default_password = resticmod.contract_paths(home)
    job = dict(inspected=True, program=None, env_overrides={}, problems=[])
    path = env_path(home)
    overrides = {}
    try:
        env = EnvFile.read(path)
        for key in (resticmod.ENV_PASSWORD_FILE, resticmod.ENV_REPOSITORY):
            overrides[key] = env.get(key)
        # a password in the file itself is a secret: only say that it is there
        job["password_in_env"] = env.get("RESTIC_PASSWORD") is not None
    except EnvFileError as exc:
        job["problems"].append(exc.message.rstrip("."))
    job["env_overrides"] = overrides
    effective_password = overrides.get(resticmod.ENV_PASSWORD_FILE) or default_password
    effective_repo = overrides.get(resticmod.ENV_REPOSITORY) or default_repo
    job.update(effective_password_file=effective_password, password_file_exists=os.path.isfile(effective_password),
               effective_repository=effective_repo, repository_exists=os.path.isdir(effective_repo))
    origin = "%s in %s" % (resticmod.ENV_PASSWORD_FILE, path) if overrides.get(resticmod.ENV_PASSWORD_FILE) else "the contract's default"
    if not job["password_file_exists"]:
        job["problems"].append("the job's password file %s (%s) does not exist" % (effective_password, origin))
    elif os.path.abspath(effective_password) != os.path.abspath(password_file):
        job["problems"].append("the job's password file %s (%s) is not the configured %s" % (effective_password, origin, password_file))
    repo_origin = "%s in %s" % (resticmod.ENV_REPOSITORY, path) if overrides.get(resticmod.ENV_REPOSITORY) else "the contract's default"
    if os.path.abspath(effective_repo) != os.path.abspath(repository):
        job["problems"].append("the job's repository %s (%s) is not the configured %s" % (effective_repo, repo_origin, repository))
    elif not job["repository_exists"]:
        job["problems"].append("the job's repository %s does not exist" % effective_repo)

    socket_path = params.get("supervisor_socket")
    if is_set(socket_path):
        try:
            info = SupervisorClient(socket_path, timeout=gm.timeout).get_process_info(params["job_program"])
            job["program"] = dict(name=params["job_program"], statename=info.get("statename"),
                                  exitstatus=info.get("exitstatus"), error=None)
        except GenesisSupervisorError as exc:
            job["program"] = dict(name=params["job_program"], statename=None, exitstatus=None, error=exc.message)
            if not exc.unreachable:
                job["problems"].append("supervisor has no program %s to run the backup" % params["job_program"])
        program = job["program"]
        if program.get("statename") == "FATAL" or (program.get("statename") == "EXITED" and program.get("exitstatus")):
            job["problems"].append("the %s program last ended %s with exit status %s"
                                   % (params["job_program"], program["statename"], program.get("exitstatus")))
    runs = resticmod.last_job_runs(os.path.join(home, ".genesis", "logs", resticmod.JOB_LOG))
    job.update((k, v) for k, v in runs.items() if k not in ("log", "readable"))
    job["last_run_failed"] = resticmod.last_run_failed(runs)
    if job["last_run_failed"]:
        job["problems"].append("the last backup run failed at %s" % runs["last_failed_at"])
    job["ok"] = not job["problems"]
    return job


def main():
    argument_spec = genesis_common_argument_spec()
    argument_spec.update(resticmod.restic_argument_spec())
    argument_spec.update(
        host=dict(type="str"),
        check=dict(type="bool", default=True),
        check_read_data=dict(type="bool", default=False),
        ls_latest=dict(type="bool", default=False),
        expected_paths=dict(type="list", elements="str", default=["config", ".genesis/state"]),
        job=dict(type="bool", default=True),
        job_program=dict(type="str", default="backup"),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    gm = GenesisModule(module, "genesis_backup_info")
    params = module.params
    if not 10 <= params["restic_timeout"] <= 7200:
        gm.fail("restic_timeout must be between 10 and 7200 seconds, got %s." % params["restic_timeout"])
    home = params["genesis_home"] or "/app"
    default_repo, default_password = resticmod.contract_paths(home)
    repository = params["repository"] or default_repo
    password_file = params["password_file"] or default_password
    try:
        restic = resticmod.Restic.resolve(params["restic_path"], repository, password_file, cwd=home,
                                          timeout=params["restic_timeout"])
    except resticmod.ResticError as exc:
        gm.fail(exc.message)

    result = dict(changed=False, ok=False, error=None, repository=repository, password_file=password_file,
                  snapshot_count=0, newest=None, newest_age_h=None,
                  check=dict(ran=False, ok=None, summary=None, error=None),
                  latest_ls=dict(ran=False, ok=None, snapshot=None, entries=0, missing=[], error=None),
                  job=dict(inspected=False, ok=None, problems=[]))
    if not os.path.isfile(password_file):
        result["error"] = "The repository password file %s does not exist." % password_file
    else:
        try:
            snapshots = restic.snapshots(params["host"])
            result.update(ok=True, snapshot_count=len(snapshots), newest=resticmod.newest(snapshots))
            result["newest_age_h"] = result["newest"]["age_h"] if result["newest"] else None
        except resticmod.ResticError as exc:
            result["error"] = exc.message

    if result["ok"] and params["check"]:
        result["check"]["ran"] = True
        try:
            result["check"].update(ok=True, summary=restic.check(params["check_read_data"]))
        except resticmod.ResticError as exc:
            result["check"].update(ok=False, error=exc.message)

    if result["ok"] and params["ls_latest"]:
        result["latest_ls"]["ran"] = True
        if not result["snapshot_count"]:
            result["latest_ls"].update(ok=False, missing=list(params["expected_paths"]),
                                       error="The repository %s has no snapshot to list." % repository)
        else:
            try:
                snapshot, entries = restic.ls_latest(params["host"])
                missing = resticmod.missing_paths(entries, params["expected_paths"])
                result["latest_ls"].update(ok=not missing and bool(entries), snapshot=snapshot, entries=len(entries),
                                           missing=missing)
            except resticmod.ResticError as exc:
                result["latest_ls"].update(ok=False, error=exc.message)

    if params["job"]:
        result["job"] = inspect_job(gm, params, repository, password_file)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
