# genesis.runbook: everything a fresh machine needs, then the checks CI runs.
#   make demo   set up, start a lab, inject scenario 13, remediate it, show before/after
#   make test   lint, sanity, unit, lab and Molecule tests (what .ci/run calls)
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

ROOT := $(CURDIR)
VENV := $(ROOT)/.venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
export PATH := $(BIN):$(PATH)
export ANSIBLE_CONFIG := $(ROOT)/ansible.cfg
export ANSIBLE_FORCE_COLOR := 0
export PY_COLORS := 0

APT_PACKAGES := postgresql-15 postgresql-client-15 redis-server openssh-server openssh-client \
	nftables restic iproute2 sudo procps cron openjdk-17-jre-headless
PY_STAMP := $(VENV)/.deps-stamp
COLL_LINK := $(ROOT)/.collections/ansible_collections/genesis/runbook
LAB_NAME ?= glab
NODES ?= 2
MOLECULE_SCENARIOS ?= $(sort $(notdir $(patsubst %/molecule.yml,%,$(wildcard molecule/*/molecule.yml))))
# Scenarios run side by side, each on its own lab; logs in .cache/molecule-logs/.
MOLECULE_JOBS ?= 2

.PHONY: help setup apt venv collections lint sanity unit integration lab-test molecule test demo bench lab-up lab-down lab-status clean

help:
	@echo "make demo      set up, start a lab, inject scenario 13, remediate it, show before and after"
	@echo "make test      lint + sanity + unit + lab + molecule (CI)"
	@echo "make bench     time to recover per scenario, bare-action baselines, fleet scaling (benchmarks/results)"
	@echo "make setup     apt packages, .venv, Python and collection dependencies"
	@echo "make lab-up / lab-status / lab-down   drive a lab (NODES=$(NODES) LAB_NAME=$(LAB_NAME))"

setup: apt venv collections

# Debian packages the lab and the tests need; installs only what is missing.
apt:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		if [ "$$(id -u)" != 0 ]; then echo "apt packages missing ($$missing) and not root: install them first" >&2; exit 1; fi; \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

venv: $(PY_STAMP)

$(PY_STAMP): requirements.txt requirements-dev.txt lab/pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	$(PY) -m pip install -q -e lab
	@touch $@

# Make this checkout resolvable as genesis.runbook; dependencies come from the
# `ansible` bundle inside the venv (see requirements.yml for real installs).
collections: $(PY_STAMP)
	@mkdir -p $(dir $(COLL_LINK))
	@ln -sfn $(ROOT) $(COLL_LINK)

lint: setup
	$(BIN)/yamllint -s .
	$(BIN)/ansible-lint --offline -q
	$(PY) scripts/role_docs.py --check
	$(PY) scripts/awx_config.py --check

sanity: setup
	$(PY) .ci/sanity.py

unit: setup
	$(PY) -m pytest tests/unit -q -p no:cacheprovider

# Role-level checks that run ansible-playbook on localhost (no lab): bad input per argument spec.
integration: setup
	$(PY) -m pytest tests/integration -q -p no:cacheprovider

lab-test: setup
	$(PY) -m pytest lab/tests -q -p no:cacheprovider

molecule: setup
	$(PY) scripts/molecule_all.py --jobs $(MOLECULE_JOBS) --molecule $(BIN)/molecule $(MOLECULE_SCENARIOS)

test: setup lint sanity unit integration lab-test molecule
	@echo "make test: all checks passed"

lab-up: setup
	$(BIN)/genesis-lab up --nodes $(NODES) --lab $(LAB_NAME)

lab-status: setup
	$(BIN)/genesis-lab status --lab $(LAB_NAME)

lab-down:
	@if [ -x $(BIN)/genesis-lab ]; then $(BIN)/genesis-lab down --lab $(LAB_NAME); fi

demo: setup
	scripts/demo.sh $(LAB_NAME)

# Time to recover per scenario, the bare-action baselines and fleet scaling, on fresh labs (about an hour on 2 cores;
# run it on a quiet machine). Figures in benchmarks/results/ (JSON, Markdown, PNG charts); never asserted.
bench: setup
	$(PY) benchmarks/bench.py --all --out benchmarks/results

clean: lab-down
	rm -rf .collections .cache tests/output
