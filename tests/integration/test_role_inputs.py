"""Bad input to any role: one clear message naming each wrong variable, and nothing done.

For every role with an argument spec, the role is run once on localhost with every
option it declares given a value of the wrong type (or outside its choices). The run
must fail before any task of the role acts, name every one of those variables, and
report changed=0. New roles are picked up automatically.
"""
import glob
import json
import os
import re
import subprocess
import sys

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
SPECS = sorted(glob.glob(os.path.join(ROOT, "roles", "*", "meta", "argument_specs.yml")))


def wrong_value(option):
    """A value the option's declared type (or choices) must reject, or None when every value is valid."""
    kind = option.get("type", "str")
    if option.get("choices"):
        return "not-one-of-the-choices"
    return {"int": "not-a-number", "float": "not-a-number", "bool": "maybe", "list": {"a": 1},
            "dict": "not a mapping"}.get(kind)


def cases():
    for path in SPECS:
        role = path.split(os.sep)[-3]
        options = yaml.safe_load(open(path))["argument_specs"]["main"].get("options") or {}
        bad = {}
        for name, option in options.items():
            value = wrong_value(option)
            if value is not None:
                bad[name] = value
        if bad:
            yield pytest.param(role, bad, id=role)


@pytest.mark.parametrize("role, bad", list(cases()))
def test_wrong_types_are_named_and_nothing_runs(role, bad, tmp_path):
    playbook = tmp_path / "play.yml"
    playbook.write_text(yaml.safe_dump([{
        "name": "bad input", "hosts": "localhost", "gather_facts": False,
        "tasks": [{"name": "role", "ansible.builtin.import_role": {"name": "genesis.runbook." + role}}],
    }]))
    extra = dict(bad, genesis_api_key="k3y-for-the-input-test", genesis_report_dir=str(tmp_path / "reports"))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_STDOUT_CALLBACK="default", ANSIBLE_CALLBACK_RESULT_FORMAT="json",
               PATH=BIN + os.pathsep + os.environ.get("PATH", ""))
    proc = subprocess.run(
        [os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", "-c", "local", str(playbook),
         "-e", json.dumps(extra)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, "role %s accepted wrong types: %s" % (role, sorted(bad))
    assert "Validating arguments against arg spec" in out, out[-2000:]
    for name in bad:
        assert re.search(r"\b%s\b" % re.escape(name), out), "the failure does not name %s:\n%s" % (name, out[-3000:])
    recap = re.search(r"localhost\s*:\s*ok=\d+\s+changed=(\d+)", out)
    assert recap and recap.group(1) == "0", out[-1500:]
    # the role's own tasks never started: nothing after the validation ran
    assert "TASK [genesis.runbook.%s : Detect" % role not in out
