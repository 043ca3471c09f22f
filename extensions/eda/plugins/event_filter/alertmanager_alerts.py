"""ansible-rulebook event filter: one event per Alertmanager alert, normalised for genesis rules."""
from __future__ import annotations

import re
from typing import Any

DOCUMENTATION = r"""
---
short_description: Split an Alertmanager webhook payload into one event per genesis alert.
description:
  - Turns the payload of an Alertmanager webhook (C(payload.alerts)) into one event per alert,
    so that a rule and its throttle see exactly one node and one scenario.
  - Each event keeps the alert (C(status), C(labels), C(annotations)) and adds C(genesis_alert)
    with C(status), C(scenario), C(node), C(alertname) and C(severity).
  - C(scenario) is the C(genesis_scenario) label as a plain number string C("1")..C("20"),
    empty when the label is missing or out of range.
  - C(node) is the C(node) label, else the C(instance) label without a C(:port) suffix; empty
    unless it is a single host name, so that a label such as C(all), C(node*) or C(a,b) can
    never widen a playbook's target (rules also check it against an allow-list).
  - C(meta.hosts) is set to the node, which limits a C(run_playbook) action to it.
  - A payload without an C(alerts) list gives no event.
options:
  payload_key:
    description: Key of the event that holds the Alertmanager body.
    type: str
    default: payload
"""

EXAMPLES = r"""
- eda.builtin.webhook:
    host: 127.0.0.1
    port: 5000
  filters:
    - genesis.runbook.alertmanager_alerts:
"""

# A single inventory host name: no pattern, group expression, list or port.
HOST_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,252}$")
# alertname and severity end up in escalation text: keep them to plain words.
PLAIN = re.compile(r"[^A-Za-z0-9_.:-]")
SCENARIOS = range(1, 21)


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _node(labels: dict[str, Any]) -> str:
    name = _text(labels.get("node"))
    if not name:
        instance = _text(labels.get("instance"))
        name = re.sub(r":[0-9]+$", "", instance)
    return name if HOST_NAME.match(name) else ""


def _scenario(value: Any) -> str:
    text = str(value).strip() if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
    if text.isdigit() and int(text) in SCENARIOS:
        return str(int(text))
    return ""


def normalise(alert: dict[str, Any]) -> dict[str, Any]:
    """One Alertmanager alert as a genesis event (the alert itself plus genesis_alert)."""
    labels = alert.get("labels") if isinstance(alert.get("labels"), dict) else {}
    node = _node(labels)
    event = dict(alert)
    event["genesis_alert"] = {
        "status": _text(alert.get("status")).lower(),
        "scenario": _scenario(labels.get("genesis_scenario")),
        "node": node,
        "alertname": PLAIN.sub("_", _text(labels.get("alertname")))[:128],
        "severity": PLAIN.sub("_", _text(labels.get("severity")))[:32],
    }
    # the webhook's own meta (headers) stays with the request; the limit is the node or nothing
    event["meta"] = {"hosts": node} if node else {}
    return event


def main(event: dict[str, Any], payload_key: str = "payload") -> list[dict[str, Any]]:
    """Split one webhook event into its alerts; anything else gives no event."""
    body = event.get(payload_key)
    alerts = body.get("alerts") if isinstance(body, dict) else None
    if not isinstance(alerts, list):
        return []
    return [normalise(alert) for alert in alerts if isinstance(alert, dict)]
