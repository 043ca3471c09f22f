# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""module_utils envfile, restic and exchange_auth helpers used by the scenario 14 and 16 modules."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

import pytest

from ansible_collections.genesis.runbook.plugins.module_utils import exchange_auth, restic
from ansible_collections.genesis.runbook.plugins.module_utils.envfile import EnvFile, EnvFileError, fingerprint


def write(path, text, mode=0o600):
    fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def test_envfile_reads_quoted_exported_and_last_values(tmp_path):
    write(tmp_path / ".env", "# comment\nexport A='one'\nB=\"two\"\nA=three\nC=\nnot a line\n")
    env = EnvFile.read(str(tmp_path / ".env"))
    assert env.get("A") == "three" and env.get("B") == "two" and env.get("C") == "" and env.get("D") is None


def test_envfile_update_replaces_in_place_drops_duplicates_appends_and_removes(tmp_path):
    write(tmp_path / ".env", "# keep me\nA=1\nB=2\nA=3\nC=4\n")
    env = EnvFile.read(str(tmp_path / ".env"))
    lines, changed = env.updated({"A": "9", "C": None, "D": "new"})
    assert lines == ["# keep me", "A=9", "B=2", "D=new"] and changed == ["A", "C", "D"]
    same, nothing = env.updated({"B": "2"})
    assert same == env.lines and nothing == []


def test_envfile_replace_is_atomic_and_keeps_the_mode(tmp_path):
    path = tmp_path / ".env"
    write(path, "A=1\n", 0o640)
    env = EnvFile.read(str(path))
    backup = env.backup(stamp="20261127T000000Z")
    env.replace(["A=2"])
    assert path.read_text() == "A=2\n" and os.stat(str(path)).st_mode & 0o777 == 0o640
    assert open(backup).read() == "A=1\n" and os.stat(backup).st_mode & 0o777 == 0o600
    second = env.backup(stamp="20261127T000000Z")
    assert second.endswith(".2") and [n for n in os.listdir(str(tmp_path)) if n.startswith(".env.genesis")] == []


def test_envfile_unreadable(tmp_path):
    with pytest.raises(EnvFileError) as err:
        EnvFile.read(str(tmp_path / "missing"))
    assert str(err.value) == "The node's environment file %s cannot be read: does not exist." % (tmp_path / "missing")


def test_fingerprint_hides_the_value():
    assert fingerprint("abc") == "sha256:ba7816bf8f01" and fingerprint("") is None


def test_missing_paths_matches_relative_and_absolute_entries():
    listed = ["/config", "/config/node.yaml", "/srv/app/.genesis/state"]
    assert restic.missing_paths(listed, ["config", ".genesis/state", "config.backup"]) == ["config.backup"]


def test_last_run_failed_compares_timestamps():
    assert restic.last_run_failed({"last_failed_at": "2026-11-27T10:00:00Z", "last_completed_at": "2026-11-27T09:00:00Z"})
    assert not restic.last_run_failed({"last_failed_at": "2026-11-27T10:00:00Z", "last_completed_at": "2026-11-27T11:00:00Z"})
    assert not restic.last_run_failed({"last_failed_at": None, "last_completed_at": None})


def test_clock_offset_file(tmp_path):
    assert exchange_auth.clock_offset_ms(None) == 0 and exchange_auth.clock_offset_ms(str(tmp_path / "absent")) == 0
    (tmp_path / "offset").write_text("-250\n")
    assert exchange_auth.clock_offset_ms(str(tmp_path / "offset")) == -250.0


def test_is_key_problem():
    assert exchange_auth.is_key_problem({"ok": False, "code": -2015, "status": 401})
    assert exchange_auth.is_key_problem({"ok": False, "code": None, "status": 403})
    assert not exchange_auth.is_key_problem({"ok": False, "code": -1021, "status": 400})
    assert not exchange_auth.is_key_problem({"ok": False, "code": None, "status": 429})
