#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: genesis_config_info
short_description: Diff and validate a genesis node's configuration (runbook scenario 19)
version_added: 0.1.0
description:
  - Compares every file of O(config_dir) with the known-good copy in O(known_good_dir) and returns a unified diff of
    each drifted or missing file, both files' SHA-256 and their top-level C(version).
  - Parses each file (JSON always, YAML when PyYAML is on the node) and reports syntax errors of both copies.
  - A drifted file whose live C(version) is higher than the known-good copy's is a version conflict, since it looks like a
    deliberate change that the known-good copy does not have yet.
  - With O(validate), asks the node to validate the files on disk with C(GET /admin/config/validate) (parse, required
    keys, ranges).
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
    description: Read-only; the diffs are in RV(files).
    support: N/A
options:
  config_dir:
    description:
      - The live configuration folder. Defaults to C(<genesis_home>/config).
    type: path
  known_good_dir:
    description:
      - The known-good copy. Defaults to C(<genesis_home>/config.backup).
    type: path
  validate:
    description:
      - Ask the node to validate the files on disk (needs O(api_key)).
    type: bool
    default: true
  diff_lines:
    description:
      - At most this many lines of unified diff per file (1 to 10000).
    type: int
    default: 200
'''

EXAMPLES = r'''
- name: What drifted, and is the live configuration valid?
  genesis.runbook.genesis_config_info:
  register: config

- name: Show the diffs
  ansible.builtin.debug:
    msg: "{{ config.files[item].diff }}"
  loop: "{{ config.drifted }}"
'''

RETURN = r'''
drifted:
  description: The files that differ from the known-good copy or are missing from the live folder.
  returned: always
  type: list
  elements: str
  sample: [node.yaml, trading_rules.yaml]
extra:
  description: Files only in the live folder (never touched by M(genesis.runbook.genesis_config)).
  returned: always
  type: list
  elements: str
  sample: []
version_conflicts:
  description: Drifted files whose live C(version) is higher than the known-good copy's.
  returned: always
  type: list
  elements: str
  sample: []
parse_errors:
  description: Syntax errors of the live files, one sentence each.
  returned: always
  type: list
  elements: str
  sample: ["trading_rules.yaml: YAML syntax error at line 4"]
known_good_parse_errors:
  description: Syntax errors of the known-good copy, one sentence each.
  returned: always
  type: list
  elements: str
  sample: []
files:
  description: Per file, its status (C(same), C(drifted), C(missing), C(extra)), hashes, versions, parse errors and diff.
  returned: always
  type: dict
  sample:
    trading_rules.yaml:
      status: drifted
      live_sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
      known_good_sha256: 60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752
      live_version: 1
      known_good_version: 1
      live_parse_error: null
      known_good_parse_error: null
      diff: "--- config.backup/trading_rules.yaml\n+++ config/trading_rules.yaml\n@@ -4 +4 @@\n-max_leverage: 3\n+max_leverage: 50"
validation:
  description: What the node's validator answered (C(valid), C(errors), C(version)); null without O(validate).
  returned: always
  type: dict
  sample: {valid: false, errors: ["trading_rules.yaml: max_leverage 50 is outside 1..10"], version: 1}
config_dir:
  description: The live configuration folder compared.
  returned: always
  type: str
  sample: /app/config
known_good_dir:
  description: The known-good copy compared against.
  returned: always
  type: str
  sample: /app/config.backup
'''

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.genesis.runbook.plugins.module_utils._common import GenesisModule, genesis_common_argument_spec
from ansible_collections.genesis.runbook.plugins.module_utils.api import GenesisApiError
from ansible_collections.genesis.runbook.plugins.module_utils import config_drift


def main():
    argument_spec = genesis_common_argument_spec()
    argument_spec.update(
        config_dir=dict(type="path"),
        known_good_dir=dict(type="path"),
        validate=dict(type="bool", default=True),
        diff_lines=dict(type="int", default=200),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    gm = GenesisModule(module, "genesis_config_info")
    params = module.params
    if not 1 <= params["diff_lines"] <= 10000:
        gm.fail("diff_lines must be between 1 and 10000, got %s." % params["diff_lines"])
    config_dir, known_dir = config_drift.dirs(params)
    for option, path in (("config_dir", config_dir), ("known_good_dir", known_dir)):
        if not os.path.isdir(path):
            gm.fail("%s %s is not a folder on this node." % (option, path))

    try:
        files = config_drift.compare(config_dir, known_dir, params["diff_lines"])
    except (IOError, OSError) as exc:
        gm.fail("The configuration could not be read: %s (%s)." % (exc.filename or config_dir, exc.strerror or exc))

    validation = None
    if params["validate"]:
        gm.require("api_key", "validate the configuration")
        api = gm.api()
        try:
            answer = api.get("/admin/config/validate").data
        except GenesisApiError as exc:
            gm.fail(exc.message)
        answer = answer if isinstance(answer, dict) else {}
        validation = dict(valid=bool(answer.get("valid")), errors=list(answer.get("errors") or []), version=answer.get("version"))

    result = config_drift.summarize(files)
    if not config_drift.HAS_YAML:
        module.warn("PyYAML is not installed on the node: YAML files were compared but not parsed.")
    module.exit_json(changed=False, files=files, validation=validation, config_dir=config_dir, known_good_dir=known_dir,
                     **result)


if __name__ == "__main__":
    main()
