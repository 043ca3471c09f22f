#!/usr/bin/env bash
# make demo: start a 2-node lab, inject scenario 13 (order book desync) on node1,
# show the evidence, remediate with the scenario playbook, show the validation.
set -euo pipefail
cd "$(dirname "$0")/.."
LAB="${1:-glab}"
INV="/var/lib/genesis-lab/${LAB}/inventory.yml"
REPORTS="$(mktemp -d /tmp/genesis-demo-XXXXXX)"
show() {  # print one report's key facts
  python - "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print("  detected:", r["detected"])
for reason in r["reasons"]:
    print("   -", reason)
if r["planned_changes"]:
    print("  would change:", ", ".join(c["step"] for c in r["planned_changes"]))
if r["changes"]:
    print("  changed:", ", ".join(c["step"] for c in r["changes"]))
for sym, book in (r.get("validation", {}).get("books") or {}).items():
    print("  validated %s: in_sync=%s deviation=%s bps" % (sym, book["in_sync"], book.get("deviation_bps")))
PY
}
echo "== starting lab ${LAB}"
genesis-lab up --nodes 2 --lab "${LAB}"
echo "== injecting scenario 13 (order book desync) on node1"
genesis-lab inject 13 --node node1 --lab "${LAB}" >/dev/null
echo "== BEFORE: check-mode run (changes nothing, shows evidence and plan)"
ansible-playbook --check -i "${INV}" playbooks/scenario_13_orderbook.yml -e "genesis_report_dir=${REPORTS}/before" >/dev/null
show "${REPORTS}/before/node1/scenario_13.json"
echo "== REMEDIATE: ansible-playbook playbooks/scenario_13_orderbook.yml -i ${INV}"
ansible-playbook -i "${INV}" playbooks/scenario_13_orderbook.yml -e "genesis_report_dir=${REPORTS}/after" | tail -n 4
echo "== AFTER: validation"
show "${REPORTS}/after/node1/scenario_13.json"
echo "== the lab keeps running: 'make lab-down LAB_NAME=${LAB}' stops it; reports in ${REPORTS}"
