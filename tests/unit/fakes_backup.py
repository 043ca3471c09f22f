# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A fake `restic` executable for the backup modules' unit tests.

FakeRestic(tmp_path) writes an executable script and a JSON state file next to it. The script
answers `snapshots --json`, `check` and `ls latest --json` from the state, checks `-r` and
`--password-file` like restic does (missing repository, missing or wrong password), and records
every argv in the state so tests can assert what was (not) run.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime
import json
import os
import stat
import sys

SCRIPT = r'''#!%(python)s
import json, os, sys
STATE = %(state)r
with open(STATE) as f:
    state = json.load(f)
argv = sys.argv[1:]
state["calls"].append(argv)
with open(STATE, "w") as f:
    json.dump(state, f)
def opt(name):
    return argv[argv.index(name) + 1] if name in argv else None
repo, pwfile = opt("-r"), opt("--password-file")
if pwfile is None or not os.path.exists(pwfile):
    sys.stderr.write("Resolving password failed: Fatal: %%s does not exist\n" %% pwfile)
    sys.exit(1)
if repo is None or not os.path.isdir(repo):
    sys.stderr.write("Fatal: unable to open config file: stat %%s/config: no such file or directory\n" %% repo)
    sys.exit(1)
if open(pwfile).read().strip() != state["password"]:
    sys.stderr.write("Fatal: wrong password or no key found\n")
    sys.exit(1)
if "snapshots" in argv:
    print(json.dumps(state["snapshots"]))
elif "check" in argv:
    if state.get("check_error"):
        print("using temporary cache")
        sys.stderr.write(state["check_error"] + "\n")
        sys.exit(1)
    print("check snapshots, trees and blobs")
    print("no errors were found")
elif "ls" in argv:
    snaps = sorted(state["snapshots"], key=lambda s: s["time"])
    if not snaps:
        sys.stderr.write("Fatal: no snapshot found\n")
        sys.exit(1)
    latest = dict(snaps[-1], struct_type="snapshot")
    print(json.dumps(latest))
    for path in state["ls"]:
        print(json.dumps({"name": os.path.basename(path), "type": "dir", "path": path, "struct_type": "node"}))
else:
    sys.stderr.write("unexpected restic call %%s\n" %% argv)
    sys.exit(3)
'''


def iso_hours_ago(hours):
    stamp = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=hours)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + "%06dZ" % stamp.microsecond


class FakeRestic(object):
    def __init__(self, directory, password="s3cret-restic-pw"):
        self.directory = str(directory)
        self.state_path = os.path.join(self.directory, "restic-state.json")
        self.path = os.path.join(self.directory, "restic")
        self.password = password
        self.save(dict(password=password, snapshots=[], ls=["/config", "/config/node.yaml", "/.genesis", "/.genesis/state"],
                       check_error=None, calls=[]))
        with open(self.path, "w") as handle:
            handle.write(SCRIPT % dict(python=sys.executable, state=self.state_path))
        os.chmod(self.path, os.stat(self.path).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)

    def load(self):
        with open(self.state_path) as handle:
            return json.load(handle)

    def save(self, state):
        with open(self.state_path, "w") as handle:
            json.dump(state, handle)

    def update(self, **values):
        state = self.load()
        state.update(values)
        self.save(state)

    def add_snapshot(self, hours_ago, short_id, host="node1"):
        state = self.load()
        state["snapshots"].append(dict(time=iso_hours_ago(hours_ago), id=short_id * 8, short_id=short_id, hostname=host,
                                       tags=["genesis"], paths=["/app/config", "/app/.genesis/state"]))
        self.save(state)

    @property
    def calls(self):
        return self.load()["calls"]


def make_home(root, env_extra=(), password="s3cret-restic-pw"):
    """A genesis_home with .env, the contract's backup folder (repository + password file) and logs."""
    home = os.path.join(str(root), "app")
    backups = os.path.join(home, ".genesis", "backups")
    os.makedirs(os.path.join(backups, "restic-repo"))
    os.makedirs(os.path.join(home, ".genesis", "logs"))
    with open(os.path.join(backups, "restic-password"), "w") as handle:
        handle.write(password + "\n")
    lines = ["GENESIS_NODE=node1", "GENESIS_API_KEY=k3y-api-secret",
             "GENESIS_DATABASE_URL=postgresql://genesis:dbpa55@127.0.0.1:5432/genesis"] + list(env_extra)
    path = os.path.join(home, ".env")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    return home


def log_lines(home, name, records):
    with open(os.path.join(home, ".genesis", "logs", name), "a") as handle:
        for record in records:
            handle.write(json.dumps(record) + "\n")
