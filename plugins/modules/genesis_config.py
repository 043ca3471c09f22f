#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: genesis_config
short_description: Restore a genesis node's drifted configuration and reload it through the API (runbook scenario 19)
version_added: 0.1.0
description:
  - C(restored) compares O(config_dir) with the known-good copy O(known_good_dir) like
    M(genesis.runbook.genesis_config_info). When files drifted (or are missing), it first copies the drifted live files
    into C(<save_dir>/<UTC timestamp>/) (nothing is lost), then replaces each with its known-good copy atomically
    (temporary file and rename, the live file's mode and owner kept) and writes one C(RUNBOOK_ACTION) event
    (step C(restore_config)). Files only in the live folder are never touched.
  - It refuses, changing nothing, when the known-good copy of a file to restore does not parse, or when a drifted
    file's live C(version) is higher than its known-good copy's (a deliberate change the known-good copy lacks;
    rolling it back needs O(allow_version_rollback=true)).
  - C(reloaded) makes the running node re-read its configuration with C(POST /admin/config/reload), the contract's
    replacement for the runbook's C(supervisorctl signal HUP), which kills genesis. The node answers C(changed=false)
    when the files on disk are what it runs already. An invalid configuration is refused by the node (HTTP 422) and
    the running one is kept; the module then fails with the node's errors. One C(RUNBOOK_ACTION) event
    (step C(reload_config)) when the node reloaded.
  - O(db_dsn) is needed when something is to change (the audit events).
author:
  - genesis.runbook maintainers (@genesis-runbook)
extends_documentation_fragment:
  - genesis.runbook.connection
attributes:
  check_mode:
    description:
      - C(restored) lists the files that would be saved aside and restored; nothing is written.
      - C(reloaded) cannot ask the node whether a reload would apply without applying it, so it reports C(changed=true)
        and posts nothing.
    support: full
  diff_mode:
    description: C(restored) shows the unified diff from the drifted file back to the known-good one.
    support: full
options:
  state:
    description:
      - C(restored) puts the known-good copy of each drifted file back; C(reloaded) reloads the running configuration.
    type: str
    choices: [restored, reloaded]
    default: restored
  config_dir:
    description:
      - The live configuration folder. Defaults to C(<genesis_home>/config).
    type: path
  known_good_dir:
    description:
      - The known-good copy. Defaults to C(<genesis_home>/config.backup).
    type: path
  save_dir:
    description:
      - Where drifted files are saved before they are replaced, one C(<UTC timestamp>) folder per restore.
        Defaults to C(<genesis_home>/config.drift).
    type: path
  files:
    description:
      - Restore only these drifted files (names in O(config_dir)); all drifted files by default.
    type: list
    elements: str
  allow_version_rollback:
    description:
      - Restore a drifted file even when its live C(version) is higher than the known-good copy's.
    type: bool
    default: false
requirements:
  - psycopg2 (psycopg2-binary) on the node, to write the audit events
  - PyYAML on the node, to refuse a known-good YAML file that does not parse
'''

EXAMPLES = r'''
- name: Save the drifted files aside and put the known-good copy back
  genesis.runbook.genesis_config:
    state: restored
    scenario: "19"
  register: restore

- name: Make the running node use it (never SIGHUP)
  genesis.runbook.genesis_config:
    state: reloaded
  when: restore is changed
'''

RETURN = r'''
restored:
  description: The files restored from the known-good copy (in check mode, those that would be).
  returned: always
  type: list
  elements: str
  sample: [node.yaml, trading_rules.yaml]
saved_to:
  description: The folder holding the drifted files as they were; null when nothing was saved.
  returned: always
  type: str
  sample: /app/config.drift/20261127T184001Z
version:
  description: With C(reloaded), the configuration version the node runs after the reload.
  returned: always
  type: int
  sample: 1
reload:
  description: With C(reloaded), the node's answer (C(changed), C(version), C(files)); null in check mode.
  returned: always
  type: dict
  sample: {changed: true, version: 1, files: [.env, config/node.yaml]}
audit_events:
  description: The RUNBOOK_ACTION event written; empty in check mode or when nothing changed.
  returned: always
  type: list
  elements: dict
  sample: [{event_id: 4716, event_type: RUNBOOK_ACTION, aggregate_id: "runbook:node1", sequence_number: 7}]
'''

import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.genesis.runbook.plugins.module_utils._common import (
    GenesisModule, clause, genesis_common_argument_spec,
)
from ansible_collections.genesis.runbook.plugins.module_utils.api import GenesisApiError
from ansible_collections.genesis.runbook.plugins.module_utils.audit import AuditError, short_event
from ansible_collections.genesis.runbook.plugins.module_utils.db import GenesisDbError
from ansible_collections.genesis.runbook.plugins.module_utils import config_drift


def file_state(entry, side):
    return dict(sha256=entry["%s_sha256" % side], version=entry["%s_version" % side])


def restore(module, gm):
    params = module.params
    config_dir, known_dir = config_drift.dirs(params)
    for option, path in (("config_dir", config_dir), ("known_good_dir", known_dir)):
        if not os.path.isdir(path):
            gm.fail("%s %s is not a folder on this node." % (option, path))
    save_root = params.get("save_dir") or os.path.join(params["genesis_home"] or "/app", config_drift.SAVE_DIR)
    try:
        files = config_drift.compare(config_dir, known_dir)
    except (IOError, OSError) as exc:
        gm.fail("The configuration could not be read: %s (%s)." % (exc.filename or config_dir, exc.strerror or exc))
    drifted = config_drift.summarize(files)["drifted"]
    if params["files"] is not None:
        wanted = [f.strip() for f in params["files"] if f and f.strip()]
        unknown = [f for f in wanted if f not in files or files[f]["status"] == "extra"]
        if unknown:
            verb = "has" if len(unknown) == 1 else "have"
            gm.fail("files holds %s, which %s no known-good copy in %s." % (", ".join(unknown), verb, known_dir))
        drifted = [f for f in drifted if f in wanted]

    result = dict(changed=bool(drifted), restored=list(drifted), saved_to=None, version=None, reload=None, audit_events=[])
    if not drifted:
        module.exit_json(**result)
    broken = [files[f]["known_good_parse_error"] for f in drifted if files[f]["known_good_parse_error"]]
    if broken:
        gm.fail("The known-good copy does not parse, nothing was restored: %s." % "; ".join(broken))
    conflicts = [f for f in drifted if files[f]["live_version"] is not None and files[f]["known_good_version"] is not None
                 and files[f]["live_version"] > files[f]["known_good_version"]]
    if conflicts and not params["allow_version_rollback"]:
        gm.fail("Version conflict, nothing was restored: %s in %s %s newer than the known-good copy (%s); refresh %s or set "
                "allow_version_rollback to roll %s back."
                % (", ".join(conflicts), config_dir, "is" if len(conflicts) == 1 else "are",
                   ", ".join("%s version %s > %s" % (f, files[f]["live_version"], files[f]["known_good_version"]) for f in conflicts),
                   known_dir, "it" if len(conflicts) == 1 else "them"))
    if module._diff:
        result["diff"] = [dict(before_header="%s/%s" % (config_dir, f), after_header="%s/%s" % (known_dir, f),
                               prepared=files[f]["diff"]) for f in drifted]
    if module.check_mode:
        module.exit_json(**result)

    db = gm.db("write the audit event of the configuration restore")
    try:
        audit = gm.connected_audit(db, "The configuration was not restored")
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        try:
            saved_to = config_drift.save_aside(config_dir, drifted, save_root, stamp)
        except (IOError, OSError) as exc:
            result.update(changed=False, restored=[])
            gm.fail("The configuration was not restored: the drifted files could not be saved into %s (%s)."
                    % (save_root, exc.strerror or exc), **result)
        result["saved_to"] = saved_to
        done = []
        for name in drifted:
            try:
                config_drift.restore_file(config_dir, known_dir, name)
            except (IOError, OSError) as exc:
                result.update(changed=bool(done), restored=done)
                gm.fail("%s was not restored (%d restored before it, drifted files saved in %s): %s."
                        % (name, len(done), saved_to, exc.strerror or exc), **result)
            done.append(name)
        before = dict((f, file_state(files[f], "live")) for f in drifted)
        after = dict((f, file_state(files[f], "known_good")) for f in drifted)
        try:
            audit.write_runbook_action("restore_config", before=before, after=after,
                                       details=dict(saved_to=saved_to, known_good_dir=known_dir, config_dir=config_dir,
                                                    diff=dict((f, files[f]["diff"]) for f in drifted)))
        except (GenesisDbError, AuditError) as exc:
            gm.fail("The configuration was restored but its audit event was not written: %s" % clause(exc.message), **result)
        result["audit_events"] = [short_event(e) for e in audit.written]
        module.exit_json(**result)
    finally:
        db.close()


def reload_config(module, gm):
    gm.require("api_key", "reload the configuration")
    result = dict(changed=True, restored=[], saved_to=None, version=None, reload=None, audit_events=[])
    api = gm.api()
    if module.check_mode:
        module.exit_json(**result)
    db = gm.db("write the audit event of the configuration reload")
    try:
        audit = gm.connected_audit(db, "The configuration was not reloaded")
        try:
            answer = api.post("/admin/config/reload", idempotent=True).data
        except GenesisApiError as exc:
            errors = exc.body.get("errors") if isinstance(exc.body, dict) else None
            result["changed"] = False
            if exc.status == 422 and errors:
                gm.fail("The node refused to reload its configuration and keeps the running one: %s."
                        % "; ".join(str(e) for e in errors), **result)
            gm.fail(exc.message, **result)
        answer = answer if isinstance(answer, dict) else {}
        applied = bool(answer.get("changed"))
        result.update(changed=applied, version=answer.get("version"), reload=answer)
        if applied:
            try:
                audit.write_runbook_action("reload_config", before=dict(reloaded=False),
                                           after=dict(reloaded=True, version=answer.get("version")),
                                           details=dict(files=answer.get("files")))
            except (GenesisDbError, AuditError) as exc:
                gm.fail("The configuration was reloaded but its audit event was not written: %s" % clause(exc.message),
                        **result)
            result["audit_events"] = [short_event(e) for e in audit.written]
        module.exit_json(**result)
    finally:
        db.close()


def main():
    argument_spec = genesis_common_argument_spec()
    argument_spec.update(
        state=dict(type="str", choices=["restored", "reloaded"], default="restored"),
        config_dir=dict(type="path"),
        known_good_dir=dict(type="path"),
        save_dir=dict(type="path"),
        files=dict(type="list", elements="str"),
        allow_version_rollback=dict(type="bool", default=False),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    gm = GenesisModule(module, "genesis_config")
    if module.params["state"] == "restored":
        restore(module, gm)
    else:
        reload_config(module, gm)


if __name__ == "__main__":
    main()
