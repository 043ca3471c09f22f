# -*- coding: utf-8 -*-
# Copyright: (c) 2026, genesis.runbook maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/escalate.yml against local sinks: an HTTP receiver standing in for PagerDuty Events v2 and
a Slack incoming webhook, and an SMTP sink (aiosmtpd). Each case runs ansible-playbook on a local host and
asserts which channel received what, that no secret reaches a payload or the output, that check mode sends
nothing and that failures name the endpoint (without credentials) in one sentence."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import email
import email.policy
import http.server
import json
import os
import socket
import subprocess
import sys
import threading

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
RUN_ID = "esc-test-run-0001"
NODE = "gen-node-1"

ROUTING_KEY = "R0UTINGkeyABCDEF0123456789"
PHONE_KEY = "PH0NEkeyZYXW9876543210"
API_KEY = "k3y-SECRET-api-0001"
DB_PASSWORD = "Pg-pass-S3cret"
DSN = "postgresql://genesis:%s@127.0.0.1:5432/genesis" % DB_PASSWORD
SLACK_TOKEN = "XoxbSlackT0ken123"
SMTP_PASSWORD = "Smtp-pass-W0rd"
EXCHANGE_SECRET = "exch-S3CRET-value"
CACHE_PASSWORD = "Cache-pw-77"  # known to no variable: masked because it sits in a URL
SECRETS = [ROUTING_KEY, PHONE_KEY, API_KEY, DB_PASSWORD, SLACK_TOKEN, SMTP_PASSWORD, EXCHANGE_SECRET, CACHE_PASSWORD]

EVIDENCE = {
    "process": {"name": "genesis:trading_engine", "state": "FATAL", "restarts": 3, "api_token": "tok-" + API_KEY},
    "database": DSN,
    "db_dsn": DSN,
    "exchange_api_secret": EXCHANGE_SECRET,
    "log_tail": ["connection refused", "auth with key %s failed" % API_KEY, "host=db password=%s" % DB_PASSWORD],
    "webhook": "posted with token %s" % SLACK_TOKEN,
    "Password": DB_PASSWORD,
    "big": "x" * 5000,
    "checks": [{"name": "port_%d" % n, "ok": n % 2 == 0} for n in range(40)],
}


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Receiver(http.server.BaseHTTPRequestHandler):
    """Records every POST; answers like PagerDuty Events v2 (202) or a Slack webhook (200 ok)."""

    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode("utf-8")
        self.server.records.append({"path": self.path, "raw": raw, "json": json.loads(raw)})
        if self.path == "/v2/enqueue":
            code, body = 202, json.dumps({"status": "success", "message": "Event processed"})
        else:
            code, body = 200, "ok"
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode("utf-8"))

    def log_message(self, *args):  # keep pytest's output clean
        pass


class Mailbox:
    def __init__(self):
        self.messages = []
        self.logins = []

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        self.logins.append(auth_data.login)
        return AuthResult(success=auth_data.login == b"runbook" and auth_data.password == SMTP_PASSWORD.encode())

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        body = "".join(part.get_content() for part in message.walk() if part.get_content_maintype() == "text")
        self.messages.append({"from": envelope.mail_from, "to": envelope.rcpt_tos, "subject": str(message["Subject"]),
                              "body": body, "raw": envelope.content.decode("utf-8", "replace")})
        return "250 OK"


@pytest.fixture(scope="module")
def sinks():
    http_server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    http_server.records = []
    thread = threading.Thread(target=http_server.serve_forever, daemon=True)
    thread.start()
    mailbox = Mailbox()
    # plain-text AUTH is acceptable on loopback only; the role's default is starttls
    smtp = Controller(mailbox, hostname="127.0.0.1", port=free_port(), authenticator=mailbox.authenticate, auth_require_tls=False)
    smtp.start()
    try:
        yield {"http": http_server, "http_port": http_server.server_address[1], "mail": mailbox, "smtp_port": smtp.port}
    finally:
        smtp.stop()
        http_server.shutdown()
        http_server.server_close()


@pytest.fixture
def run(sinks, tmp_path):
    """run(extra_vars, check=False) -> (rc, output, http records, mails), with fresh sinks for each run."""
    base = {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
        "genesis_api_key": API_KEY, "genesis_db_dsn": DSN, "genesis_exchange_api_secret": EXCHANGE_SECRET,
        "escalation_pagerduty_routing_key": ROUTING_KEY,
        "escalation_pagerduty_events_url": "http://127.0.0.1:%d/v2/enqueue" % sinks["http_port"],
        "escalation_slack_webhook_url": "http://127.0.0.1:%d/services/T000/B000/%s" % (sinks["http_port"], SLACK_TOKEN),
        "escalation_email_to": ["oncall@example.invalid"], "escalation_email_from": "runbook@example.invalid",
        "escalation_email_host": "127.0.0.1", "escalation_email_port": sinks["smtp_port"], "escalation_email_secure": "never",
        "escalation_email_username": "runbook", "escalation_email_password": SMTP_PASSWORD, "escalation_timeout": 5,
    }
    (tmp_path / "inventory.json").write_text(json.dumps({"genesis": {"hosts": {NODE: base}}}))

    def _run(extra, check=False):
        del sinks["http"].records[:]
        del sinks["mail"].messages[:]
        del sinks["mail"].logins[:]
        env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_FORCE_COLOR="0",
                   ANSIBLE_STDOUT_CALLBACK="default", ANSIBLE_CALLBACK_RESULT_FORMAT="json",
                   ANSIBLE_LOCALHOST_WARNING="0", GENESIS_RUN_ID=RUN_ID,
                   GENESIS_REPORT_DIR=str(tmp_path / "reports"), PATH=BIN + os.pathsep + os.environ.get("PATH", ""))
        cmd = [os.path.join(BIN, "ansible-playbook"), "-i", str(tmp_path / "inventory.json"),
               os.path.join(ROOT, "playbooks", "escalate.yml"), "-e", json.dumps(extra)]
        proc = subprocess.run(cmd + (["--check"] if check else []), cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=180, check=False)
        return proc.returncode, proc.stdout + proc.stderr, list(sinks["http"].records), list(sinks["mail"].messages)
    return _run


def assert_no_secret(output, records, mails):
    for secret in SECRETS:
        assert secret not in output, "%s printed:\n%s" % (secret, output[-3000:])
        for record in records:
            sent = dict(record["json"])
            if record["path"] == "/v2/enqueue":
                assert sent.pop("routing_key") in (ROUTING_KEY, PHONE_KEY)
            assert secret not in json.dumps(sent), "%s sent to %s" % (secret, record["path"])
        for mail in mails:
            assert secret not in mail["subject"] + mail["body"], "%s in the email" % secret


def assert_evidence_summary(evidence):
    assert len(json.dumps(evidence)) <= 2048
    assert "process" in evidence and "checks" in evidence
    for key in ("db_dsn", "exchange_api_secret", "Password"):
        assert key not in evidence
    assert "api_token" not in json.dumps(evidence)


def pagerduty_events(records):
    assert all(r["path"] == "/v2/enqueue" for r in records), [r["path"] for r in records]
    return [r["json"] for r in records]


def test_critical_pages_pagerduty_and_phone_in_one_event(run):
    rc, out, records, mails = run({"escalation_scenario": 1, "escalation_evidence": EVIDENCE,
                                   "escalation_summary": "engine FATAL, db %s, cache redis://admin:%s@10.0.0.5:6379/0"
                                   % (DSN, CACHE_PASSWORD)})
    assert rc == 0, out[-3000:]
    events = pagerduty_events(records)
    assert len(events) == 1 and not mails
    event = events[0]
    assert event["routing_key"] == ROUTING_KEY and event["event_action"] == "trigger"
    assert event["dedup_key"] == "genesis/%s/scenario-01" % NODE
    payload = event["payload"]
    assert payload["severity"] == "critical" and payload["source"] == NODE and payload["component"] == "system_restart"
    assert "Scenario 1 Complete System Outage" in payload["summary"] and "CRITICAL" in payload["summary"]
    assert payload["summary"].endswith("fault detected - engine FATAL, db ***, cache redis://***@10.0.0.5:6379/0")
    details = payload["custom_details"]
    assert details["page"] == "phone"
    assert (details["scenario"], details["scenario_name"], details["severity"]) == (1, "Complete System Outage", "critical")
    assert (details["node"], details["run_id"], details["reason"]) == (NODE, RUN_ID, "fault detected")
    assert details["escalation_path"] == ["on-call", "lead", "director"] and details["response_minutes"] == 5
    assert_evidence_summary(details["evidence"])
    assert details["evidence_cut"] is True
    assert "delivered to pagerduty, phone" in out
    assert_no_secret(out, records, mails)


def test_critical_with_a_phone_service_sends_a_second_event(run):
    rc, out, records, mails = run({"escalation_scenario": 20, "escalation_phone_routing_key": PHONE_KEY,
                                   "escalation_reason": "remediation failed"})
    assert rc == 0, out[-3000:]
    events = {e["routing_key"]: e for e in pagerduty_events(records)}
    assert sorted(events) == sorted([ROUTING_KEY, PHONE_KEY]) and not mails
    assert "page" not in events[ROUTING_KEY]["payload"]["custom_details"]
    phone = events[PHONE_KEY]
    assert phone["payload"]["severity"] == "critical" and phone["payload"]["custom_details"]["page"] == "phone"
    assert phone["dedup_key"] == "genesis/%s/scenario-20/phone" % NODE
    assert phone["payload"]["class"] == "remediation failed"
    assert_no_secret(out, records, mails)


def test_high_goes_to_pagerduty_only(run):
    rc, out, records, mails = run({"escalation_scenario": 13, "escalation_evidence": EVIDENCE,
                                   "escalation_reason": "remediation budget exhausted"})
    assert rc == 0, out[-3000:]
    events = pagerduty_events(records)
    assert len(events) == 1 and not mails
    payload = events[0]["payload"]
    assert payload["severity"] == "error" and "page" not in payload["custom_details"]
    assert "Scenario 13 Order Book Desync on %s: remediation budget exhausted" % NODE in payload["summary"]
    assert payload["custom_details"]["run_id"] == RUN_ID and payload["custom_details"]["scenario"] == 13
    assert_evidence_summary(payload["custom_details"]["evidence"])
    assert_no_secret(out, records, mails)


def test_medium_goes_to_slack_and_email(run, sinks):
    rc, out, records, mails = run({"escalation_scenario": 19, "escalation_evidence": EVIDENCE})
    assert rc == 0, out[-3000:]
    assert [r["path"] for r in records] == ["/services/T000/B000/%s" % SLACK_TOKEN]
    slack = records[0]["json"]
    assert "Scenario 19 Configuration Drift on %s" % NODE in slack["text"]
    blocks = json.dumps(slack["blocks"])
    for text in ("medium", NODE, RUN_ID, "Configuration Drift", "genesis:trading_engine"):
        assert text in blocks, text
    assert len(mails) == 1 and sinks["mail"].logins == [b"runbook"]
    mail = mails[0]
    assert mail["to"] == ["oncall@example.invalid"] and mail["from"] == "runbook@example.invalid"
    assert "[GENESIS MEDIUM] Scenario 19 Configuration Drift on %s" % NODE in mail["subject"]
    for text in ("Severity:   medium", "Run id:     " + RUN_ID, "Node:       " + NODE, "genesis:trading_engine"):
        assert text in mail["body"], text
    assert "delivered to slack, email" in out
    assert_no_secret(out, records, mails)


def test_check_mode_sends_nothing_and_says_what_it_would_send(run):
    rc, out, records, mails = run({"escalation_scenario": 19, "escalation_evidence": EVIDENCE}, check=True)
    assert rc == 0, out[-3000:]
    assert not records and not mails
    assert "would send to slack at http://127.0.0.1:" in out and "would send to email at smtp://127.0.0.1:" in out
    assert "check mode, nothing sent" in out
    assert_no_secret(out, records, mails)
    rc, out, records, mails = run({"escalation_scenario": 1}, check=True)
    assert rc == 0 and not records and "would send to pagerduty" in out
    assert_no_secret(out, records, mails)


def test_unconfigured_channel_is_skipped_unless_delivery_is_required(run):
    rc, out, records, mails = run({"escalation_scenario": 19, "escalation_slack_webhook_url": ""})
    assert rc == 0, out[-3000:]
    assert not records and len(mails) == 1
    assert "slack is not configured (escalation_slack_webhook_url is empty), skipped." in out
    rc, out, records, mails = run({"escalation_scenario": 19, "escalation_slack_webhook_url": "",
                                   "escalation_require_delivery": True})
    assert rc != 0 and len(mails) == 1
    assert "was not delivered to slack (not configured, and escalation_require_delivery is true)." in out


def test_unreachable_sinks_fail_naming_the_endpoint_without_credentials(run):
    closed = free_port()
    rc, out, records, mails = run({"escalation_scenario": 13,
                                   "escalation_pagerduty_events_url": "http://probe:Pr0be-pass@127.0.0.1:%d/v2/enqueue" % closed})
    assert rc != 0 and not records
    assert ("Escalation of scenario 13 (Order Book Desync) on %s was not delivered to pagerduty at "
            "http://127.0.0.1:%d/v2/enqueue (" % (NODE, closed)) in out, out[-3000:]
    assert "Pr0be-pass" not in out
    assert_no_secret(out, records, mails)
    rc, out, records, mails = run({"escalation_scenario": 19, "escalation_email_port": closed,
                                   "escalation_slack_webhook_url": "http://127.0.0.1:%d/services/T000/B000/%s" % (closed, SLACK_TOKEN)})
    assert rc != 0 and not records and not mails
    assert "slack at http://127.0.0.1:%d/*** (" % closed in out, out[-3000:]
    assert "email at smtp://127.0.0.1:%d ([Errno 111] Connection refused)" % closed in out
    assert_no_secret(out, records, mails)


@pytest.mark.parametrize("scenario, message", [
    (42, "escalation_scenario must be a runbook scenario number 1-20, got 42."),
    (0, "escalation_scenario must be a runbook scenario number 1-20, got 0."),
    ("thirteen", "escalation_scenario"),
])
def test_bad_scenario_fails_with_one_sentence_and_sends_nothing(run, scenario, message):
    rc, out, records, mails = run({"escalation_scenario": scenario})
    assert rc != 0 and not records and not mails
    assert message in out, out[-3000:]
    assert_no_secret(out, records, mails)
