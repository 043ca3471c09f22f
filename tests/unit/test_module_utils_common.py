# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ast
import glob
import os
import re

import pytest
import yaml

from ansible_collections.genesis.runbook.plugins.module_utils import _common
from ansible_collections.genesis.runbook.plugins.module_utils._common import (
    GenesisModule, genesis_common_argument_spec, parse_iso, redact_url, scrub, secrets_of, sentence,
)
from ansible_collections.genesis.runbook.plugins.doc_fragments.connection import ModuleDocFragment

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Modules backed by an action plugin run on the controller and take no node connection options.
CONTROLLER_ONLY = set(os.path.basename(p) for p in glob.glob(os.path.join(REPO, "plugins", "action", "genesis_*.py")))
MODULES = sorted(glob.glob(os.path.join(REPO, "plugins", "modules", "genesis_*.py")))


class FakeAnsibleModule(object):
    def __init__(self, params):
        self.params = params
        self.failed = None

    def fail_json(self, **kwargs):
        self.failed = kwargs
        raise SystemExit(1)


def params(**overrides):
    spec = genesis_common_argument_spec()
    values = dict((k, v.get("default")) for k, v in spec.items())
    values.update(overrides)
    return values


def test_sentence_is_one_line_with_a_full_stop():
    assert sentence("connection refused\n\tIs the server running?") == "connection refused."
    assert sentence("  ok.  ") == "ok."
    assert sentence(None) == "unknown error."
    assert sentence(b"bytes: ") == "bytes."
    assert len(sentence("x" * 1000)) <= _common.MAX_SENTENCE


@pytest.mark.parametrize("url, shown", [
    ("postgresql://genesis:pw123@127.0.0.1:5432/genesis", "postgresql://genesis:********@127.0.0.1:5432/genesis"),
    ("redis://:s3cret@127.0.0.1:6379/0", "redis://:********@127.0.0.1:6379/0"),
    ("host=127.0.0.1 user=genesis password=pw123 dbname=genesis", "host=127.0.0.1 user=genesis password=******** dbname=genesis"),
    ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
    ("", ""),
])
def test_redact_url_hides_passwords(url, shown):
    assert redact_url(url) == shown


def test_secrets_of_collects_keys_and_embedded_passwords():
    found = secrets_of(dict(api_key="api-key-1", db_dsn="postgresql://g:dbpass@h/db", redis_url="redis://:rpass@h:6379/0",
                            exchange_api_key=None, exchange_api_secret=""))
    assert "dbpass" in found and "rpass" in found and "api-key-1" in found
    assert scrub("x dbpass y api-key-1", found) == "x ******** y ********"


def test_parse_iso():
    assert parse_iso("1970-01-01T00:00:01.500Z") == 1.5
    assert parse_iso("1970-01-01T01:00:00+01:00") == 0.0
    assert parse_iso("garbage") is None
    assert parse_iso(None) is None


@pytest.mark.parametrize("override, option", [
    (dict(api_timeout=0), "api_timeout"),
    (dict(api_retries=11), "api_retries"),
    (dict(exchange_recv_window=70000), "exchange_recv_window"),
    (dict(api_url="ftp://x"), "api_url"),
    (dict(exchange_url="exchange"), "exchange_url"),
    (dict(redis_url="http://:pw@x"), "redis_url"),
])
def test_common_validation_names_the_option(override, option):
    module = FakeAnsibleModule(params(**override))
    with pytest.raises(SystemExit):
        GenesisModule(module, "genesis_test")
    assert module.failed["msg"].startswith(option)
    assert "\n" not in module.failed["msg"]
    assert "pw" not in module.failed["msg"]


def test_require_names_option_and_inventory_variable():
    module = FakeAnsibleModule(params(db_dsn=""))
    gm = GenesisModule(module, "genesis_test")
    with pytest.raises(SystemExit):
        gm.require("db_dsn", "read orders")
    assert module.failed["msg"] == ("db_dsn (inventory variable genesis_db_dsn) is not set: genesis_test needs it to read orders.")


def test_fail_scrubs_secrets():
    module = FakeAnsibleModule(params(db_dsn="postgresql://genesis:topsecret@h/db"))
    gm = GenesisModule(module, "genesis_test")
    with pytest.raises(SystemExit):
        gm.fail("login with topsecret failed")
    assert module.failed["msg"] == "login with ******** failed."


def test_node_name_defaults_to_env_then_hostname(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("GENESIS_API_KEY=abc\nGENESIS_NODE=node7\n")
    gm = GenesisModule(FakeAnsibleModule(params(genesis_home=str(tmp_path))), "genesis_test")
    assert gm.node == "node7"
    gm = GenesisModule(FakeAnsibleModule(params(genesis_home=str(tmp_path), node_name="nodeX")), "genesis_test")
    assert gm.node == "nodeX"
    monkeypatch.setattr(_common.socket, "gethostname", lambda: "host9.example.org")
    gm = GenesisModule(FakeAnsibleModule(params(genesis_home=str(tmp_path / "missing"))), "genesis_test")
    assert gm.node == "host9"


def test_run_id_and_scenario():
    gm = GenesisModule(FakeAnsibleModule(params()), "genesis_test")
    assert gm.run_id.startswith("adhoc-") and gm.run_id == gm.run_id
    assert gm.scenario is None
    gm = GenesisModule(FakeAnsibleModule(params(run_id="r1", scenario="13")), "genesis_test")
    assert (gm.run_id, gm.scenario) == ("r1", "13")
    assert "genesis.runbook.genesis_test" in gm.actor


def _doc(path, name="DOCUMENTATION"):
    tree = ast.parse(open(path).read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == name:
            return yaml.safe_load(node.value.value)
    return None


def test_doc_fragment_matches_common_argument_spec():
    doc = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]
    spec = genesis_common_argument_spec()
    assert sorted(doc) == sorted(spec)
    for name, option in spec.items():
        assert doc[name]["type"] == option["type"], name
        assert doc[name].get("default") == option.get("default"), name
    for name in ("api_key", "db_dsn", "redis_url", "exchange_api_key", "exchange_api_secret"):
        assert spec[name]["no_log"] is True


@pytest.mark.parametrize("path", MODULES, ids=[os.path.basename(p) for p in MODULES])
def test_every_module_documents_the_shared_options_and_examples_use_fqcn(path):
    doc = _doc(path)
    if os.path.basename(path) in CONTROLLER_ONLY:
        assert "genesis.runbook.connection" not in doc.get("extends_documentation_fragment", [])
    else:
        assert "genesis.runbook.connection" in doc["extends_documentation_fragment"]
    assert set(doc["attributes"]) >= {"check_mode", "diff_mode"}
    examples = _doc(path, "EXAMPLES")
    modules = set(k for task in examples for k in task if re.match(r"^[a-z_]+\.[a-z_]+\.[a-z_]+$", k))
    assert any(m.startswith("genesis.runbook.") for m in modules)
    returns = _doc(path, "RETURN")
    for key, value in returns.items():
        assert set(value) >= {"description", "returned", "type", "sample"}, key
    source = open(path).read()
    assert "SPDX-License-Identifier: GPL-3.0-or-later" in source
    assert "__metaclass__ = type" in source


def test_write_atomic_creates_the_folder_and_sets_the_mode(tmp_path):
    path = str(tmp_path / "new" / "report.json")
    _common.write_atomic(path, b'{"a": 1}\n', 0o640, dir_mode=0o750)
    assert open(path, "rb").read() == b'{"a": 1}\n'
    assert os.stat(path).st_mode & 0o7777 == 0o640
    assert os.stat(str(tmp_path / "new")).st_mode & 0o777 == 0o750
    assert os.listdir(str(tmp_path / "new")) == ["report.json"]


def test_write_atomic_keeps_the_old_content_and_no_temporary_file_when_the_write_fails(tmp_path):
    path = tmp_path / "state.json"
    path.write_bytes(b"old\n")
    with pytest.raises(TypeError):
        _common.write_atomic(str(path), u"not bytes", 0o644, prefix=".state-")
    assert path.read_bytes() == b"old\n"
    assert os.listdir(str(tmp_path)) == ["state.json"]


def test_write_atomic_without_dir_mode_does_not_create_a_folder(tmp_path):
    with pytest.raises(OSError):
        _common.write_atomic(str(tmp_path / "missing" / "f"), b"x", 0o600)
    assert not (tmp_path / "missing").exists()


def test_write_atomic_gives_the_owner_where_it_may(tmp_path):
    path = tmp_path / "f"
    _common.write_atomic(str(path), b"x", 0o600, owner=(os.getuid(), os.getgid()))
    assert (os.stat(str(path)).st_uid, os.stat(str(path)).st_gid) == (os.getuid(), os.getgid())
