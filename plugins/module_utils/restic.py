# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The node's restic repository and its backup job (docs/genesis-contract.md sections 1 and 2, runbook scenario 16).

restic runs with `--no-cache` (nothing is written under the caller's home) and, for reads,
`--no-lock`; the password is passed only as `--password-file`, and RESTIC_PASSWORD* variables
of the caller are removed from restic's environment so the file given is the one tested.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import shutil
import subprocess
import time

from ansible_collections.genesis.runbook.plugins.module_utils._common import GenesisError, clause, parse_iso
from ansible_collections.genesis.runbook.plugins.module_utils.logs import reverse_lines

ENV_PASSWORD_FILE = "RESTIC_PASSWORD_FILE"
ENV_REPOSITORY = "RESTIC_REPOSITORY"
JOB_LOG = "genesis.log"


class ResticError(GenesisError):
    pass


def contract_paths(genesis_home):
    """(repository, password file) where the contract puts them under genesis_home."""
    base = os.path.join(genesis_home or "/app", ".genesis", "backups")
    return os.path.join(base, "restic-repo"), os.path.join(base, "restic-password")


def restic_argument_spec():
    return dict(
        repository=dict(type="path"),
        password_file=dict(type="path", no_log=False),  # a path, not the password
        restic_path=dict(type="path", default="restic"),
        restic_timeout=dict(type="int", default=300),
    )


def _first_error(text):
    for line in (text or "").splitlines():
        line = line.strip()
        if line.lower().startswith(("fatal", "error", "resolving password failed")):
            return line
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


class Restic(object):
    def __init__(self, binary, repository, password_file, cwd=None, timeout=300):
        self.binary = binary
        self.repository = repository
        self.password_file = password_file
        self.cwd = cwd if cwd and os.path.isdir(cwd) else None
        self.timeout = timeout

    @classmethod
    def resolve(cls, restic_path, repository, password_file, cwd=None, timeout=300):
        binary = restic_path if os.path.sep in (restic_path or "") else shutil.which(restic_path or "restic")
        if not binary or not os.access(binary, os.X_OK):
            raise ResticError("restic is not installed on the node (restic_path %s is not an executable)." % (restic_path or "restic"))
        return cls(binary, repository, password_file, cwd, timeout)

    def _env(self):
        env = dict((k, v) for k, v in os.environ.items() if not k.startswith("RESTIC_"))
        env.setdefault("HOME", self.cwd or "/")
        env["LC_ALL"] = "C"
        return env

    def run(self, args, what, lock=False):
        """Run restic; returns stdout. Raises ResticError with one sentence naming the repository."""
        argv = [self.binary, "-r", self.repository, "--password-file", self.password_file, "--no-cache"]
        if not lock:
            argv.append("--no-lock")
        argv += list(args)
        try:
            proc = subprocess.run(argv, cwd=self.cwd, env=self._env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  universal_newlines=True, timeout=self.timeout, check=False)
        except subprocess.TimeoutExpired:
            raise ResticError("restic %s of repository %s did not finish within %d s." % (what, self.repository, self.timeout))
        except OSError as exc:
            reason = clause(exc.strerror or str(exc))
            raise ResticError("restic %s of repository %s could not run: %s." % (what, self.repository, reason))
        if proc.returncode != 0:
            raise ResticError("restic %s of repository %s failed (exit %d): %s." % (
                what, self.repository, proc.returncode, clause(_first_error(proc.stderr or proc.stdout))))
        return proc.stdout

    def snapshots(self, host=None):
        args = ["snapshots", "--json"] + (["--host", host] if host else [])
        out = self.run(args, "snapshots")
        try:
            data = json.loads(out or "[]")
        except ValueError:
            raise ResticError("restic snapshots of repository %s answered something that is not JSON." % self.repository)
        return data if isinstance(data, list) else []

    def check(self, read_data=False):
        """`restic check` (takes the repository's lock, as restic requires); returns the last lines of its output."""
        out = self.run(["check"] + (["--read-data"] if read_data else []), "check", lock=True)
        lines = [line.strip() for line in out.splitlines() if line.strip()]
        return lines[-1] if lines else "no errors were found"

    def ls_latest(self, host=None):
        """The paths in the newest snapshot (`restic ls latest`), as restic prints them."""
        args = ["ls", "latest", "--json"] + (["--host", host] if host else [])
        out = self.run(args, "ls latest")
        snapshot = None
        paths = []
        for line in out.splitlines():
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            if not isinstance(doc, dict):
                continue
            if doc.get("struct_type") == "snapshot" or ("tree" in doc and "paths" in doc):
                snapshot = doc.get("short_id") or (doc.get("id") or "")[:8]
            elif doc.get("path"):
                paths.append(doc["path"])
        return snapshot, paths


def snapshot_summary(snapshot, now=None):
    now = time.time() if now is None else now
    stamp = parse_iso(snapshot.get("time"))
    return dict(id=snapshot.get("id"), short_id=snapshot.get("short_id") or (snapshot.get("id") or "")[:8],
                time=snapshot.get("time"), age_h=round((now - stamp) / 3600.0, 3) if stamp is not None else None,
                hostname=snapshot.get("hostname"), tags=snapshot.get("tags") or [], paths=snapshot.get("paths") or [])


def newest(snapshots, now=None):
    dated = [(parse_iso(s.get("time")), s) for s in snapshots]
    dated = [d for d in dated if d[0] is not None]
    if not dated:
        return None
    return snapshot_summary(max(dated, key=lambda d: d[0])[1], now)


def missing_paths(listed, expected):
    """Expected paths (relative to genesis_home, like `config`) that no listed entry ends with."""
    missing = []
    for path in expected:
        tail = "/" + path.strip("/")
        if not any(entry.rstrip("/") == tail or entry.rstrip("/").endswith(tail) for entry in listed):
            missing.append(path)
    return missing


def last_job_runs(path, max_bytes=8 * 1048576):
    """The backup job's last `Backup completed` and `Backup failed` lines in genesis.log."""
    found = dict(last_completed_at=None, last_completed_snapshot=None, last_failed_at=None, last_failure=None,
                 log=path, readable=os.path.exists(path))
    if not found["readable"]:
        return found
    try:
        for line in reverse_lines(path, max_bytes):
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if not isinstance(record, dict):
                continue
            event = str(record.get("event") or "")
            if event.startswith("Backup completed") and found["last_completed_at"] is None:
                found["last_completed_at"] = record.get("timestamp")
                found["last_completed_snapshot"] = record.get("snapshot_id")
            elif event.startswith("Backup failed") and found["last_failed_at"] is None:
                found["last_failed_at"] = record.get("timestamp")
                found["last_failure"] = str(record.get("error") or "")[:300] or None
            if found["last_completed_at"] is not None and found["last_failed_at"] is not None:
                break
    except (IOError, OSError):
        found["readable"] = False
    return found


def last_run_failed(runs):
    failed = parse_iso(runs.get("last_failed_at"))
    completed = parse_iso(runs.get("last_completed_at"))
    return failed is not None and (completed is None or failed > completed)
