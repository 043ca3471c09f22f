# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit-test setup: this checkout importable as ansible_collections.genesis.runbook, module runner, fakes."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import atexit
import json
import os
import shutil
import sys
import tempfile

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _expose_collection():
    """A temporary ansible_collections/genesis/runbook -> checkout link, first on sys.path."""
    base = tempfile.mkdtemp(prefix="genesis-unit-")
    atexit.register(shutil.rmtree, base, True)
    namespace = os.path.join(base, "ansible_collections", "genesis")
    os.makedirs(namespace)
    os.symlink(REPO_ROOT, os.path.join(namespace, "runbook"))
    sys.path.insert(0, base)
    for name in list(sys.modules):
        if name == "ansible_collections" or name.startswith("ansible_collections.genesis"):
            del sys.modules[name]


_expose_collection()

from ansible.module_utils import basic  # noqa: E402  pylint: disable=wrong-import-position
from ansible.module_utils.testing import patch_module_args  # noqa: E402

import genesis_fakes  # noqa: E402


class ModuleExit(Exception):
    def __init__(self, result):
        super(ModuleExit, self).__init__(result)
        self.result = result


class ModuleFail(Exception):
    def __init__(self, result):
        super(ModuleFail, self).__init__(result.get("msg"))
        self.result = result


def _exit_json(self, **kwargs):
    kwargs.setdefault("changed", False)
    json.dumps(kwargs)  # the result must be JSON
    raise ModuleExit(kwargs)


def _fail_json(self, msg, **kwargs):
    kwargs["failed"] = True
    kwargs["msg"] = msg
    json.dumps(kwargs)
    raise ModuleFail(kwargs)


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch):
    """Retries back off without waiting; the calls are recorded."""
    sleeps = []
    monkeypatch.setattr("time.sleep", sleeps.append)
    return sleeps


@pytest.fixture
def run_module(monkeypatch):
    """run_module(main, args, check_mode=False, diff=False) -> (result, failed)."""
    monkeypatch.setattr(basic.AnsibleModule, "exit_json", _exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", _fail_json)

    def run(main, args, check_mode=False, diff=False):
        args = dict(args)
        if check_mode:
            args["_ansible_check_mode"] = True
        if diff:
            args["_ansible_diff"] = True
        with patch_module_args(args):
            try:
                main()
            except ModuleExit as done:
                return done.result, False
            except ModuleFail as failed:
                return failed.result, True
        raise AssertionError("the module neither exited nor failed")
    return run


@pytest.fixture
def http(monkeypatch):
    fake = genesis_fakes.FakeHttp()
    from ansible_collections.genesis.runbook.plugins.module_utils import _http
    monkeypatch.setattr(_http, "open_url", fake.open_url)
    return fake


@pytest.fixture
def pg(monkeypatch):
    fake = genesis_fakes.FakePg()
    from ansible_collections.genesis.runbook.plugins.module_utils import db
    monkeypatch.setattr(db.psycopg2, "connect", fake.connect)
    return fake


@pytest.fixture
def rds(monkeypatch):
    fake = genesis_fakes.FakeRedis()
    from ansible_collections.genesis.runbook.plugins.module_utils import cache
    monkeypatch.setattr(cache.redis, "from_url", fake.from_url)
    return fake


@pytest.fixture
def exchange_fake(http):
    """A Binance-like exchange on http://exchange.test served by the http fake."""
    return genesis_fakes.FakeExchange(http, "http://exchange.test")


@pytest.fixture
def api_fake(http):
    """A genesis control API on http://127.0.0.1:8080 served by the http fake."""
    return genesis_fakes.FakeGenesisApi(http, "http://127.0.0.1:8080", api_key="k3y-api-secret")


@pytest.fixture
def supervisord():
    """Path of a supervisord-like XML-RPC unix socket serving genesis_fakes.PROGRAMS."""
    server = genesis_fakes.Supervisord()
    yield server.path
    server.stop()
