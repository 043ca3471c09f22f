#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: genesis_exchange_auth
short_description: Rotate the exchange API key a genesis node trades with (runbook scenario 14)
version_added: 0.1.0
description:
  - Installs a new exchange API key and secret in the node's C(<genesis_home>/.env)
    (C(GENESIS_EXCHANGE_API_KEY), C(GENESIS_EXCHANGE_API_SECRET)) and makes the running programs use it.
  - First proves the exchange accepts the new key with a signed C(GET /api/v3/account) made with the node's clock;
    a rejected key is never installed.
  - Then copies the current C(.env) to C(.env.bak-<UTC timestamp>) (mode 0600), writes the new file next to it and
    renames it over the original (atomic; owner and mode kept; every other line unchanged), and calls
    C(POST /admin/config/reload) so genesis re-reads it without a restart.
  - Writes one C(RUNBOOK_ACTION) audit event (step C(rotate_exchange_key)) with the key fingerprints before and after,
    never the keys; O(db_dsn) is needed, and nothing is changed when the audit trail cannot be written.
  - When the installed key already is O(new_api_key) with O(new_api_secret), nothing is done (C(changed=false)).
author:
  - genesis.runbook maintainers (@genesis-runbook)
extends_documentation_fragment:
  - genesis.runbook.connection
attributes:
  check_mode:
    description:
      - Verifies the new key (a read-only signed call) and reports the rotation it would make; nothing is written.
      - When the node's clock is too far off to verify the key (C(-1021)), check mode still reports the rotation, with a warning.
    support: full
  diff_mode:
    description: Shows the key fingerprints before and after (never the keys).
    support: full
options:
  state:
    description:
      - C(rotated) makes O(new_api_key) and O(new_api_secret) the node's exchange credentials.
    type: str
    choices: [rotated]
    default: rotated
  new_api_key:
    description:
      - The new exchange API key. Keep it in a vault.
    type: str
    required: true
  new_api_secret:
    description:
      - The new exchange API secret. Keep it in a vault.
    type: str
    required: true
  clock_offset_file:
    description:
      - genesis-lab only. A file holding the node's simulated clock error in milliseconds, added to the clock
        when signing the verification call. Leave unset in production.
    type: path
  backup_dir:
    description:
      - Folder for the copy of the current C(.env); by default the folder of C(.env) itself.
    type: path
  reload:
    description:
      - Call C(POST /admin/config/reload) after the rotation so the running programs use the new key (needs O(api_key)).
    type: bool
    default: true
requirements:
  - psycopg2 (psycopg2-binary) on the node, to write the audit event
'''

EXAMPLES = r'''
- name: Rotate the node's exchange key (values from a vault)
  genesis.runbook.genesis_exchange_auth:
    state: rotated
    new_api_key: "{{ vault_new_exchange_api_key }}"
    new_api_secret: "{{ vault_new_exchange_api_secret }}"
    scenario: "14"
  register: rotation
'''

RETURN = r'''
rotated:
  description: Whether the key was replaced (in check mode, whether it would be).
  returned: always
  type: bool
  sample: true
before_key_id:
  description: Fingerprint of the key installed before.
  returned: always
  type: str
  sample: "sha256:4f1c2a9be0d3"
after_key_id:
  description: Fingerprint of the key installed after (in check mode, the one that would be).
  returned: always
  type: str
  sample: "sha256:9b2e77c01d4f"
verification:
  description: The signed call made with the new key before installing it.
  returned: always
  type: dict
  sample: {ok: true, code: null, status: 200, error: null, can_trade: true, unreachable: false, at: "2026-11-27T18:40:01.123Z"}
backup_path:
  description: Where the previous C(.env) was copied; null when nothing was written.
  returned: always
  type: str
  sample: /app/.env.bak-20261127T184001Z
reload:
  description: The answer of C(POST /admin/config/reload); null when it was not called.
  returned: always
  type: dict
  sample: {changed: true, version: 7, files: [.env, config/node.yaml]}
audit_events:
  description: The RUNBOOK_ACTION event written; empty in check mode and when nothing changed.
  returned: always
  type: list
  elements: dict
  sample: [{event_id: 4716, event_type: RUNBOOK_ACTION, aggregate_id: "runbook:node1", sequence_number: 7}]
'''

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.genesis.runbook.plugins.module_utils._common import (
    GenesisError, GenesisModule, clause, genesis_common_argument_spec,
)
from ansible_collections.genesis.runbook.plugins.module_utils.api import GenesisApiError
from ansible_collections.genesis.runbook.plugins.module_utils.audit import AuditError, short_event
from ansible_collections.genesis.runbook.plugins.module_utils.db import GenesisDbError
from ansible_collections.genesis.runbook.plugins.module_utils.envfile import EnvFile, EnvFileError, env_path, fingerprint
from ansible_collections.genesis.runbook.plugins.module_utils import exchange_auth
from ansible_collections.genesis.runbook.plugins.module_utils.exchange import TIMESTAMP_OUTSIDE_RECV_WINDOW

STEP = "rotate_exchange_key"


def main():
    argument_spec = genesis_common_argument_spec()
    argument_spec.update(
        state=dict(type="str", choices=["rotated"], default="rotated"),
        new_api_key=dict(type="str", required=True, no_log=True),
        new_api_secret=dict(type="str", required=True, no_log=True),
        clock_offset_file=dict(type="path"),
        backup_dir=dict(type="path"),
        reload=dict(type="bool", default=True),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    gm = GenesisModule(module, "genesis_exchange_auth")
    params = module.params
    new_key = (params["new_api_key"] or "").strip()
    new_secret = (params["new_api_secret"] or "").strip()
    if not new_key or not new_secret:
        gm.fail("new_api_key and new_api_secret must both be set (from a vault) to rotate the exchange key; nothing was changed.")
    if any(c.isspace() or c in "'\"#" for c in new_key + new_secret):
        gm.fail("new_api_key and new_api_secret must not contain spaces, quotes or #; nothing was changed.")
    if params["backup_dir"] and not os.path.isdir(params["backup_dir"]):
        gm.fail("backup_dir %s is not a folder; nothing was changed." % params["backup_dir"])
    gm.require("exchange_url", "verify the new key before installing it")
    if params["reload"]:
        gm.require("api_key", "ask genesis to reload the rotated key")

    path = env_path(params["genesis_home"])
    try:
        env = EnvFile.read(path)
    except EnvFileError as exc:
        gm.fail(exc.message)
    old_key, old_secret = env.get(exchange_auth.ENV_KEY), env.get(exchange_auth.ENV_SECRET)
    gm.secrets = sorted(set(gm.secrets) | set(s for s in (old_key, old_secret, new_key, new_secret) if s and len(s) >= 4),
                        key=len, reverse=True)
    before = dict(key_id=fingerprint(old_key))
    after = dict(key_id=fingerprint(new_key))
    result = dict(changed=False, rotated=False, before_key_id=before["key_id"], after_key_id=before["key_id"],
                  verification=None, backup_path=None, reload=None, audit_events=[])
    if old_key == new_key and old_secret == new_secret:
        module.exit_json(**result)

    try:
        clock = exchange_auth.node_clock(params["clock_offset_file"])
        exchange_auth.clock_offset_ms(params["clock_offset_file"])
    except GenesisError as exc:
        gm.fail(exc.message)
    probe = exchange_auth.signed_probe(exchange_auth.client(params, new_key, new_secret, clock),
                                       "the new key %s" % after["key_id"])
    result["verification"] = probe
    if not probe["ok"]:
        if probe["unreachable"]:
            gm.fail("The new key could not be verified because %s; nothing was changed." % clause(probe["error"]).rstrip("."),
                    **result)
        if probe["code"] == TIMESTAMP_OUTSIDE_RECV_WINDOW and module.check_mode:
            module.warn("The new key could not be verified now because the node's clock is outside the exchange's "
                        "receive window (-1021); it is verified again before it is installed.")
        elif probe["code"] == TIMESTAMP_OUTSIDE_RECV_WINDOW:
            gm.fail("The new key could not be verified because the node's clock is outside the exchange's receive window "
                    "(-1021): synchronise the clock first; nothing was changed.", **result)
        else:
            gm.fail("The exchange rejects the key supplied in new_api_key (%s): it was not installed and nothing was changed."
                    % (probe["code"] if probe["code"] is not None else "HTTP %s" % probe["status"]), **result)

    result.update(changed=True, rotated=True, after_key_id=after["key_id"])
    if module._diff:
        result["diff"] = dict(before={exchange_auth.ENV_KEY: before["key_id"], exchange_auth.ENV_SECRET: fingerprint(old_secret)},
                              after={exchange_auth.ENV_KEY: after["key_id"], exchange_auth.ENV_SECRET: fingerprint(new_secret)})
    if module.check_mode:
        module.exit_json(**result)

    db = gm.db("write the audit event of the key rotation")
    try:
        audit = gm.connected_audit(db, "The exchange key was not rotated")
        lines, _keys = env.updated({exchange_auth.ENV_KEY: new_key, exchange_auth.ENV_SECRET: new_secret})
        try:
            result["backup_path"] = env.backup(params["backup_dir"])
            env.replace(lines)
        except EnvFileError as exc:
            result.update(changed=False, rotated=False, after_key_id=before["key_id"])
            gm.fail(exc.message, **result)

        reload_error = None
        if params["reload"]:
            try:
                answer = gm.api().post("/admin/config/reload", idempotent=True).data
                result["reload"] = dict(changed=answer.get("changed"), version=answer.get("version"),
                                        files=answer.get("files")) if isinstance(answer, dict) else dict(changed=None)
            except GenesisApiError as exc:
                reload_error = exc.message
        try:
            audit.write_runbook_action(STEP, before=before, after=dict(after, backup_path=result["backup_path"],
                                                                       reloaded=result["reload"] is not None),
                                       details=dict(env_file=path, verification_status=probe["status"]))
        except (GenesisDbError, AuditError) as exc:
            gm.fail("The exchange key was rotated in %s (previous file saved as %s) but its audit event was not written: %s"
                    % (path, result["backup_path"], clause(exc.message)), **result)
        result["audit_events"] = [short_event(e) for e in audit.written]
        if reload_error:
            gm.fail("The exchange key was rotated in %s (previous file saved as %s) but genesis did not reload it: %s"
                    % (path, result["backup_path"], clause(reload_error)), **result)
        module.exit_json(**result)
    finally:
        db.close()


if __name__ == "__main__":
    main()
