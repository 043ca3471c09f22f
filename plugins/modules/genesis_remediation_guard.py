#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: genesis_remediation_guard
short_description: Per-node remediation lock and remediation budget for genesis runbook runs
version_added: 0.2.0
description:
  - Keeps two pieces of runbook state in O(state_dir) on the node, so that two runs never act on the same node at once
    and a scenario that keeps coming back is escalated instead of being remediated again and again.
  - O(state=locked) takes the node's remediation lock for O(run_id). When another run holds it, waits up to O(lock_wait)
    seconds, then fails with one sentence naming the holder. A lock older than O(lock_ttl) seconds (a run that died) is
    taken over. Taking a lock this run already holds is a no-op.
  - O(state=unlocked) releases the lock if this run holds it.
  - O(state=spent) records one remediation of O(scenario) on this node, unless O(budget) remediations of it were already
    recorded in the last O(budget_window) seconds; then nothing is recorded and RV(budget_exhausted) is true, so the
    caller escalates instead of acting. Spending twice in one run counts once.
  - The lock and the budget are bookkeeping of the runbook, not genesis state, so taking or releasing the lock reports
    C(changed=false); spending reports C(changed=true) when it records a remediation.
author:
  - genesis.runbook maintainers (@genesis-runbook)
extends_documentation_fragment:
  - genesis.runbook.connection
attributes:
  check_mode:
    description: Nothing is written; the result says whether the lock is free and whether the budget would allow a remediation.
    support: full
  diff_mode:
    description: No diff; the state files are runbook bookkeeping.
    support: none
options:
  state:
    description:
      - C(locked) takes the node's remediation lock, C(unlocked) releases it, C(spent) records one remediation against
        the budget.
    type: str
    choices: [locked, unlocked, spent]
    required: true
  state_dir:
    description:
      - Directory on the node for the lock and budget files. Keep it outside the genesis data filesystem, which may be
        full when the runbook is needed. Defaults to C(/var/lib/genesis-runbook/<node_name>).
    type: path
  lock_wait:
    description:
      - Seconds to wait for a lock held by another run before failing (0 to 3600).
    type: int
    default: 60
  lock_ttl:
    description:
      - Seconds after which a lock is considered abandoned and may be taken over (60 or more).
    type: int
    default: 1800
  budget:
    description:
      - Remediations of one scenario allowed on one node within O(budget_window) (1 or more).
    type: int
    default: 3
  budget_window:
    description:
      - Length in seconds of the budget's sliding window (60 or more).
    type: int
    default: 3600
'''

EXAMPLES = r'''
- name: Take the node's remediation lock for this run
  genesis.runbook.genesis_remediation_guard:
    state: locked
    lock_wait: 60

- name: Spend one remediation of this scenario, or learn that the budget is exhausted
  genesis.runbook.genesis_remediation_guard:
    state: spent
    scenario: fix_execution
    budget: 3
  register: budget

- name: Release the lock
  genesis.runbook.genesis_remediation_guard:
    state: unlocked
'''

RETURN = r'''
lock:
  description: The lock as it is after the call (null when free).
  returned: always
  type: dict
  sample: {run_id: 20261127T184001Z, node: node1, scenario: fix_execution, acquired_at: 1795804801.1, expires_at: 1795806601.1}
waited_s:
  description: Seconds waited for another run's lock.
  returned: always
  type: float
  sample: 0.0
budget_used:
  description: Remediations of O(scenario) recorded in the window (after this call).
  returned: always
  type: int
  sample: 1
budget_remaining:
  description: Remediations of O(scenario) still allowed in the window (after this call).
  returned: always
  type: int
  sample: 2
budget_exhausted:
  description: True when O(state=spent) found the budget used up; nothing was recorded then.
  returned: always
  type: bool
  sample: false
state_dir:
  description: The directory used.
  returned: always
  type: str
  sample: /var/lib/genesis-runbook/node1
'''

import errno
import fcntl
import json
import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.genesis.runbook.plugins.module_utils._common import GenesisModule, genesis_common_argument_spec

POLL_S = 1.0


class GuardStore(object):
    """The lock and budget files in one directory, changed only under an flock of `.guard`."""

    def __init__(self, state_dir):
        self.state_dir = state_dir
        self.lock_path = os.path.join(state_dir, "remediation.lock")
        self.budget_path = os.path.join(state_dir, "budget.json")
        self._guard = None

    def __enter__(self):
        self._guard = open(os.path.join(self.state_dir, ".guard"), "a")
        fcntl.flock(self._guard, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self._guard, fcntl.LOCK_UN)
        self._guard.close()
        return False

    @staticmethod
    def _read(path, empty):
        try:
            with open(path) as handle:
                return json.load(handle)
        except (IOError, OSError) as exc:
            if exc.errno == errno.ENOENT:
                return empty
            raise
        except ValueError:
            return empty  # a torn or foreign file is treated as absent and rewritten

    @staticmethod
    def _write(path, data):
        tmp = path + ".tmp"
        with open(tmp, "w") as handle:
            json.dump(data, handle, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.rename(tmp, path)

    def lock(self):
        return self._read(self.lock_path, None)

    def set_lock(self, data):
        self._write(self.lock_path, data)

    def clear_lock(self):
        os.remove(self.lock_path)

    def budget(self):
        data = self._read(self.budget_path, {})
        return data if isinstance(data, dict) else {}

    def set_budget(self, data):
        self._write(self.budget_path, data)


def usable_lock(lock, run_id, now):
    """None when free (absent or expired), 'ours' when held by run_id, else 'other'."""
    if not isinstance(lock, dict) or float(lock.get("expires_at", 0)) <= now:
        return None
    return "ours" if lock.get("run_id") == run_id else "other"


def window_entries(budget, scenario, now, window):
    entries = budget.get(scenario) or []
    return [e for e in entries if isinstance(e, dict) and float(e.get("at", 0)) > now - window]


def main():
    argument_spec = genesis_common_argument_spec()
    argument_spec.update(
        state=dict(type="str", required=True, choices=["locked", "unlocked", "spent"]),
        state_dir=dict(type="path"),
        lock_wait=dict(type="int", default=60),
        lock_ttl=dict(type="int", default=1800),
        budget=dict(type="int", default=3),
        budget_window=dict(type="int", default=3600),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    gm = GenesisModule(module, "genesis_remediation_guard")
    p = module.params
    if not 0 <= p["lock_wait"] <= 3600:
        gm.fail("lock_wait must be between 0 and 3600 seconds, got %s." % p["lock_wait"])
    if p["lock_ttl"] < 60:
        gm.fail("lock_ttl must be 60 seconds or more, got %s." % p["lock_ttl"])
    if p["budget"] < 1:
        gm.fail("budget must be 1 or more, got %s." % p["budget"])
    if p["budget_window"] < 60:
        gm.fail("budget_window must be 60 seconds or more, got %s." % p["budget_window"])
    run_id = p.get("run_id")
    if not run_id:
        gm.fail("run_id is empty: the lock and the budget need the run id (genesis_run_id).")
    scenario = p.get("scenario")
    if p["state"] == "spent" and not scenario:
        gm.fail("scenario is empty: state=spent counts remediations per scenario.")
    state_dir = p.get("state_dir") or os.path.join("/var/lib/genesis-runbook", gm.node)
    try:
        if not module.check_mode:
            os.makedirs(state_dir, mode=0o750, exist_ok=True)
    except OSError as exc:
        gm.fail("state_dir %s could not be created: %s." % (state_dir, exc.strerror or exc))

    result = dict(changed=False, state_dir=state_dir, lock=None, waited_s=0.0, budget_used=0,
                  budget_remaining=p["budget"], budget_exhausted=False)
    if module.check_mode and not os.path.isdir(state_dir):
        # nothing recorded yet: the lock is free and the budget untouched
        now = time.time()
        if p["state"] == "locked":
            result["lock"] = dict(run_id=run_id, node=gm.node, scenario=scenario, acquired_at=now,
                                  expires_at=now + p["lock_ttl"])
        elif p["state"] == "spent":
            result.update(changed=True, budget_used=1, budget_remaining=p["budget"] - 1)
        module.exit_json(**result)
    store = GuardStore(state_dir)
    try:
        if p["state"] == "locked":
            take_lock(module, gm, store, run_id, scenario, result)
        elif p["state"] == "unlocked":
            with store:
                lock = store.lock()
                if usable_lock(lock, run_id, time.time()) == "ours" and not module.check_mode:
                    store.clear_lock()
                    lock = None
                result["lock"] = lock
        else:
            spend(module, store, run_id, scenario, result)
        if scenario:
            now = time.time()
            with store:
                used = len(window_entries(store.budget(), scenario, now, p["budget_window"]))
            if p["state"] != "spent" or not module.check_mode:
                result["budget_used"] = used
                result["budget_remaining"] = max(0, p["budget"] - used)
    except (IOError, OSError) as exc:
        gm.fail("the remediation guard files in %s could not be used: %s." % (state_dir, exc.strerror or exc))
    module.exit_json(**result)


def take_lock(module, gm, store, run_id, scenario, result):
    p = module.params
    started = time.time()
    while True:
        with store:
            now = time.time()
            lock = store.lock()
            owner = usable_lock(lock, run_id, now)
            if owner is None or owner == "ours":
                mine = dict(run_id=run_id, node=gm.node, scenario=scenario, acquired_at=now, expires_at=now + p["lock_ttl"])
                if owner == "ours":
                    mine["acquired_at"] = lock.get("acquired_at", now)
                if not module.check_mode:
                    store.set_lock(mine)
                result["lock"] = mine
                result["waited_s"] = round(now - started, 1)
                return
        if time.time() - started >= p["lock_wait"]:
            gm.fail("%s is being remediated by run %s (scenario %s) since %s; waited %d s for its lock, nothing was done."
                    % (gm.node, lock.get("run_id"), lock.get("scenario") or "unknown",
                       time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(float(lock.get("acquired_at", 0)))),
                       p["lock_wait"]))
        time.sleep(POLL_S)


def spend(module, store, run_id, scenario, result):
    p = module.params
    with store:
        now = time.time()
        budget = store.budget()
        entries = window_entries(budget, scenario, now, p["budget_window"])
        if any(e.get("run_id") == run_id for e in entries):
            result.update(budget_used=len(entries), budget_remaining=max(0, p["budget"] - len(entries)))
            return
        if len(entries) >= p["budget"]:
            result.update(budget_exhausted=True, budget_used=len(entries), budget_remaining=0)
            return
        entries.append(dict(at=now, run_id=run_id))
        result.update(changed=True, budget_used=len(entries), budget_remaining=p["budget"] - len(entries))
        if not module.check_mode:
            budget[scenario] = entries
            store.set_budget(budget)


if __name__ == "__main__":
    main()
