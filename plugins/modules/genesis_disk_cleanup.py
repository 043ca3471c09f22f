#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: genesis_disk_cleanup
short_description: Free disk space on a genesis node without losing a record (runbook scenario 10)
version_added: 0.1.0
description:
  - Runs one cleanup step of runbook scenario 10 on the files M(genesis.runbook.genesis_disk_info) lists for the
    same options, and writes one C(RUNBOOK_ACTION) audit event whose C(step) is O(step).
  - C(remove_temp_files) removes regular files older than O(temp_max_age_days) inside O(temp_dirs) only (never a
    whole system directory such as C(/tmp); directories and symlinks are kept).
  - C(archive_logs) compresses each rotated log past O(log_retention_days) into O(log_archive_dir), reads the
    archive back and compares it with the original, and only then removes the original. A live C(*.log) is never touched.
  - C(archive_data) does the same for data files past O(data_retention_days) into O(data_archive_dir), keeping
    their relative paths.
  - C(offload_archives) moves the compressed archives to O(backup_path) (another filesystem), copying, syncing and
    comparing each one before removing it from the node.
  - A file whose archive cannot be written or verified is kept, and the module fails naming it after recording
    (and auditing) what was already done.
author:
  - genesis.runbook maintainers (@genesis-runbook)
extends_documentation_fragment:
  - genesis.runbook.connection
attributes:
  check_mode:
    description: Lists the files the step would act on and their size; nothing is written.
    support: full
  diff_mode:
    description: Shows the files and the filesystem usage before and after.
    support: full
options:
  step:
    description:
      - The cleanup step to run.
    type: str
    required: true
    choices: [remove_temp_files, archive_logs, archive_data, offload_archives]
  paths:
    description:
      - Paths whose filesystems to measure before and after. By default O(data_dirs) and O(log_dirs).
    type: list
    elements: path
  log_dirs:
    description:
      - Directories of genesis's logs (not recursive). By default C(<genesis_home>/.genesis/logs).
    type: list
    elements: path
  log_patterns:
    description:
      - Shell patterns of rotated log file names. A live C(*.log) file never matches; C(*) and C(*.log) are refused.
    type: list
    elements: str
    default: ["*.log.[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]", "*.log.[0-9]", "*.log.[0-9][0-9]"]
  log_retention_days:
    description:
      - Rotated logs whose last change is older than this many days are archived.
    type: int
    default: 30
  log_archive_dir:
    description:
      - Where compressed logs go. By default C(archive/) in the first of O(log_dirs) (the contract's layout).
    type: path
  data_dirs:
    description:
      - Directories of genesis's data files (recursive). By default C(<genesis_home>/.genesis/data).
    type: list
    elements: path
  data_retention_days:
    description:
      - Data files whose last change is older than this many days are archived.
    type: int
    default: 90
  data_archive_dir:
    description:
      - Where archived data files go. By default C(archive/) in the first of O(data_dirs).
    type: path
  temp_dirs:
    description:
      - The only directories whose old temp files may be removed. By default C(<genesis_home>/.genesis/tmp).
    type: list
    elements: path
  temp_max_age_days:
    description:
      - Temp files whose last change is older than this many days are removed.
    type: int
    default: 7
  backup_path:
    description:
      - Existing directory on another filesystem (a backup disk) that receives the archives, under
        C(<backup_path>/<node_name>/). Required for O(step=offload_archives).
    type: path
requirements:
  - psycopg2 (psycopg2-binary) on the node, for the audit event
'''

EXAMPLES = r'''
- name: Compress rotated logs older than 30 days into the archive
  genesis.runbook.genesis_disk_cleanup:
    step: archive_logs
    genesis_home: /app
    log_retention_days: 30
    scenario: "10"
  register: logs

- name: Remove temp files older than 7 days, only in genesis's own temp directory
  genesis.runbook.genesis_disk_cleanup:
    step: remove_temp_files
    temp_dirs: [/app/.genesis/tmp]
    temp_max_age_days: 7
'''

RETURN = r'''
step:
  description: The step that ran.
  returned: always
  type: str
  sample: archive_logs
files:
  description:
    - The files acted on (in check mode, that would be), at most 200; C(source), C(bytes) and, for archiving steps,
      C(archive) and C(archive_bytes).
  returned: always
  type: list
  elements: dict
  sample: [{source: /app/.genesis/logs/genesis.log.2026-10-13, archive: /app/.genesis/logs/archive/genesis.log.2026-10-13.gz,
            bytes: 4106920, archive_bytes: 201344}]
count:
  description: How many files were acted on (or would be).
  returned: always
  type: int
  sample: 12
bytes:
  description: Their size before the step.
  returned: always
  type: int
  sample: 49283072
freed_bytes:
  description: Space given back on the node (for archiving, original minus archive size; an upper bound in check mode).
  returned: always
  type: int
  sample: 47000000
usage_before:
  description: Usage of the filesystem holding the first of O(paths) before the step.
  returned: always
  type: dict
  sample: {total_bytes: 67108864, used_bytes: 64763904, free_bytes: 2344960, used_percent: 96.5}
usage_after:
  description: The same after the step (equal to usage_before in check mode).
  returned: always
  type: dict
  sample: {total_bytes: 67108864, used_bytes: 15000000, free_bytes: 52108864, used_percent: 22.4}
audit_events:
  description: The RUNBOOK_ACTION event written (one per call that changed something); empty in check mode.
  returned: always
  type: list
  elements: dict
  sample: [{event_id: 4716, event_type: RUNBOOK_ACTION, aggregate_id: "runbook:node1", sequence_number: 7}]
'''

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.genesis.runbook.plugins.module_utils._common import (
    GenesisModule, clause, genesis_common_argument_spec,
)
from ansible_collections.genesis.runbook.plugins.module_utils.audit import AuditError, short_event
from ansible_collections.genesis.runbook.plugins.module_utils.db import GenesisDbError
from ansible_collections.genesis.runbook.plugins.module_utils import disk

STEPS = ("remove_temp_files", "archive_logs", "archive_data", "offload_archives")


def relative_under(path, tops):
    for top in tops:
        top = disk.normalized(top)
        if disk.normalized(path).startswith(top + os.sep):
            return os.path.relpath(path, top)
    return os.path.basename(path)


def offload_target(gm, layout, backup_path, path):
    """<backup_path>/<node>/<path relative to genesis_home> (or the absolute path without its leading /)."""
    home = disk.normalized(gm.params.get("genesis_home") or "/app")
    full = disk.normalized(path)
    rel = os.path.relpath(full, home) if full.startswith(home + os.sep) else full.lstrip(os.sep)
    return os.path.join(backup_path, gm.node, rel)


def plan(gm, layout):
    params = gm.params
    step = params["step"]
    if step == "remove_temp_files":
        return disk.temp_candidates(layout, params["temp_max_age_days"])
    if step == "archive_logs":
        return disk.log_candidates(layout, params["log_patterns"], params["log_retention_days"])
    if step == "archive_data":
        return disk.data_candidates(layout, params["data_retention_days"])
    return disk.archive_files(layout)


def check_backup_path(gm, layout):
    backup = gm.params.get("backup_path")
    if not backup:
        gm.fail("backup_path is not set: genesis_disk_cleanup needs it to offload the archives to another disk.")
    if not os.path.isabs(backup):
        gm.fail("backup_path %s must be an absolute path." % backup)
    if not os.path.isdir(backup):
        gm.fail("backup_path %s does not exist or is not a directory; mount the backup disk first, nothing was moved." % backup)
    backup_dev = disk.device_of(backup)
    for top in (layout["log_archive_dir"], layout["data_archive_dir"]):
        if os.path.isdir(top) and disk.device_of(top) == backup_dev:
            gm.fail("backup_path %s is on the same filesystem as %s, so moving the archives there frees nothing; "
                    "nothing was moved." % (backup, top))
    return backup


def act(gm, layout, entry):
    step = gm.params["step"]
    path = entry["path"]
    if step == "remove_temp_files":
        return dict(source=path, bytes=disk.remove_file(path))
    if step == "archive_logs":
        return disk.archive_file(path, layout["log_archive_dir"])
    if step == "archive_data":
        return disk.archive_file(path, layout["data_archive_dir"], relative_under(path, layout["data_dirs"]))
    return disk.move_verified(path, offload_target(gm, layout, gm.params["backup_path"], path))


def freed(step, files):
    if step in ("remove_temp_files", "offload_archives"):
        return sum(f["bytes"] for f in files)
    return sum(f["bytes"] - f.get("archive_bytes", 0) for f in files)


def main():
    argument_spec = genesis_common_argument_spec()
    argument_spec.update(disk.disk_argument_spec())
    argument_spec.update(
        step=dict(type="str", required=True, choices=list(STEPS)),
        backup_path=dict(type="path"),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    gm = GenesisModule(module, "genesis_disk_cleanup")
    params = module.params
    step = params["step"]
    layout = disk.resolve_layout(params)
    problem = disk.validate_params(params, layout)
    if problem:
        gm.fail(problem)
    if step == "offload_archives":
        check_backup_path(gm, layout)

    measure = layout["paths"][0]
    try:
        before = disk.usage(measure if os.path.exists(measure) else os.path.dirname(measure))
    except OSError as exc:
        gm.fail("The disk usage of %s could not be read: %s." % (measure, exc.strerror or exc))
    entries = plan(gm, layout)
    result = dict(changed=bool(entries), step=step, files=[dict(source=e["path"], bytes=e["bytes"]) for e in entries][:disk.MAX_LISTED],
                  count=len(entries), bytes=sum(e["bytes"] for e in entries), freed_bytes=sum(e["bytes"] for e in entries),
                  usage_before=before, usage_after=before, audit_events=[])
    if entries and module._diff:
        result["diff"] = dict(before=dict(used_percent=before["used_percent"], files=[e["path"] for e in entries][:disk.MAX_LISTED]),
                              after=dict(step=step, files=[]))
    if not entries or module.check_mode:
        module.exit_json(**result)

    db = gm.db("write the audit event of the cleanup")
    try:
        audit = gm.connected_audit(db, "Nothing was cleaned up")
        done = []
        error = None
        for entry in entries:
            try:
                done.append(act(gm, layout, entry))
            except disk.GenesisDiskError as exc:
                error = exc.message
                break
        after = disk.usage(measure if os.path.exists(measure) else os.path.dirname(measure))
        result.update(changed=bool(done), files=done[:disk.MAX_LISTED], count=len(done), bytes=sum(f["bytes"] for f in done),
                      freed_bytes=freed(step, done), usage_after=after)
        if module._diff:
            result["diff"] = dict(before=dict(used_percent=before["used_percent"], files=[f["source"] for f in done][:disk.MAX_LISTED]),
                                  after=dict(used_percent=after["used_percent"],
                                             files=[f.get("archive") or "(removed)" for f in done][:disk.MAX_LISTED]))
        if done:
            try:
                audit.write_runbook_action(
                    step,
                    before=dict(used_percent=before["used_percent"], used_bytes=before["used_bytes"], files=len(done),
                                bytes=result["bytes"]),
                    after=dict(used_percent=after["used_percent"], used_bytes=after["used_bytes"], freed_bytes=result["freed_bytes"]),
                    details=dict(files=[dict((k, f[k]) for k in ("source", "archive") if k in f) for f in done][:disk.MAX_LISTED],
                                 truncated=len(done) > disk.MAX_LISTED, error=error))
            except (GenesisDbError, AuditError) as exc:
                gm.fail("%s acted on %d files but its audit event was not written: %s" % (step, len(done), clause(exc.message)), **result)
            result["audit_events"] = [short_event(e) for e in audit.written]
        if error:
            gm.fail("%s stopped after %d of %d files: %s" % (step, len(done), len(entries), clause(error)), **result)
        module.exit_json(**result)
    finally:
        db.close()


if __name__ == "__main__":
    main()
