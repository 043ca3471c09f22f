"""The Ansible inventory of a lab (`<state>/inventory.yml`, mode 0600: it carries secrets)."""
from __future__ import annotations

from pathlib import Path

import yaml

from .labspec import Lab, Node, default_state_dir, venv_bin


def host_vars(lab: Lab, node: Node) -> dict:
    venv = venv_bin()
    v: dict = {}
    if lab.isolation == "netns":
        v.update({
            "ansible_host": node.address,
            "ansible_user": "root",
            "ansible_ssh_private_key_file": str(lab.ssh_key),
            "ansible_ssh_common_args": (
                f"-o UserKnownHostsFile={lab.known_hosts} -o GlobalKnownHostsFile=/dev/null "
                "-o StrictHostKeyChecking=yes -o IdentitiesOnly=yes -o ConnectTimeout=5 "
                "-o ServerAliveInterval=2 -o ServerAliveCountMax=2"),
        })
    else:
        v.update({"ansible_host": "localhost", "ansible_connection": "local", "ansible_user": "root"})
    v.update({
        "ansible_python_interpreter": str(venv / "python"),
        "ansible_remote_tmp": str(node.root / "ansible-tmp"),
        "genesis_node_name": node.name,
        "genesis_cluster": lab.name,
        "genesis_home": str(node.home),
        "genesis_api_url": node.local_api_url,
        "genesis_api_key": node.api_key,
        "genesis_db_dsn": node.local_db_dsn,
        "genesis_redis_url": node.local_redis_url,
        "genesis_exchange_url": lab.exchange_url,
        "genesis_exchange_api_key": node.exchange_api_key,
        "genesis_exchange_api_secret": node.exchange_api_secret,
        "genesis_supervisor_socket": str(node.supervisor_socket),
        "genesis_supervisorctl": str(venv / "supervisorctl"),
        "genesis_cert_path": str(node.cert_path),
        "genesis_tls_url": node.local_tls_url,
        "genesis_tls_ca_file": str(lab.ca_cert),
        "genesis_memory_budget_mb": node.data.get("memory_budget_mb", 400),
        "genesis_db_service": "postgresql",
        "genesis_lab_node_root": str(node.root),
        # the runbook's lock and budget: per lab node, never shared between labs
        "genesis_state_dir": str(node.root / "runbook-state"),
        "genesis_time_sync_command": f"{venv / 'genesis-lab'} clock sync --lab {lab.name} --node {node.name}",
        "genesis_cert_renew_command": f"{venv / 'genesis-lab'} cert issue --lab {lab.name} --node {node.name}",
        "genesis_restic_repository": str(node.restic_repository),
        "genesis_restic_password_file": str(node.restic_password_file),
        "genesis_backup_cron_file": str(node.backup_cron_file),
    })
    if lab.state_dir != default_state_dir(lab.name):
        # the helper commands must find a lab whose state is not in the default place
        for k in ("genesis_time_sync_command", "genesis_cert_renew_command"):
            v[k] += f" --state-dir {lab.state_dir}"
    return v


def build(lab: Lab) -> dict:
    primary, secondary = lab.nodes[:1], lab.nodes[1:]
    return {"all": {"children": {"genesis": {
        "children": {
            "genesis_primary": {"hosts": {n.name: host_vars(lab, n) for n in primary}},
            "genesis_secondary": {"hosts": {n.name: host_vars(lab, n) for n in secondary}},
        },
        "vars": {"genesis_lab_name": lab.name, "genesis_lab_state_dir": str(lab.state_dir)},
    }}}}


def write(lab: Lab) -> Path:
    from .provision import write_file

    path = lab.inventory_path
    header = (f"# genesis-lab {lab.name} ({lab.isolation}, {len(lab.nodes)} nodes): written by `genesis-lab up`.\n"
              f"# Contains secrets (mode 0600). Removed by `genesis-lab down --lab {lab.name}`.\n")
    write_file(path, header + yaml.safe_dump(build(lab), sort_keys=False, width=100000), 0o600)
    return path
