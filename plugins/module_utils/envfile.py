# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The node's `<genesis_home>/.env` (docs/genesis-contract.md section 1.1): read, back up, replace atomically.

The file holds secrets: values are never returned, logged or put into a diff by this code;
callers show key fingerprints (fingerprint()) instead. A change is written to a temporary
file in the same folder (mode 0600 from creation, owner and mode of the original kept),
flushed to disk and renamed over the original, so genesis never reads half a file.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import hashlib
import os
import time

from ansible_collections.genesis.runbook.plugins.module_utils._common import GenesisError, clause


class EnvFileError(GenesisError):
    pass


def env_path(genesis_home):
    return os.path.join(genesis_home or "/app", ".env")


def fingerprint(value):
    """A short, non-reversible id of a secret (first 12 hex digits of its SHA-256), or None."""
    if not value:
        return None
    return "sha256:" + hashlib.sha256(str(value).encode("utf-8")).hexdigest()[:12]


def _unquote(value):
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in ("'", '"'):
        return value[1:-1]
    return value


class EnvFile(object):
    """The lines of one .env file; values are read by key, lines are kept verbatim otherwise."""

    def __init__(self, path, lines, stat):
        self.path = path
        self.lines = lines
        self.stat = stat

    @classmethod
    def read(cls, path):
        try:
            with open(path, "r") as handle:
                text = handle.read()
            stat = os.stat(path)
        except (IOError, OSError) as exc:
            reason = "does not exist" if getattr(exc, "errno", None) == errno.ENOENT else clause(
                getattr(exc, "strerror", None) or str(exc))
            raise EnvFileError("The node's environment file %s cannot be read: %s." % (path, reason))
        return cls(path, text.splitlines(), stat)

    def get(self, key):
        """The value of the last `KEY=value` line for key, or None (export prefixes are accepted)."""
        found = None
        for line in self.lines:
            name, value = self._split(line)
            if name == key:
                found = value
        return found

    @staticmethod
    def _split(line):
        text = line.strip()
        if not text or text.startswith("#") or "=" not in text:
            return None, None
        if text.startswith("export "):
            text = text[len("export "):].lstrip()
        name, value = text.split("=", 1)
        return name.strip(), _unquote(value)

    def updated(self, values):
        """The file's lines with each key in `values` set (replaced in place, or appended); a value of None
        removes the key's lines. Returns (lines, changed_keys)."""
        remaining = dict(values)
        changed = set()
        lines = []
        for line in self.lines:
            name, current = self._split(line)
            if name is not None and name in values:
                wanted = values[name]
                if wanted is None:
                    changed.add(name)
                    continue
                if name in remaining:
                    del remaining[name]
                    if current != wanted:
                        changed.add(name)
                    lines.append("%s=%s" % (name, wanted))
                else:
                    # a duplicate of a key already written: drop it so the file has one value per key
                    changed.add(name)
                continue
            lines.append(line)
        for name in sorted(remaining):
            if remaining[name] is not None:
                lines.append("%s=%s" % (name, remaining[name]))
                changed.add(name)
        return lines, sorted(changed)

    def backup(self, directory=None, stamp=None):
        """Copy the file as it is now to `<directory>/.env.bak-<UTC stamp>` with mode 0600; returns the path."""
        directory = directory or os.path.dirname(self.path)
        stamp = stamp or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        base = os.path.join(directory, "%s.bak-%s" % (os.path.basename(self.path), stamp))
        target = base
        counter = 1
        while True:
            try:
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                break
            except OSError as exc:
                if exc.errno == errno.EEXIST and counter < 100:
                    counter += 1
                    target = "%s.%d" % (base, counter)
                    continue
                raise EnvFileError("The backup of %s could not be created in %s: %s; nothing was changed."
                                   % (self.path, directory, clause(exc.strerror or str(exc))))
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(self.text())
                handle.flush()
                os.fsync(handle.fileno())
            self._own(target)
            os.chmod(target, 0o600)  # a copy of secrets is never more readable than 0600
        except (IOError, OSError) as exc:
            raise EnvFileError("The backup of %s could not be written to %s: %s; nothing was changed."
                               % (self.path, target, clause(getattr(exc, "strerror", None) or str(exc))))
        return target

    def text(self, lines=None):
        lines = self.lines if lines is None else lines
        return "\n".join(lines) + ("\n" if lines else "")

    def _own(self, path):
        os.chmod(path, self.stat.st_mode & 0o7777)
        try:
            os.chown(path, self.stat.st_uid, self.stat.st_gid)
        except OSError:
            pass  # not root: the file stays ours, with the original's mode

    def replace(self, lines):
        """Write `lines` to a temporary file next to the original and rename it over the original."""
        directory = os.path.dirname(self.path) or "."
        tmp = os.path.join(directory, ".%s.genesis-runbook.%d" % (os.path.basename(self.path), os.getpid()))
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(self.text(lines))
                handle.flush()
                os.fsync(handle.fileno())
            self._own(tmp)
            os.rename(tmp, self.path)
        except (IOError, OSError) as exc:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise EnvFileError("%s could not be replaced: %s; the original is unchanged."
                               % (self.path, clause(getattr(exc, "strerror", None) or str(exc))))
        try:
            dir_fd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError:
            pass
        self.lines = list(lines)
        self.stat = os.stat(self.path)
