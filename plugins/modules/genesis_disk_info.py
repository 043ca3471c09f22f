#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: genesis_disk_info
short_description: Gather the evidence of disk space exhaustion on a genesis node (runbook scenario 10)
version_added: 0.1.0
description:
  - Reports the usage of every filesystem holding one of O(paths) (by default the node's data and log
    directories), as C(df) counts it, with its level C(ok), C(warning) (above O(warn_percent)) or C(critical)
    (above O(critical_percent)).
  - Lists what M(genesis.runbook.genesis_disk_cleanup) would act on, with the same options; rotated logs past
    O(log_retention_days), data files past O(data_retention_days), temp files older than O(temp_max_age_days) in
    O(temp_dirs) only, and the compressed archives.
  - Finds lines of the live C(*.log) files that report a full disk (C(No space left on device), C(ENOSPC)...)
    written since O(space_errors_since).
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
  paths:
    description:
      - Paths whose filesystems to measure. By default O(data_dirs) and O(log_dirs).
    type: list
    elements: path
  warn_percent:
    description:
      - Usage above which a filesystem is at C(warning) level (the runbook warns at 90 %).
    type: float
    default: 90
  critical_percent:
    description:
      - Usage above which a filesystem is C(critical) (the runbook's detection, 95 %).
    type: float
    default: 95
  log_dirs:
    description:
      - Directories of genesis's logs (not recursive). By default C(<genesis_home>/.genesis/logs).
    type: list
    elements: path
  log_patterns:
    description:
      - Shell patterns of rotated log file names. A live C(*.log) file never matches and is never touched.
    type: list
    elements: str
    default: ["*.log.[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]", "*.log.[0-9]", "*.log.[0-9][0-9]"]
  log_retention_days:
    description:
      - Rotated logs whose last change is older than this many days are past retention.
    type: int
    default: 30
  log_archive_dir:
    description:
      - Where compressed logs go. By default C(archive/) in the first of O(log_dirs).
    type: path
  data_dirs:
    description:
      - Directories of genesis's data files (recursive). By default C(<genesis_home>/.genesis/data).
    type: list
    elements: path
  data_retention_days:
    description:
      - Data files whose last change is older than this many days are past retention.
    type: int
    default: 90
  data_archive_dir:
    description:
      - Where archived data files go. By default C(archive/) in the first of O(data_dirs).
    type: path
  temp_dirs:
    description:
      - The only directories whose old temp files may be removed (recursive, files only).
        By default C(<genesis_home>/.genesis/tmp). A whole system directory such as C(/tmp) is refused.
    type: list
    elements: path
  temp_max_age_days:
    description:
      - Temp files whose last change is older than this many days are removable.
    type: int
    default: 7
  space_errors_since:
    description:
      - Report only space errors logged at or after this time (ISO 8601 or epoch seconds). Empty reports every
        space error in the last 4 MiB of each live log.
    type: str
notes:
  - File ages are taken from the modification time.
'''

EXAMPLES = r'''
- name: Measure the disk and list what a cleanup would do
  genesis.runbook.genesis_disk_info:
    genesis_home: /app
    critical_percent: 95
  register: disk

- name: Fail when a filesystem is critical
  ansible.builtin.assert:
    that: not disk.critical
'''

RETURN = r'''
filesystems:
  description: One entry per filesystem holding one of the paths.
  returned: always
  type: list
  elements: dict
  sample:
    - {mount: /app/.genesis, paths: [/app/.genesis/data, /app/.genesis/logs], total_bytes: 67108864,
       used_bytes: 64763904, free_bytes: 2344960, used_percent: 96.5, level: critical}
max_used_percent:
  description: The highest usage among the filesystems.
  returned: always
  type: float
  sample: 96.5
critical:
  description: Whether a filesystem is above O(critical_percent).
  returned: always
  type: bool
  sample: true
warning:
  description: Whether a filesystem is above O(warn_percent).
  returned: always
  type: bool
  sample: true
missing_paths:
  description: Paths that do not exist (their nearest existing parent was measured).
  returned: always
  type: list
  elements: str
  sample: []
candidates:
  description:
    - What a cleanup would act on; per kind C(count), C(bytes), C(files) (at most 200, oldest first, each with
      C(path), C(bytes), C(mtime), C(age_days)) and C(truncated).
  returned: always
  type: dict
  sample:
    logs: {count: 12, bytes: 49283072, truncated: false,
           files: [{path: /app/.genesis/logs/genesis.log.2026-10-13, bytes: 4106920, mtime: "2026-10-13T23:59:59.000Z", age_days: 45.0}]}
    data: {count: 0, bytes: 0, files: [], truncated: false}
    temp: {count: 3, bytes: 12582912, files: [], truncated: false}
    archives: {count: 0, bytes: 0, files: [], truncated: false}
space_errors:
  description: Lines of the live logs that report a full disk, oldest first (at most 200).
  returned: always
  type: list
  elements: dict
  sample: [{file: /app/.genesis/logs/genesis_error.log, timestamp: "2026-11-27T18:40:01.123Z", line: "..."}]
space_errors_count:
  description: How many such lines were found.
  returned: always
  type: int
  sample: 0
layout:
  description: The directories used (defaults resolved from genesis_home).
  returned: always
  type: dict
  sample: {log_dirs: [/app/.genesis/logs], log_archive_dir: /app/.genesis/logs/archive, data_dirs: [/app/.genesis/data],
           data_archive_dir: /app/.genesis/data/archive, temp_dirs: [/app/.genesis/tmp]}
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.genesis.runbook.plugins.module_utils._common import GenesisModule, genesis_common_argument_spec
from ansible_collections.genesis.runbook.plugins.module_utils import disk


def main():
    argument_spec = genesis_common_argument_spec()
    argument_spec.update(disk.disk_argument_spec())
    argument_spec.update(
        warn_percent=dict(type="float", default=90),
        critical_percent=dict(type="float", default=95),
        space_errors_since=dict(type="str"),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    gm = GenesisModule(module, "genesis_disk_info")
    params = module.params
    layout = disk.resolve_layout(params)
    problem = disk.validate_params(params, layout)
    if problem:
        gm.fail(problem)
    if not 0 < params["warn_percent"] <= params["critical_percent"] <= 100:
        gm.fail("warn_percent and critical_percent must satisfy 0 < warn_percent <= critical_percent <= 100, got %s and %s."
                % (params["warn_percent"], params["critical_percent"]))
    since = disk.since_epoch(params.get("space_errors_since"))
    if params.get("space_errors_since") and since is None:
        gm.fail("space_errors_since must be an ISO 8601 time or epoch seconds, got %s." % params["space_errors_since"])

    try:
        found, missing = disk.filesystems(layout["paths"], params["warn_percent"], params["critical_percent"])
    except OSError as exc:
        gm.fail("The disk usage of %s could not be read: %s." % (", ".join(layout["paths"]), exc.strerror or exc))
    if not found:
        gm.fail("None of paths %s exists on the node, so no filesystem could be measured." % ", ".join(layout["paths"]))
    errors = disk.space_errors(layout["log_dirs"], since)
    candidates = dict(
        logs=disk.summary(disk.log_candidates(layout, params["log_patterns"], params["log_retention_days"])),
        data=disk.summary(disk.data_candidates(layout, params["data_retention_days"])),
        temp=disk.summary(disk.temp_candidates(layout, params["temp_max_age_days"])),
        archives=disk.summary(disk.archive_files(layout)),
    )
    module.exit_json(
        changed=False,
        filesystems=found,
        max_used_percent=max(f["used_percent"] for f in found),
        critical=any(f["level"] == "critical" for f in found),
        warning=any(f["level"] in ("warning", "critical") for f in found),
        missing_paths=missing,
        candidates=candidates,
        space_errors=errors[:disk.MAX_LISTED],
        space_errors_count=len(errors),
        layout=dict((k, layout[k]) for k in ("log_dirs", "log_archive_dir", "data_dirs", "data_archive_dir", "temp_dirs")),
    )


if __name__ == "__main__":
    main()
