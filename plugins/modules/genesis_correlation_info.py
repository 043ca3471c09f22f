#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: genesis_correlation_info
short_description: Validate a genesis node's correlation matrix (runbook scenario 12)
version_added: 0.1.0
description:
  - Validates the live correlation matrix file the strategies read (C(.genesis/state/correlation_matrix.json)) and
    the fallback C(config/default_correlations.json). Valid means every value in [-1, 1], symmetric within 1e-9, unit diagonal,
    positive semi-definite (smallest eigenvalue not below -1e-9), covering the configured symbols.
  - With O(check_db), also validates the C(position_correlations) table (range, symmetry, one row per pair of the
    configured symbols); genesis has no range CHECK on that table, which is how corruption gets in.
  - Counts the C(Correlation calculation error) lines of C(trading.log), all of them or those after O(log_since).
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
  symbols:
    description:
      - The symbols the matrix must cover (the node's C(node.yaml) symbols).
      - By default the symbols of the live matrix file, else those of the defaults file.
    type: list
    elements: str
  state_file:
    description:
      - The live matrix the strategies read. Defaults to C(<genesis_home>/.genesis/state/correlation_matrix.json).
    type: path
  defaults_file:
    description:
      - The fallback matrix shipped with the configuration. Defaults to C(<genesis_home>/config/default_correlations.json).
    type: path
  check_db:
    description:
      - Also check the C(position_correlations) table (needs O(db_dsn)).
    type: bool
    default: true
  log_since:
    description:
      - Count only the C(Correlation calculation error) lines logged at or after this time
        (ISO 8601, for example C(2026-11-27T18:40:01.123Z), or epoch seconds).
    type: str
  log_lines:
    description:
      - How many of the newest matching log lines to return (0 to 1000).
    type: int
    default: 20
requirements:
  - psycopg2 (psycopg2-binary) on the node when O(check_db=true)
'''

EXAMPLES = r'''
- name: Is the correlation matrix valid?
  genesis.runbook.genesis_correlation_info:
    symbols: [BTCUSDT, ETHUSDT, SOLUSDT]
  register: correlations

- name: Any calculation error since the fix?
  genesis.runbook.genesis_correlation_info:
    log_since: "{{ fixed_at }}"
  register: after
  failed_when: after.calculation_errors.count > 0
'''

RETURN = r'''
valid:
  description: Whether the live matrix file and (with O(check_db)) the database rows are valid.
  returned: always
  type: bool
  sample: false
reasons:
  description: Why the live matrix or the database rows are invalid, one sentence each.
  returned: always
  type: list
  elements: str
  sample: ["correlation_matrix.json: BTCUSDT/ETHUSDT = 1.35 is outside [-1, 1]",
           "position_correlations asymmetric: BTCUSDT/ETHUSDT = 1.35 but ETHUSDT/BTCUSDT = 0.82"]
symbols:
  description: The symbols checked.
  returned: always
  type: list
  elements: str
  sample: [BTCUSDT, ETHUSDT, SOLUSDT]
state_file:
  description: The live matrix file, its validity, reasons, smallest eigenvalue and its pairs.
  returned: always
  type: dict
  sample: {path: /app/.genesis/state/correlation_matrix.json, exists: true, valid: false, smallest_eigenvalue: null,
           reasons: ["BTCUSDT/ETHUSDT = 1.35 is outside [-1, 1]"],
           matrix: {pairs: {BTCUSDT/ETHUSDT: 1.35, ETHUSDT/BTCUSDT: 0.82}, source: klines, calculated_at: "2026-11-27T18:40:01.123Z"}}
defaults_file:
  description: The same for the defaults file.
  returned: always
  type: dict
  sample: {path: /app/config/default_correlations.json, exists: true, valid: true, reasons: [], smallest_eigenvalue: 0.17}
database:
  description: The C(position_correlations) check (C(checked) false without O(check_db)).
  returned: always
  type: dict
  sample: {checked: true, valid: false, reasons: ["position_correlations BTCUSDT/ETHUSDT = 1.35 is outside [-1, 1]"],
           rows: [{symbol_1: BTCUSDT, symbol_2: ETHUSDT, value: 1.35}]}
calculation_errors:
  description: The C(Correlation calculation error) lines of C(trading.log) (after O(log_since) when set), newest last.
  returned: always
  type: dict
  sample: {count: 3, since: "2026-11-27T18:40:01.123Z", lines: [{timestamp: "2026-11-27T18:40:02.001Z", level: error,
           event: Correlation calculation error, reason: "BTCUSDT/ETHUSDT = 1.35 is outside [-1, 1]"}]}
checked_at:
  description: The node's time of the check (ISO 8601 UTC).
  returned: always
  type: str
  sample: "2026-11-27T18:40:03.120Z"
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.genesis.runbook.plugins.module_utils._common import (
    GenesisError, GenesisModule, genesis_common_argument_spec, iso, parse_iso, utc_now,
)
from ansible_collections.genesis.runbook.plugins.module_utils import correlation, logscan

CALC_ERROR = "Correlation calculation error"


def since_epoch(gm, value):
    """Epoch seconds of an ISO 8601 time or epoch number, or fail naming the option."""
    if value is None or str(value).strip() == "":
        return None
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        pass
    epoch = parse_iso(text)
    if epoch is None:
        gm.fail("log_since must be an ISO 8601 time (2026-11-27T18:40:01.123Z) or epoch seconds, got %s." % text)
    return epoch


def main():
    argument_spec = genesis_common_argument_spec()
    argument_spec.update(correlation.correlation_argument_spec())
    argument_spec.update(log_since=dict(type="str"), log_lines=dict(type="int", default=20))
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    gm = GenesisModule(module, "genesis_correlation_info")
    params = module.params
    if not 0 <= params["log_lines"] <= 1000:
        gm.fail("log_lines must be between 0 and 1000, got %s." % params["log_lines"])
    since = since_epoch(gm, params.get("log_since"))
    checked_at = iso(utc_now())

    db = gm.db("read position_correlations") if params["check_db"] else None
    try:
        try:
            found = correlation.inspect(gm, db)
        except GenesisError as exc:
            gm.fail(exc.message)
    finally:
        if db is not None:
            db.close()

    lines, count = logscan.records(logscan.log_path(params["genesis_home"], "trading.log"), events=[CALC_ERROR],
                                   since=since, limit=params["log_lines"])
    module.exit_json(changed=False, valid=found["valid"], reasons=found["reasons"], symbols=found["symbols"],
                     state_file=correlation.public(found["state_file"]),
                     defaults_file=correlation.public(found["defaults_file"]), database=found["database"],
                     calculation_errors=dict(count=count, since=iso(since) if since is not None else None, lines=lines),
                     checked_at=checked_at)


if __name__ == "__main__":
    main()
