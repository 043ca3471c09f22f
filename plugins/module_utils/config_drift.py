# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Drift of a genesis node's config/ against its known-good copy config.backup/ (runbook scenario 19).

Only the files directly in the two folders are compared (genesis keeps its configuration flat). A file is
`same`, `drifted` (different bytes), `missing` (only in the known-good copy) or `extra` (only live; never
touched). YAML files are parsed with PyYAML when the node has it, JSON files always; each file's top-level
`version` is read so that a live file newer than its known-good copy (a deliberate change) is not rolled back.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import difflib
import hashlib
import json
import os
import re
import shutil

from ansible_collections.genesis.runbook.plugins.module_utils._common import write_atomic

try:
    import yaml
    HAS_YAML = True
except ImportError:
    yaml = None
    HAS_YAML = False

CONFIG_DIR = "config"
KNOWN_GOOD_DIR = "config.backup"
SAVE_DIR = "config.drift"
_VERSION_RE = re.compile(r"^version:\s*(\d+)\s*(#.*)?$", re.M)


def dirs(params):
    home = params.get("genesis_home") or "/app"
    return (params.get("config_dir") or os.path.join(home, CONFIG_DIR),
            params.get("known_good_dir") or os.path.join(home, KNOWN_GOOD_DIR))


def _files(directory):
    try:
        return sorted(n for n in os.listdir(directory) if os.path.isfile(os.path.join(directory, n)) and not n.startswith("."))
    except (IOError, OSError):
        return []


def _read(path):
    with open(path, "rb") as handle:
        return handle.read()


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def parse(name, data):
    """(document or None, error sentence or None, checked) of one file's bytes."""
    text = data.decode("utf-8", "replace")
    if name.endswith(".json"):
        try:
            return json.loads(text), None, True
        except ValueError as exc:
            return None, "%s: JSON syntax error (%s)" % (name, exc), True
    if name.endswith((".yaml", ".yml")):
        if not HAS_YAML:
            return None, None, False
        try:
            return yaml.safe_load(text), None, True
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = " at line %d" % (mark.line + 1) if mark is not None else ""
            return None, "%s: YAML syntax error%s" % (name, where), True
    return None, None, False


def version_of(doc, data):
    if isinstance(doc, dict):
        value = doc.get("version")
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    match = _VERSION_RE.search(data.decode("utf-8", "replace"))
    return int(match.group(1)) if match else None


def unified(name, known, live, max_lines):
    lines = list(difflib.unified_diff(known.decode("utf-8", "replace").splitlines(),
                                      live.decode("utf-8", "replace").splitlines(),
                                      fromfile="%s/%s" % (KNOWN_GOOD_DIR, name), tofile="%s/%s" % (CONFIG_DIR, name),
                                      lineterm=""))
    if len(lines) > max_lines:
        lines = lines[:max_lines] + ["... (%d more lines)" % (len(lines) - max_lines)]
    return "\n".join(lines)


def compare(config_dir, known_dir, diff_lines=200):
    """Per-file comparison of config_dir against known_dir (see the module docstring)."""
    live_names = _files(config_dir)
    known_names = _files(known_dir)
    files = {}
    for name in sorted(set(live_names) | set(known_names)):
        entry = dict(status="same", live_sha256=None, known_good_sha256=None, live_version=None, known_good_version=None,
                     live_parse_error=None, known_good_parse_error=None, diff=None)
        live = known = None
        if name in live_names:
            live = _read(os.path.join(config_dir, name))
            doc, error, dummy = parse(name, live)
            entry.update(live_sha256=sha256(live), live_version=version_of(doc, live), live_parse_error=error)
        if name in known_names:
            known = _read(os.path.join(known_dir, name))
            doc, error, dummy = parse(name, known)
            entry.update(known_good_sha256=sha256(known), known_good_version=version_of(doc, known), known_good_parse_error=error)
        if known is None:
            entry["status"] = "extra"
        elif live is None:
            entry["status"] = "missing"
            entry["diff"] = unified(name, known, b"", diff_lines)
        elif live != known:
            entry["status"] = "drifted"
            entry["diff"] = unified(name, known, live, diff_lines)
        files[name] = entry
    return files


def summarize(files):
    drifted = sorted(n for n, e in files.items() if e["status"] in ("drifted", "missing"))
    extra = sorted(n for n, e in files.items() if e["status"] == "extra")
    conflicts = sorted(n for n in drifted if files[n]["live_version"] is not None and files[n]["known_good_version"] is not None
                       and files[n]["live_version"] > files[n]["known_good_version"])
    parse_errors = [e["live_parse_error"] for n, e in sorted(files.items()) if e["live_parse_error"]]
    known_bad = [e["known_good_parse_error"] for n, e in sorted(files.items()) if e["known_good_parse_error"]]
    return dict(drifted=drifted, extra=extra, version_conflicts=conflicts, parse_errors=parse_errors,
                known_good_parse_errors=known_bad)


def save_aside(config_dir, names, save_root, stamp):
    """Copy the live files among names into <save_root>/<stamp>/ (metadata kept); returns the folder or None."""
    present = [n for n in names if os.path.isfile(os.path.join(config_dir, n))]
    if not present:
        return None
    folder = os.path.join(save_root, stamp)
    suffix = 1
    while os.path.exists(folder):
        suffix += 1
        folder = os.path.join(save_root, "%s.%d" % (stamp, suffix))
    os.makedirs(folder, 0o750)
    for name in present:
        shutil.copy2(os.path.join(config_dir, name), os.path.join(folder, name))
    return folder


def restore_file(config_dir, known_dir, name):
    """Replace config_dir/name with known_dir/name atomically, keeping the live file's mode and owner."""
    source = os.path.join(known_dir, name)
    target = os.path.join(config_dir, name)
    reference = target if os.path.exists(target) else source
    info = os.stat(reference)
    write_atomic(target, _read(source), info.st_mode & 0o7777, owner=(info.st_uid, info.st_gid), prefix=".restore-")
