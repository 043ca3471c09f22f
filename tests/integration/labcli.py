# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the integration tests that drive a genesis lab share: its prerequisites and its CLI."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import shutil
import subprocess
import sys

BIN = os.path.dirname(sys.executable)
GENESIS_LAB = os.path.join(BIN, "genesis-lab")
LAB_TOOLS = ("ip", "nsenter", "nft", "sshd", "redis-server")


def missing_prerequisite(tools=(), programs=()):
    """Why the lab cannot run here (one sentence), or None. make setup installs all of it."""
    if os.geteuid() != 0:
        return "the lab needs root"
    if not os.path.exists(GENESIS_LAB):
        return "genesis-lab is not installed in this environment"
    for program in programs:
        if not os.path.exists(os.path.join(BIN, program)):
            return "%s is not installed in this environment (requirements-dev.txt)" % program
    missing = [tool for tool in tuple(tools) + LAB_TOOLS if not shutil.which(tool)]
    if missing:
        return "the lab needs %s" % ", ".join(missing)
    return None


def run(lab, *args, **kwargs):
    """`genesis-lab --lab <lab> <args>`; raises AssertionError with its output when it fails (unless check=False)."""
    proc = subprocess.run([GENESIS_LAB, "--lab", lab] + list(args), capture_output=True, text=True,
                          timeout=kwargs.get("timeout", 180), check=False)
    if kwargs.get("check", True) and proc.returncode != 0:
        raise AssertionError("genesis-lab %s exited %d:\n%s\n%s" % (
            " ".join(args), proc.returncode, proc.stdout, proc.stderr))
    return proc
