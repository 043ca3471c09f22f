"""Scenario 9 validation on node1: the certificate is valid for more than 30 days, a real TLS
handshake verified against the lab CA succeeds and the endpoint serves the certificate on disk;
the CA store was updated; genesis restarted through supervisor. Plus a semantic bad input: an
empty renewal command stops the role with one sentence and changes nothing."""
import datetime
import os
import socket
import ssl
import subprocess

from cryptography import x509
from labprobe import runbook_actions_since

MIN_DAYS = 30


def _disk_cert(node):
    with open(node.cert_path, "rb") as handle:
        return x509.load_pem_x509_certificate(handle.read())


def _served_cert(lab, node):
    ctx = ssl.create_default_context(cafile=str(lab.ca_cert))
    ctx.check_hostname = True
    with socket.create_connection((node.address, 8443), timeout=5) as sock:
        with ctx.wrap_socket(sock, server_hostname=node.address) as tls:
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
            return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))


def test_certificate_valid_more_than_30_days(node1):
    left = _disk_cert(node1).not_valid_after_utc - datetime.datetime.now(datetime.timezone.utc)
    assert left > datetime.timedelta(days=MIN_DAYS), left


def test_verified_handshake_serves_the_renewed_certificate(lab, node1):
    served = _served_cert(lab, node1)
    assert served.serial_number == _disk_cert(node1).serial_number
    assert served.not_valid_after_utc - datetime.datetime.now(datetime.timezone.utc) > datetime.timedelta(days=MIN_DAYS)


def test_ca_store_updated(lab, node1):
    folder = os.path.join(str(node1.root), "etc", "ssl", "certs")
    with open(os.path.join(folder, "genesis-lab-ca.pem"), "rb") as handle, open(lab.ca_cert, "rb") as ca:
        assert handle.read() == ca.read()
    assert any(name.endswith(".0") and os.path.islink(os.path.join(folder, name)) for name in os.listdir(folder))


def test_genesis_running_and_healthy_after_the_restart(node1, api_get):
    assert node1.supervisor().supervisor.getProcessInfo("genesis:genesis")["statename"] == "RUNNING"
    assert api_get(node1, "/health").status_code == 200


def test_converge_did_the_runbook_steps(converge_report):
    steps = {c["step"] for c in converge_report["changes"]}
    assert {"renew_certificate", "update_ca_store", "restart_tls_programs"} <= steps, steps
    assert converge_report["evidence"]["severity"] == "critical"
    assert converge_report["validation"]["handshake_ok"] and converge_report["validation"]["served_matches_disk"]


def test_empty_renewal_command_stops_and_changes_nothing(node1, baseline):
    project = os.environ["MOLECULE_PROJECT_DIRECTORY"]
    serial = _disk_cert(node1).serial_number
    pid = node1.supervisor().supervisor.getProcessInfo("genesis:genesis")["pid"]
    events = runbook_actions_since(node1, baseline["node1"]["last_event_id"])
    # 120 days makes the 90-day certificate due, so the role reaches the renewal with no command to run.
    proc = subprocess.run(
        ["ansible-playbook", "-i", "/var/lib/genesis-lab/m09/inventory.yml", "--limit", "node1",
         os.path.join(project, "playbooks", "scenario_09_certificates.yml"),
         "-e", '{"cert_renewal_min_days": 120, "cert_renewal_renew_command": " "}',
         "-e", "genesis_report_dir=%s/reports/bad-input" % os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]],
        cwd=project, capture_output=True, text=True, timeout=300,
        env=dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0"))
    out = " ".join((proc.stdout + proc.stderr).split())
    assert proc.returncode != 0, out[-2000:]
    assert "cert_renewal_renew_command is empty" in out and "nothing was changed" in out, out[-2000:]
    assert _disk_cert(node1).serial_number == serial
    assert node1.supervisor().supervisor.getProcessInfo("genesis:genesis")["pid"] == pid
    assert runbook_actions_since(node1, baseline["node1"]["last_event_id"]) == events
