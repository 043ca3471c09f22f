# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""genesis_database_info and genesis_database_restore (runbook scenario 4)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime
import json
import os
import shutil
import subprocess

import pytest

import fakes_database
import genesis_fakes
from ansible.module_utils import basic
from ansible_collections.genesis.runbook.plugins.modules import genesis_database_info, genesis_database_restore

PASSWORD = "s3cretDbPw"
DSN = "postgresql://genesis:%s@127.0.0.1:5432/genesis" % PASSWORD
PHRASE = "HALT TRADING NOW"


@pytest.fixture
def dbpg(monkeypatch):
    fake = fakes_database.DatabasePg()
    from ansible_collections.genesis.runbook.plugins.module_utils import db
    monkeypatch.setattr(db.psycopg2, "connect", fake.connect)
    for i in range(12):
        fake.add_order("f%02d" % i, status="FILLED", age_s=300, price=64000.5,
                       executed_at=fake.now - datetime.timedelta(seconds=200 - i))
    fake.add_event("ORDER_CREATED", "order:f00", {}, 1)
    fake.add_event("ORDER_FILLED", "order:f00", {}, 2)
    return fake


@pytest.fixture
def home(tmp_path):
    (tmp_path / ".env").write_text("GENESIS_NODE=node1\nGENESIS_DATABASE_URL=%s\nGENESIS_API_KEY=k3y-api-secret\n" % DSN)
    return tmp_path


@pytest.fixture
def sv_running():
    server = genesis_fakes.Supervisord(fakes_database.supervisor_programs("RUNNING"))
    yield server.path
    server.stop()


@pytest.fixture
def sv_stopped():
    server = genesis_fakes.Supervisord(fakes_database.supervisor_programs("STOPPED"))
    yield server.path
    server.stop()


def no_tools(monkeypatch, tools=None, outputs=None):
    """Only `tools` exist on the node; run_command answers from outputs[tool] = (rc, out, err)."""
    tools = tools or {}
    calls = []
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, *a, **k: tools.get(name))

    def run_command(self, args, **kwargs):
        calls.append(list(args))
        return (outputs or {}).get(os.path.basename(args[0]), (127, "", "not found"))
    monkeypatch.setattr(basic.AnsibleModule, "run_command", run_command)
    return calls


def info_args(home, **extra):
    args = dict(genesis_home=str(home), node_name="node1", run_id="run-4", scenario="4", check_health=False)
    args.update(extra)
    return args


# ---------------------------------------------------------------------------- genesis_database_info
def test_info_healthy_database(run_module, dbpg, home, sv_running, api_fake, monkeypatch):
    no_tools(monkeypatch)
    result, failed = run_module(genesis_database_info.main, info_args(
        home, db_dsn=DSN, supervisor_socket=sv_running, check_health=True, api_url=api_fake.base, recent_trades=3))
    assert not failed and result["changed"] is False
    assert result["reachable"] is True and result["error"] is None and result["latency_ms"] >= 0
    assert result["service"] == dict(manager="supervisor", name="postgresql", state="running", detail="RUNNING", error=None,
                                     data_directory=None)
    assert result["schema_revision"] == "genesis_0007" and result["data_directory"] == "/var/lib/postgresql/15/main"
    assert [t["order_id"] for t in result["recent_trades"]] == ["f11", "f10", "f09"]
    assert result["last_trade_at"] == result["recent_trades"][0]["executed_at"]
    assert result["last_event_id"] == 2 and result["run_events"] == []
    assert result["health"]["database"] == "up" and result["health"]["status_code"] == 200
    assert result["dsn_source"] == "option" and PASSWORD not in json.dumps(result)


def test_info_reads_the_dsn_from_env_without_showing_it(run_module, dbpg, home, monkeypatch):
    no_tools(monkeypatch)
    dbpg.connect_error = genesis_fakes.pg_down()
    result, failed = run_module(genesis_database_info.main, info_args(home, service_manager="supervisor"))
    assert not failed and result["dsn_source"] == "env_file" and result["reachable"] is False
    assert result["endpoint"] == "postgresql://genesis:********@127.0.0.1:5432/genesis"
    assert result["error"].startswith("PostgreSQL postgresql://genesis:********@127.0.0.1:5432/genesis is unreachable")
    assert PASSWORD not in json.dumps(result)
    assert dbpg.connections == []


def test_info_down_database_and_stopped_service_in_check_mode(run_module, dbpg, home, sv_stopped, api_fake, monkeypatch):
    no_tools(monkeypatch)
    dbpg.connect_error = genesis_fakes.pg_down()
    api_fake.health = dict(api_fake.health, status="unhealthy", components={"database": "down", "redis": "up"})
    api_fake.health_status = 503
    result, failed = run_module(genesis_database_info.main, info_args(
        home, supervisor_socket=sv_stopped, check_health=True, api_url=api_fake.base), check_mode=True)
    assert not failed and result["changed"] is False
    assert result["service"]["state"] == "stopped" and result["service"]["manager"] == "supervisor"
    assert result["health"] == dict(reachable=True, status_code=503, status="unhealthy", database="down", error=None)
    assert "recent_trades" not in result


def test_info_is_read_only_and_repeatable(run_module, dbpg, home, monkeypatch):
    no_tools(monkeypatch)
    first, _failed = run_module(genesis_database_info.main, info_args(home))
    second, _failed = run_module(genesis_database_info.main, info_args(home))
    assert first["last_event_id"] == second["last_event_id"] and second["changed"] is False
    assert not any(s[0].upper().startswith(("INSERT", "UPDATE", "DELETE")) for s in dbpg.statements)


def test_info_new_events_and_run_events(run_module, dbpg, home, monkeypatch):
    no_tools(monkeypatch)
    dbpg.add_event("RUNBOOK_ACTION", "runbook:node1", {"step": "start_database", "run_id": "run-4"}, 1)
    dbpg.add_event("RUNBOOK_ACTION", "runbook:node1", {"step": "other", "run_id": "run-3"}, 2)
    dbpg.add_event("ORDER_CREATED", "order:f01", {}, 1)
    result, failed = run_module(genesis_database_info.main, info_args(home, events_after=2))
    assert not failed and result["new_events"] == 1
    assert result["run_events"] == [{"event_id": 3, "step": "start_database"}]


def test_info_without_alembic_or_settings_privilege(run_module, dbpg, home, monkeypatch):
    no_tools(monkeypatch)
    dbpg.schema_revision = None
    dbpg.data_directory = None
    result, failed = run_module(genesis_database_info.main, info_args(home))
    assert not failed and result["reachable"] is True
    assert result["schema_revision"] is None and result["data_directory"] is None


def test_info_waits_until_the_database_answers(run_module, dbpg, home, monkeypatch, no_sleep):
    no_tools(monkeypatch)
    dbpg.connect_errors = [genesis_fakes.pg_down(), genesis_fakes.pg_down()]
    result, failed = run_module(genesis_database_info.main, info_args(home, wait_reachable=10))
    assert not failed and result["reachable"] is True and result["error"] is None
    assert no_sleep == [1, 1]


def test_info_wait_gives_up_as_evidence(run_module, dbpg, home, monkeypatch):
    no_tools(monkeypatch)
    dbpg.connect_error = genesis_fakes.pg_down()
    clock = [1000.0]
    monkeypatch.setattr(genesis_database_info.time, "time", lambda: clock[0])
    monkeypatch.setattr(genesis_database_info.time, "sleep", lambda s: clock.__setitem__(0, clock[0] + s))
    result, failed = run_module(genesis_database_info.main, info_args(home, wait_reachable=3))
    assert not failed and result["reachable"] is False and "unreachable" in result["error"]
    assert clock[0] >= 1003.0


def test_info_systemd(run_module, dbpg, home, monkeypatch):
    calls = no_tools(monkeypatch, {"systemctl": "/bin/systemctl"},
                     {"systemctl": (0, "LoadState=loaded\nActiveState=failed\nSubState=failed\n", "")})
    result, failed = run_module(genesis_database_info.main, info_args(home, service_manager="systemd"))
    assert not failed and result["service"]["state"] == "failed" and result["service"]["detail"] == "failed (failed)"
    assert calls == [["/bin/systemctl", "show", "--property=LoadState,ActiveState,SubState", "postgresql"]]


def test_info_pg_ctlcluster(run_module, dbpg, home, monkeypatch):
    no_tools(monkeypatch, {"pg_lsclusters": "/usr/bin/pg_lsclusters"},
             {"pg_lsclusters": (0, "15  main    5432 down   postgres /var/lib/postgresql/15/main /var/log/postgresql/p.log\n", "")})
    result, failed = run_module(genesis_database_info.main, info_args(home, service_manager="pg_ctlcluster", pg_cluster="15/main"))
    assert not failed and result["service"]["state"] == "stopped" and result["service"]["name"] == "15/main"
    assert result["service"]["data_directory"] == "/var/lib/postgresql/15/main"


def test_info_auto_falls_back_to_systemd(run_module, dbpg, home, monkeypatch):
    no_tools(monkeypatch, {"systemctl": "/bin/systemctl", "pg_lsclusters": "/usr/bin/pg_lsclusters"},
             {"systemctl": (0, "LoadState=loaded\nActiveState=active\nSubState=running\n", ""),
              "pg_lsclusters": (1, "", "Error: specified cluster does not exist")})
    result, failed = run_module(genesis_database_info.main, info_args(home, supervisor_socket=str(home / "missing.sock")))
    assert not failed and result["service"]["manager"] == "systemd" and result["service"]["state"] == "running"


def test_info_auto_without_any_manager_is_evidence(run_module, dbpg, home, monkeypatch):
    no_tools(monkeypatch)
    result, failed = run_module(genesis_database_info.main, info_args(home))
    assert not failed and result["service"]["manager"] is None and result["service"]["state"] == "unknown"
    assert result["service"]["error"].startswith("No service manager on the node knows the database service postgresql")


def test_info_unknown_systemd_unit(run_module, dbpg, home, monkeypatch):
    no_tools(monkeypatch, {"systemctl": "/bin/systemctl"},
             {"systemctl": (0, "LoadState=not-found\nActiveState=inactive\nSubState=dead\n", "")})
    result, failed = run_module(genesis_database_info.main, info_args(home, service_manager="systemd", service_name="pg"))
    assert not failed and result["service"]["error"] == "systemd has no unit pg."


def test_info_unreachable_supervisor_names_the_socket(run_module, dbpg, home, monkeypatch):
    no_tools(monkeypatch)
    args = info_args(home, service_manager="supervisor", supervisor_socket=str(home / "no.sock"))
    result, failed = run_module(genesis_database_info.main, args)
    assert not failed and result["service"]["state"] == "unknown"
    assert result["service"]["error"].startswith("supervisord socket %s is unreachable" % (home / "no.sock"))


@pytest.mark.parametrize("extra, sentence", [
    (dict(recent_trades=2000), "recent_trades must be between 0 and 1000, got 2000."),
    (dict(wait_reachable=-1), "wait_reachable must be between 0 and 3600 seconds, got -1."),
    (dict(service_name="  "), "service_name is empty: name the supervisor program or systemd unit of the database."),
])
def test_info_bad_input_is_one_sentence(run_module, dbpg, home, extra, sentence):
    result, failed = run_module(genesis_database_info.main, info_args(home, **extra))
    assert failed and result["msg"] == sentence


def test_info_bad_choice(run_module, dbpg, home):
    result, failed = run_module(genesis_database_info.main, info_args(home, service_manager="upstart"))
    assert failed and "service_manager" in result["msg"] and "upstart" in result["msg"]


def test_info_without_any_dsn(run_module, dbpg, tmp_path):
    result, failed = run_module(genesis_database_info.main, info_args(tmp_path))
    assert failed and result["msg"].startswith("db_dsn (inventory variable genesis_db_dsn) is not set and %s/.env has no "
                                               "GENESIS_DATABASE_URL" % tmp_path)


# ---------------------------------------------------------------------------- genesis_database_restore
@pytest.fixture
def node(tmp_path):
    root = tmp_path / "node"
    data = root / "pgdata"
    data.mkdir(parents=True)
    (data / "PG_VERSION").write_text("15\n")
    (data / "broken").write_text("corrupted")
    (root / "restic-password").write_text("pw\n")
    return root


@pytest.fixture
def restic(tmp_path, node):
    snaps = [{"id": "aaaa1111" * 8, "short_id": "aaaa1111", "time": "2026-11-26T02:00:00Z", "paths": [str(node / "pgdata")],
              "tags": ["postgresql"]},
             {"id": "bbbb2222" * 8, "short_id": "bbbb2222", "time": "2026-11-27T02:00:00Z", "paths": [str(node / "pgdata")],
              "tags": ["postgresql"]},
             {"id": "cccc3333" * 8, "short_id": "cccc3333", "time": "2026-11-27T03:00:00Z", "paths": [str(node / "config")],
              "tags": ["genesis"]}]
    return fakes_database.FakeRestic(tmp_path, snaps, files={"PG_VERSION": "15\n", "restored": "from backup\n"})


@pytest.fixture
def halt(http, api_fake):
    calls = []

    def handler(request):
        calls.append(request.json())
        return (200, {"changed": True, "halted": True, "since": "2026-11-27T18:40:01.000Z", "reason": request.json()["reason"]}, {})
    http.route("POST", api_fake.base + "/emergency/halt", handler)
    return calls


def restore_args(node, restic, **extra):
    args = dict(data_directory=str(node / "pgdata"), confirmation=PHRASE, restic_repository=str(node / "repo"),
                restic_password_file=str(node / "restic-password"), restic_path=restic.path, tags=["postgresql"],
                api_key="k3y-api-secret", node_name="node1", run_id="run-4", scenario="4")
    args.update(extra)
    return args


def test_restore_saves_aside_then_restores_the_latest(run_module, node, restic, halt, monkeypatch):
    result, failed = run_module(genesis_database_restore.main, restore_args(node, restic), diff=True)
    assert not failed and result["changed"] is True, result.get("msg")
    assert result["snapshot"]["short_id"] == "bbbb2222"
    aside = result["saved_aside"]
    assert aside.startswith(str(node / "pgdata") + ".pre-restore-")
    assert open(os.path.join(aside, "broken")).read() == "corrupted"  # the old directory is kept, never deleted
    assert open(str(node / "pgdata" / "restored")).read() == "from backup\n"
    assert oct(os.stat(str(node / "pgdata")).st_mode & 0o777) == "0o700"
    assert halt == [{"reason": "database restore (runbook scenario 4)", "confirmation": PHRASE}]
    assert result["halted"]["halted"] is True
    assert not [p for p in os.listdir(str(node)) if p.startswith(".genesis-restore-")]
    restore_call = [c for c in restic.calls() if "restore" in c][0]
    assert restore_call[restore_call.index("--include") + 1] == str(node / "pgdata")
    assert "pw" not in json.dumps(result)
    assert result["diff"]["after"]["snapshot"] == "bbbb2222"


def test_restore_again_in_the_same_run_changes_nothing(run_module, node, restic, halt):
    first, _failed = run_module(genesis_database_restore.main, restore_args(node, restic))
    second, failed = run_module(genesis_database_restore.main, restore_args(node, restic))
    assert not failed and first["changed"] is True and second["changed"] is False
    assert second["saved_aside"] == first["saved_aside"] and len(halt) == 1


def test_restore_check_mode_changes_nothing(run_module, node, restic, halt):
    result, failed = run_module(genesis_database_restore.main, restore_args(node, restic), check_mode=True)
    assert not failed and result["changed"] is True and result["saved_aside"] is None and result["halted"] is None
    assert sorted(os.listdir(str(node / "pgdata"))) == ["PG_VERSION", "broken"] and halt == []
    assert not [c for c in restic.calls() if "restore" in c]


@pytest.mark.parametrize("phrase", [None, "", "halt trading now", "CLOSE ALL POSITIONS"])
def test_restore_without_the_phrase_is_refused(run_module, node, restic, halt, phrase):
    result, failed = run_module(genesis_database_restore.main, restore_args(node, restic, confirmation=phrase))
    assert failed and result["msg"] == ("confirmation must be the phrase 'HALT TRADING NOW' (a restore halts trading and replaces "
                                        "the database's data directory); nothing was changed.")
    assert restic.calls() == [] and halt == [] and sorted(os.listdir(str(node / "pgdata"))) == ["PG_VERSION", "broken"]


def test_restore_refuses_a_running_server(run_module, node, restic, halt):
    (node / "pgdata" / "postmaster.pid").write_text("%d\n/x\n" % os.getpid())
    result, failed = run_module(genesis_database_restore.main, restore_args(node, restic))
    assert failed and result["msg"] == ("A database server (pid %d) still runs from %s: stop it through its service manager "
                                        "first; nothing was changed." % (os.getpid(), node / "pgdata"))
    assert halt == []


def test_restore_without_a_snapshot_changes_nothing(run_module, node, restic, halt):
    result, failed = run_module(genesis_database_restore.main, restore_args(node, restic, tags=["nightly"]))
    assert failed and result["msg"] == ("No snapshot in restic repository %s holds %s with tags nightly; nothing was changed."
                                        % (node / "repo", node / "pgdata"))
    assert halt == []


def test_restore_failure_puts_the_directory_back(run_module, node, restic, halt):
    restic.state["restore_fail"] = "Fatal: unable to open repository"
    restic.save()
    result, failed = run_module(genesis_database_restore.main, restore_args(node, restic))
    assert failed and result["msg"].startswith("The restore of %s from snapshot bbbb2222 failed: " % (node / "pgdata"))
    assert result["msg"].endswith("the data directory was put back as it was.")
    assert sorted(os.listdir(str(node / "pgdata"))) == ["PG_VERSION", "broken"]
    assert [p for p in os.listdir(str(node)) if "pre-restore" in p or p.startswith(".genesis-restore-")] == []


def test_restore_halt_refused_changes_nothing(run_module, node, restic, http, api_fake):
    http.route("POST", api_fake.base + "/emergency/halt", genesis_fakes.refused())
    result, failed = run_module(genesis_database_restore.main, restore_args(node, restic))
    assert failed and result["msg"].startswith("Trading could not be halted before the restore (")
    assert result["msg"].endswith("nothing was restored.") and "k3y-api-secret" not in result["msg"]
    assert sorted(os.listdir(str(node / "pgdata"))) == ["PG_VERSION", "broken"]


def test_restore_repository_error_is_one_sentence(run_module, node, restic, halt):
    restic.state["fail"] = "Fatal: wrong password or no key found"
    restic.save()
    result, failed = run_module(genesis_database_restore.main, restore_args(node, restic))
    assert failed and result["msg"] == ("restic repository %s: listing the snapshots failed: Fatal: wrong password or no key "
                                        "found; nothing was changed." % (node / "repo"))


@pytest.mark.parametrize("extra, sentence", [
    (dict(data_directory="relative/pgdata"), "data_directory must be an absolute path below /, got relative/pgdata."),
    (dict(restic_path="/nonexistent/restic"), "restic_path /nonexistent/restic is not an executable on the node; nothing was changed."),
    (dict(api_key=""), "api_key (inventory variable genesis_api_key) is not set: genesis_database_restore needs it to halt "
                       "trading before the restore; nothing was changed."),
])
def test_restore_bad_input_is_one_sentence(run_module, node, restic, halt, extra, sentence):
    result, failed = run_module(genesis_database_restore.main, restore_args(node, restic, **extra))
    assert failed and result["msg"] == sentence


@pytest.mark.skipif(shutil.which("restic") is None, reason="restic is not installed")
def test_restore_with_the_real_restic(run_module, tmp_path, node, halt):
    """The staging layout the module relies on (<target>/<absolute path>) is restic's own."""
    repo = str(tmp_path / "real-repo")
    env = dict(os.environ, RESTIC_PASSWORD_FILE=str(node / "restic-password"))
    subprocess.run(["restic", "-r", repo, "--no-cache", "init", "-q"], env=env, check=True)
    subprocess.run(["restic", "-r", repo, "--no-cache", "backup", "-q", "--tag", "postgresql", str(node / "pgdata")], env=env,
                   check=True, capture_output=True)
    (node / "pgdata" / "broken").write_text("corrupted later")
    result, failed = run_module(genesis_database_restore.main, dict(
        restore_args(node, fakes_database.FakeRestic(tmp_path / "unused", [])), restic_repository=repo,
        restic_path=shutil.which("restic")))
    assert not failed, result.get("msg")
    assert open(str(node / "pgdata" / "broken")).read() == "corrupted"
    assert open(os.path.join(result["saved_aside"], "broken")).read() == "corrupted later"
