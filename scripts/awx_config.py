#!/usr/bin/env python3
"""Generate awx/controller_config.yml, the AWX / Automation controller configuration as code.

Reads every playbooks/*.yml, the roles each one imports or includes and their
meta/argument_specs.yml (entry point main, the source of truth), plus the genesis role's
shared fleet options, and writes the objects in the format infra.aap_configuration
(formerly redhat_cop.controller_configuration) consumes:

  controller_execution_environments, controller_projects, controller_inventories,
  controller_inventory_sources, controller_templates (one job template per playbook,
  with a survey built from the argument specs) and controller_workflows (one approval
  workflow per playbook with a destructive step: check-mode run -> approval -> run).

  scripts/awx_config.py           rewrite awx/controller_config.yml
  scripts/awx_config.py --check   exit 1 when the committed file differs from what would be generated

playbooks/awx_configure.yml applies the file with awx.awx modules. Site-specific values
(organization, SCM URL, image, credentials) stay Jinja references to genesis_awx_* variables
that the applying playbook defines.
"""
import glob
import os
import re
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUTPUT = os.path.join("awx", "controller_config.yml")
COLLECTION = "genesis.runbook"
SHARED_ROLE = "genesis"

# Playbooks that are not runbook jobs (this one configures the controller itself).
SKIP_PLAYBOOKS = ("awx_configure.yml",)
# Playbooks whose whole purpose is a destructive action, whatever their argument specs say.
DESTRUCTIVE_STEMS = ("kill_switch", "emergency_close", "emergency_mode")
# Confirmation phrases (docs/safety.md); the generator adds those of genesis_scenarios and docs/safety.md.
PHRASES = ("HALT TRADING NOW", "CLOSE ALL POSITIONS", "OVERRIDE EMERGENCY HALT")
# Options of the genesis role offered in every survey of a playbook that reaches it.
SHARED_SURVEY_OPTIONS = ("genesis_max_targets",)
# Free-text options an operator types at launch (others are site configuration, set in inventory).
OPERATOR_TEXT = re.compile(r"_(reason|summary|message|note|title|incident_id)$")
# Site configuration and loop plumbing: set in inventory, not asked at every launch.
SITE_CONFIG = re.compile(r"_(email|smtp|webhook|pagerduty|slack|phone)_|_(port|retries|delay)$")

NAME_PREFIX = "genesis - "
PROJECT = "genesis.runbook"
INVENTORY = "genesis"
INVENTORY_SOURCE = "genesis - inventory from the project"
EXECUTION_ENVIRONMENT = "genesis.runbook EE"
APPROVAL_TIMEOUT = 1800
ORGANIZATION = "{{ genesis_awx_organization | default('Default', true) }}"
TEXT_MAX = 1024

IMPORT_KEYS = ("import_role", "include_role", "ansible.builtin.import_role", "ansible.builtin.include_role",
               "ansible.legacy.import_role", "ansible.legacy.include_role")
PLAYBOOK_IMPORT_KEYS = ("import_playbook", "ansible.builtin.import_playbook")
BLOCK_KEYS = ("block", "rescue", "always")
TASK_LISTS = ("pre_tasks", "tasks", "post_tasks", "handlers")


class IndentDumper(yaml.SafeDumper):
    """Indent sequences inside mappings (yamllint's default indentation rule)."""

    def increase_indent(self, flow=False, indentless=False):
        return super().increase_indent(flow, False)

    def ignore_aliases(self, data):
        return True


def load_yaml(path):
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def description_text(option):
    text = option.get("description", "")
    if isinstance(text, list):
        text = " ".join(str(line) for line in text)
    return " ".join(str(text).split())


# --- roles and their argument specs ---------------------------------------------------------

def role_name(reference):
    """genesis.runbook.<role> or <role> -> <role>; anything else (another collection, a template) -> None."""
    if not isinstance(reference, str) or "{" in reference:
        return None
    if reference.startswith(COLLECTION + "."):
        reference = reference[len(COLLECTION) + 1:]
    if "." in reference or "/" in reference:
        return None
    return reference if os.path.isdir(os.path.join(ROOT, "roles", reference)) else None


def role_options(role):
    """The main entry point's options of a role, in spec order ({} when it has none)."""
    path = os.path.join(ROOT, "roles", role, "meta", "argument_specs.yml")
    if not os.path.exists(path):
        return {}
    specs = (load_yaml(path) or {}).get("argument_specs") or {}
    return (specs.get("main") or {}).get("options") or {}


def role_dependencies(role):
    path = os.path.join(ROOT, "roles", role, "meta", "main.yml")
    meta = load_yaml(path) if os.path.exists(path) else None
    found = []
    for dep in (meta or {}).get("dependencies") or []:
        name = role_name(dep.get("role", dep.get("name")) if isinstance(dep, dict) else dep)
        if name:
            found.append(name)
    return found


def _roles_in_tasks(tasks, found):
    for task in tasks or []:
        if not isinstance(task, dict):
            continue
        for key in IMPORT_KEYS:
            if key in task:
                args = task[key]
                name = role_name(args.get("name") if isinstance(args, dict) else args)
                if name and name not in found:
                    found.append(name)
        for key in BLOCK_KEYS:
            _roles_in_tasks(task.get(key), found)


def playbook_roles(path, seen=None):
    """Roles of the collection a playbook imports or includes (roles:, tasks, import_playbook), in order."""
    seen = set() if seen is None else seen
    path = os.path.realpath(path)
    if path in seen or not os.path.exists(path):
        return []
    seen.add(path)
    found = []
    for play in load_yaml(path) or []:
        if not isinstance(play, dict):
            continue
        for key in PLAYBOOK_IMPORT_KEYS:
            if isinstance(play.get(key), str) and "{" not in play[key]:
                for name in playbook_roles(os.path.join(os.path.dirname(path), play[key]), seen):
                    if name not in found:
                        found.append(name)
        for entry in play.get("roles") or []:
            name = role_name(entry.get("role", entry.get("name")) if isinstance(entry, dict) else entry)
            if name and name not in found:
                found.append(name)
        for key in TASK_LISTS:
            _roles_in_tasks(play.get(key), found)
    return found


def reachable_roles(roles):
    """The roles plus their meta dependencies, recursively."""
    found = []
    pending = list(roles)
    while pending:
        role = pending.pop(0)
        if role not in found:
            found.append(role)
            pending.extend(role_dependencies(role))
    return found


def role_uses_only_bool_filter(role, option):
    """True when every use of a bool option in the role's tasks goes through `| bool`.

    A survey answer is a string ("true"/"false"); ansible-core 2.19 refuses a string as a
    conditional, so a bool option is only offered when the role converts it itself.
    """
    uses = 0
    for sub in ("tasks", "handlers", "templates", "vars"):
        for path in sorted(glob.glob(os.path.join(ROOT, "roles", role, sub, "**", "*"), recursive=True)):
            if not os.path.isfile(path):
                continue
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
            for match in re.finditer(r"\b%s\b" % re.escape(option), text):
                uses += 1
                if not re.match(r"\s*\|\s*(ansible\.builtin\.)?bool\b", text[match.end():]):
                    return False
    return uses > 0


# --- catalogue and destructive steps ----------------------------------------------------------

def catalogue():
    path = os.path.join(ROOT, "roles", SHARED_ROLE, "defaults", "main.yml")
    defaults = load_yaml(path) if os.path.exists(path) else None
    return (defaults or {}).get("genesis_scenarios") or []


def known_phrases():
    phrases = list(PHRASES)
    for scenario in catalogue():
        if scenario.get("phrase") and scenario["phrase"] not in phrases:
            phrases.append(scenario["phrase"])
    safety = os.path.join(ROOT, "docs", "safety.md")
    if os.path.exists(safety):
        with open(safety, encoding="utf-8") as handle:
            for phrase in re.findall(r"`([A-Z][A-Z ]{6,}[A-Z])`", handle.read()):
                if phrase not in phrases:
                    phrases.append(phrase)
    return phrases


def phrase_of(option, phrases):
    text = description_text(option)
    for phrase in phrases:
        if phrase in text:
            return phrase
    return None


def is_phrase_option(name, option, phrases):
    if option.get("type", "str") != "str" or option.get("choices"):
        return False
    return phrase_of(option, phrases) is not None or bool(re.search(r"_(confirm|confirmation)$", name))


def is_arming_flag(option):
    """A bool that switches a destructive step on (its description says so)."""
    return option.get("type") == "bool" and "destructive" in description_text(option).lower()


# --- surveys ------------------------------------------------------------------------------------

def bounds(option):
    """Integer min/max documented in the description ('(1 to 3600)', '(1-20)', 'at most 1000', '2 or more')."""
    text = description_text(option)
    low = high = None
    match = re.search(r"(?<![\w.])(\d+(?:\.\d+)?)\s*(?:to|-)\s*(\d+(?:\.\d+)?)(?![\w.%])", text)
    if match:
        low, high = float(match.group(1)), float(match.group(2))
    else:
        most = re.search(r"\bat most (\d+(?:\.\d+)?)(?![\w.%])", text)
        more = re.search(r"(?<![\w.])(\d+(?:\.\d+)?) or more\b", text)
        high = float(most.group(1)) if most else None
        low = float(more.group(1)) if more else None
    default = option.get("default")
    if isinstance(default, (int, float)) and not isinstance(default, bool):
        if (low is not None and default < low) or (high is not None and default > high):
            return None, None
    # AWX accepts only integers as min/max, also for float questions.
    low = int(low) if low is not None and low == int(low) else None
    high = int(high) if high is not None and high == int(high) else None
    return low, high


def humanize(name, role):
    short = name[len(role) + 1:] if name.startswith(role + "_") else name
    return short.replace("_", " ").capitalize()


def show_default(option):
    default = option.get("default")
    if default is None or (isinstance(default, str) and "{{" in default):
        return None
    if isinstance(default, bool):
        return "true" if default else "false"
    if isinstance(default, (list, dict)):
        return yaml.safe_dump(default, default_flow_style=True, width=1000).strip()
    return '"%s"' % default if isinstance(default, str) else str(default)


def question(name, option, role):
    """One survey question for an argument-spec option, or None when it is not asked at launch.

    Survey answers and defaults are extra vars, which override group_vars on every launch. So
    no number, choice or bool question carries a default: unanswered, it passes nothing, and
    the inventory's value (or the role default, named in the description) stays in force. Only
    free text (a reason, a title) is prefilled with the role default, as a blank field would
    pass an empty string.
    """
    kind = option.get("type", "str")
    required = bool(option.get("required"))
    choices = option.get("choices")
    item = {"question_name": humanize(name, role), "question_description": "", "variable": name,
            "required": required}
    if option.get("no_log"):
        if not required or kind != "str":
            return None  # secrets come from inventory, a vault or a controller credential
        item.update(type="password", min=0, max=TEXT_MAX)
    elif choices and kind == "list":
        item.update(type="multiselect", choices=[str(c) for c in choices])
    elif choices and kind == "str":
        item.update(type="multiplechoice", choices=[str(c) for c in choices])
    elif kind in ("int", "float"):
        item["type"] = "integer" if kind == "int" else "float"
        low, high = bounds(option)
        if low is not None:
            item["min"] = low
        if high is not None:
            item["max"] = high
    elif kind == "bool":
        if not role_uses_only_bool_filter(role, name):
            return None
        item.update(type="multiplechoice", choices=["true", "false"])
    elif kind == "str" and (required or OPERATOR_TEXT.search(name)):
        item.update(type="text", min=0, max=TEXT_MAX)
    else:
        return None
    text = description_text(option)
    default = option.get("default")
    if item["type"] == "text" and isinstance(default, str) and "{{" not in default:
        # A blank text field may reach the play as "": prefill the role default instead.
        item["default"] = default
    elif not required:
        shown = show_default(option)
        text += " Empty: the inventory's value, else the role default%s." % (" " + shown if shown is not None else "")
    item["question_description"] = text
    return item


def phrase_question(name, option, role, phrases):
    phrase = phrase_of(option, phrases)
    item = {"question_name": "Confirmation phrase (%s)" % name, "question_description": "", "variable": name,
            "required": True, "type": "text"}
    if phrase:
        item.update(min=len(phrase), max=len(phrase))
        item["question_description"] = ("Type exactly %s. %s The check-mode run before the approval gets it too and never "
                                        "changes anything; only the run after the approval acts on it." % (phrase, description_text(option)))
    else:
        item.update(min=0, max=TEXT_MAX)
        item["question_description"] = ("The confirmation phrase of roles/%s/README.md. %s Only the run after the approval "
                                        "acts on it." % (role, description_text(option)))
    return item


def survey(name, description, questions):
    if not questions:
        return False, {}
    return True, {"name": name, "description": description, "spec": questions}


# --- objects ----------------------------------------------------------------------------------

class Playbook(object):
    """What the generator knows of one playbook."""

    def __init__(self, path, phrases, scenarios):
        self.file = os.path.relpath(path, ROOT).replace(os.sep, "/")
        self.stem = os.path.basename(path)[:-4]
        plays = load_yaml(path) or []
        self.title = next((p["name"] for p in plays if isinstance(p, dict) and p.get("name")), self.stem)
        self.roles = playbook_roles(path)
        self.shared = SHARED_ROLE in reachable_roles(self.roles)
        self.questions = []
        self.phrase_questions = []
        self.arming = {}
        for role in self.roles:
            if role == SHARED_ROLE:
                continue
            for name, option in role_options(role).items():
                if name.startswith("_"):
                    continue
                if is_phrase_option(name, option, phrases):
                    self.phrase_questions.append(phrase_question(name, option, role, phrases))
                elif is_arming_flag(option):
                    self.arming[name] = True
                elif not SITE_CONFIG.search(name):
                    item = question(name, option, role)
                    if item:
                        self.questions.append(item)
        if self.shared:
            shared = role_options(SHARED_ROLE)
            for name in SHARED_SURVEY_OPTIONS:
                if name in shared:
                    item = question(name, shared[name], SHARED_ROLE)
                    if item:
                        self.questions.append(item)
        entry = next((s for s in scenarios if s.get("playbook") == os.path.basename(path)), None)
        self.scenario = entry
        self.destructive = bool(self.phrase_questions or self.arming or self.stem in DESTRUCTIVE_STEMS
                                or (entry and entry.get("phrase")))

    @property
    def template_name(self):
        return NAME_PREFIX + self.stem

    @property
    def workflow_name(self):
        return NAME_PREFIX + self.stem + " (approval)"

    def description(self):
        text = self.title
        if self.scenario:
            text = "Runbook scenario %d (%s, severity %s): %s" % (
                self.scenario["number"], self.scenario["name"], self.scenario["severity"], self.title)
        return text

    def template(self):
        guard = ""
        if self.destructive:
            guard = (" Its destructive step needs a confirmation the template cannot receive: launch the workflow "
                     "'%s' (check-mode run, approval, run)." % self.workflow_name)
        enabled, spec = survey(self.template_name, self.description(), self.questions)
        return {
            "name": self.template_name,
            "description": self.description() + "." + guard,
            "organization": ORGANIZATION,
            "project": PROJECT,
            "playbook": self.file,
            "inventory": INVENTORY,
            "execution_environment": EXECUTION_ENVIRONMENT,
            "credentials": "{{ genesis_awx_credentials | default([]) }}",
            "job_type": "run",
            "verbosity": 0,
            "allow_simultaneous": False,
            "ask_inventory_on_launch": False,
            "ask_limit_on_launch": True,
            "ask_job_type_on_launch": True,
            "ask_diff_mode_on_launch": True,
            "ask_verbosity_on_launch": True,
            "ask_variables_on_launch": False,
            "survey_enabled": enabled,
            "survey_spec": spec,
        }

    def workflow(self):
        def node(identifier, job_type, success):
            return {
                "identifier": identifier,
                "job_type": job_type,
                "all_parents_must_converge": False,
                "unified_job_template": {"name": self.template_name, "type": "job_template",
                                         "organization": {"name": ORGANIZATION}},
                "related": {"success_nodes": [{"identifier": s} for s in success], "failure_nodes": [],
                            "always_nodes": [], "credentials": []},
            }

        approval = {
            "identifier": "approve",
            "all_parents_must_converge": False,
            "unified_job_template": {
                "name": "Approve " + self.template_name,
                "description": ("Read the check-mode run's planned changes (genesis report planned_changes) and "
                                "approve only the destructive step it shows."),
                "timeout": APPROVAL_TIMEOUT,
                "type": "workflow_approval",
            },
            "related": {"success_nodes": [{"identifier": "run"}], "failure_nodes": [], "always_nodes": [],
                        "credentials": []},
        }
        guards = [q["variable"] for q in self.phrase_questions] + sorted(self.arming)
        description = ("Check-mode run of %s (changes nothing, shows the plan), then an approval (%d min), then the "
                       "real run%s." % (self.file, APPROVAL_TIMEOUT // 60,
                                        " with " + ", ".join(guards) if guards else ""))
        enabled, spec = survey(self.workflow_name, description, self.phrase_questions + self.questions)
        workflow = {
            "name": self.workflow_name,
            "description": description,
            "organization": ORGANIZATION,
            "inventory": INVENTORY,
            "allow_simultaneous": False,
            "ask_inventory_on_launch": False,
            "ask_limit_on_launch": True,
            "ask_variables_on_launch": False,
            # Workflow variables reach every node; these switch the destructive step on (the phrase still guards it).
            "extra_vars": dict(self.arming),
            "survey_enabled": enabled,
            "survey_spec": spec,
            # Rebuild the graph on every apply: a node left over from an older graph must never bypass the approval.
            "destroy_current_nodes": True,
            "workflow_nodes": [node("check", "check", ["approve"]), approval, node("run", "run", [])],
        }
        return workflow


def playbooks():
    phrases = known_phrases()
    scenarios = catalogue()
    found = []
    for path in sorted(glob.glob(os.path.join(ROOT, "playbooks", "*.yml"))):
        if os.path.basename(path) not in SKIP_PLAYBOOKS:
            found.append(Playbook(path, phrases, scenarios))
    return found


def generate():
    books = playbooks()
    config = {
        "controller_execution_environments": [{
            "name": EXECUTION_ENVIRONMENT,
            "description": "execution-environment.yml of the repository (ansible-builder), with genesis.runbook in it.",
            "organization": ORGANIZATION,
            "image": "{{ genesis_awx_ee_image }}",
            "pull": "missing",
        }],
        "controller_projects": [{
            "name": PROJECT,
            "description": "The genesis.runbook repository; AWX runs the playbooks under playbooks/.",
            "organization": ORGANIZATION,
            "scm_type": "git",
            "scm_url": "{{ genesis_awx_scm_url }}",
            "scm_branch": "{{ genesis_awx_scm_branch | default('main', true) }}",
            "scm_clean": True,
            "scm_update_on_launch": True,
            "default_environment": EXECUTION_ENVIRONMENT,
        }],
        "controller_inventories": [{
            "name": INVENTORY,
            "description": "The genesis fleet, synced from the project (see controller_inventory_sources).",
            "organization": ORGANIZATION,
        }],
        "controller_inventory_sources": [{
            "name": INVENTORY_SOURCE,
            "description": "The inventory file of the project named by genesis_awx_inventory_source_path (a site setting).",
            "organization": ORGANIZATION,
            "inventory": INVENTORY,
            "source": "scm",
            "source_project": PROJECT,
            "source_path": "{{ genesis_awx_inventory_source_path }}",
            "overwrite": True,
            "update_on_launch": True,
        }],
        "controller_templates": [book.template() for book in books],
        "controller_workflows": [book.workflow() for book in books if book.destructive],
    }
    header = ("# Generated by scripts/awx_config.py from playbooks/*.yml and the roles' meta/argument_specs.yml:\n"
              "# do not edit by hand. Apply with playbooks/awx_configure.yml (see awx/README.md).\n")
    return header + yaml.dump(config, Dumper=IndentDumper, explicit_start=True, sort_keys=False,
                              default_flow_style=False, width=120, allow_unicode=True)


def main(argv):
    check = "--check" in argv
    wanted = generate()
    path = os.path.join(ROOT, OUTPUT)
    current = None
    if os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            current = handle.read()
    if current == wanted:
        return 0
    if check:
        print("%s is stale: run scripts/awx_config.py." % OUTPUT, file=sys.stderr)
        return 1
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(wanted)
    print("updated %s" % OUTPUT)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
