"""The incident_timeline callback on a real run on localhost, and the post-mortem rendered from it.

A small scenario role (timeline_demo, assembled from files/timeline_role_*.yml next to a copy of
files/timeline_playbook.yml) detects a fault marker file, clears it, validates and writes the real
genesis run report, with the callback enabled. playbooks/post_mortem.yml then renders the timeline.
"""
import glob
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
FILES = os.path.join(ROOT, "tests", "integration", "files")
SECRET = "s3cr3t-timeline-value"
SECTIONS = ["## Summary", "## Timeline", "## Actions taken", "## Evidence", "## Validation",
            "## Root cause (5 whys)", "## Action items", "## Follow-up"]


def project(base):
    """A playbook with the timeline_demo role next to it, and a fault to find."""
    base.mkdir(parents=True, exist_ok=True)
    shutil.copy(os.path.join(FILES, "timeline_playbook.yml"), str(base / "play.yml"))
    role = base / "roles" / "timeline_demo"
    for part, dest in (("meta", "meta/main.yml"), ("main", "tasks/main.yml"), ("detect", "tasks/detect.yml"),
                       ("recover", "tasks/recover.yml"), ("validate", "tasks/validate.yml")):
        (role / dest).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(os.path.join(FILES, "timeline_role_%s.yml" % part), str(role / dest))
    (base / "fault").write_text("injected\n")
    return base


def ansible_playbook(args, cwd, extra_vars, **env_extra):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_STDOUT_CALLBACK="default", PATH=BIN + os.pathsep + os.environ.get("PATH", ""))
    for name in ("ANSIBLE_CALLBACKS_ENABLED", "GENESIS_TIMELINE_DIR", "GENESIS_RUN_ID", "GENESIS_REPORT_DIR"):
        env.pop(name, None)
    env.update(env_extra)
    extra = dict(extra_vars, ansible_python_interpreter=sys.executable)
    proc = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", "-c", "local"] + args
                          + ["-e", json.dumps(extra)],
                          cwd=str(cwd), env=env, capture_output=True, text=True, timeout=300, check=False)
    return proc, proc.stdout + proc.stderr


def scenario_run(base, run_id, check=False):
    """Run the demo scenario with the callback on; return the timeline file it wrote."""
    proj = project(base)
    timelines = base / "timelines"
    proc, out = ansible_playbook(
        (["--check"] if check else []) + ["play.yml"], proj,
        {"genesis_api_key": "k3y-for-the-timeline-test", "genesis_report_dir": str(base / "reports"),
         "genesis_state_dir": str(base / "state"), "timeline_demo_fault": str(base / "fault"),
         "timeline_demo_secret": SECRET},
        ANSIBLE_CALLBACKS_ENABLED="genesis.runbook.incident_timeline", GENESIS_TIMELINE_DIR=str(timelines),
        GENESIS_RUN_ID=run_id)
    assert proc.returncode == 0, out[-3000:]
    files = glob.glob(str(timelines / "timeline-*.json"))
    assert files == [str(timelines / ("timeline-%s.json" % run_id))], out[-2000:]
    return files[0]


def post_mortem(cwd, **extra_vars):
    return ansible_playbook([os.path.join(ROOT, "playbooks", "post_mortem.yml")], cwd, extra_vars)


@pytest.fixture(scope="module")
def recovered(tmp_path_factory):
    base = tmp_path_factory.mktemp("timeline-recovered")
    path = scenario_run(base, "itest-recovered")
    with open(path) as handle:
        text = handle.read()
    # a relative folder: relative to where ansible-playbook runs, not to the module's temporary directory
    proc, out = post_mortem(base, post_mortem_timeline_dir="timelines", post_mortem_incident_id="INC-42")
    assert proc.returncode == 0, out[-3000:]
    markdown = (base / "timelines" / "post-mortem-INC-42.md").read_text()
    again, out = post_mortem(base, post_mortem_timeline_dir="timelines", post_mortem_incident_id="INC-42")
    assert again.returncode == 0 and re.search(r"localhost\s*:\s*ok=\d+\s+changed=0\b", out), out[-1500:]
    return {"base": base, "path": path, "text": text, "doc": json.loads(text), "markdown": markdown}


def test_timeline_of_a_recovered_run(recovered):
    doc = recovered["doc"]
    assert doc["format"] == "genesis.runbook.incident_timeline" and doc["run_id"] == "itest-recovered"
    assert doc["check_mode"] is False and doc["stats"]["localhost"]["failures"] == 0
    host = doc["hosts"]["localhost"]
    scenario = host["scenarios"]["timeline_demo"]
    assert host["outcome"] == "recovered" and scenario["outcome"] == "recovered"
    assert scenario["scenario"] == 13 and scenario["detected"] is True
    assert scenario["reasons"] == ["fault marker present: fault"]
    assert 0 < scenario["time_to_detect_s"] < 120 and 0 < scenario["time_to_recover_s"] < 120
    assert scenario["report"]["validation"] == {"fault_cleared": True}
    assert [v["task"] for v in scenario["validations"] if v["passed"]][-1] == "The fault is gone"
    changes = dict((c["task"], c) for c in scenario["changes"])
    assert "path=" in changes["Clear the fault"]["summary"]
    assert changes["Store a credential (output hidden)"] == dict(changes["Store a credential (output hidden)"], censored=True)
    assert "summary" not in changes["Store a credential (output hidden)"]
    kinds = [e["type"] for e in doc["events"]]
    for kind in ("play_start", "task_start", "task_end", "detection", "change", "validation", "report"):
        assert kind in kinds
    # task starts and ends only for the collection's roles, not for the test role
    assert {e["role"] for e in doc["events"] if e["type"] == "task_start"} == {"genesis"}
    assert all(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", e["at"]) for e in doc["events"])


def test_timeline_holds_no_secret(recovered):
    text = recovered["text"]
    assert SECRET not in text
    assert '"api_token"' not in text and '"db_dsn"' not in text
    assert "https://reader:****@feed.invalid/depth" in text


def test_post_mortem_sections_and_figures(recovered):
    markdown = recovered["markdown"]
    scenario = recovered["doc"]["hosts"]["localhost"]["scenarios"]["timeline_demo"]
    positions = [markdown.index(section) for section in SECTIONS]
    assert positions == sorted(positions), "sections out of order"
    assert markdown.startswith("# Post-mortem: Order Book Desync\n")
    assert "| Incident | INC-42 |" in markdown
    assert "- **Outcome:** recovered" in markdown
    assert "- **Severity:** high (respond within 15 min; escalation path on-call -> lead; alert by pagerduty)" in markdown
    row = "| localhost | 13 | Order Book Desync (`timeline_demo`) | high | yes | recovered | %.1f s | %.1f s |" % (
        scenario["time_to_detect_s"], scenario["time_to_recover_s"])
    assert row in markdown
    assert "| localhost | timeline_demo | **Fault detected** | fault marker present: fault |" in markdown
    assert "| Clear the fault | `ansible.builtin.file` |" in markdown
    assert "| Store a credential (output hidden) | `ansible.builtin.copy` | output hidden (no_log) |" in markdown
    assert "| The fault is gone | pass | fault cleared |" in markdown
    assert "1. Why did \"Order Book Desync\" happen? Because the detection found:\n   - localhost: fault marker present: fault" in markdown
    assert "- [ ] Update the runbook: add new scenarios if needed" in markdown
    assert "5. [ ] Update runbook: add new scenarios if needed." in markdown
    assert SECRET not in markdown


def test_check_mode_run_and_a_post_mortem_of_two_timelines(recovered, tmp_path):
    path = scenario_run(tmp_path, "itest-check", check=True)
    with open(path) as handle:
        doc = json.load(handle)
    scenario = doc["hosts"]["localhost"]["scenarios"]["timeline_demo"]
    assert doc["check_mode"] is True
    assert scenario["outcome"] == "detected-only" and scenario["time_to_recover_s"] is None
    assert {c["type"] for c in scenario["changes"]} == {"planned_change"}
    assert (tmp_path / "fault").exists(), "check mode removed the fault"

    output = tmp_path / "both.md"
    proc, out = post_mortem(tmp_path, post_mortem_timelines=[recovered["path"], path], post_mortem_output=str(output))
    assert proc.returncode == 0, out[-3000:]
    markdown = output.read_text()
    assert "| Incident | itest-recovered+itest-check |" in markdown
    assert "| Mode | remediation and check mode runs |" in markdown
    assert "- **Outcome:** detected-only" in markdown
    assert "| detected-only | %.1f s | n/a |" % scenario["time_to_detect_s"] in markdown
    assert "- [ ] Escalate Order Book Desync on localhost (detected-only) as high: on-call -> lead within 15 min" in markdown


def test_post_mortem_refuses_bad_input(tmp_path):
    bogus = tmp_path / "bogus.json"
    bogus.write_text(json.dumps({"hello": "world"}))
    proc, out = post_mortem(tmp_path, post_mortem_timelines=[str(bogus)], post_mortem_output=str(tmp_path / "pm.md"))
    assert proc.returncode != 0
    assert "post_mortem_timelines: %s is not a readable incident timeline" % bogus in out, out[-2000:]
    proc, out = post_mortem(tmp_path, post_mortem_timeline_dir=str(tmp_path / "empty"), post_mortem_output=str(tmp_path / "pm.md"))
    assert proc.returncode != 0
    assert "post_mortem_timeline_dir (%s) holds no timeline-*.json file" % (tmp_path / "empty") in out, out[-2000:]
    assert not (tmp_path / "pm.md").exists()
