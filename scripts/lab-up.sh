#!/usr/bin/env bash
# Quick start: brings up the seeds' lab (host A and host B as network namespaces of this machine,
# four pods) in BGP mode and prints the verified pod-to-pod connectivity.
#   sudo ./scripts/lab-up.sh                 # BGP mode, inventory/
#   sudo ./scripts/lab-up.sh ipip -i inventories/vm   # IPIP mode on QEMU VMs
# Tear it down with: .venv/bin/ansible-playbook playbooks/teardown.yml [-i INVENTORY]
set -euo pipefail
cd "$(dirname "$0")/.."
mode=bgp
case "${1:-}" in bgp|ipip) mode=$1; shift ;; esac
# IPIP needs a kernel with the ipip driver: on a machine without one it runs on the QEMU VMs.
if [ "$mode" = ipip ]; then ./scripts/bootstrap.sh; else LAB_WITH_VMS=0 ./scripts/bootstrap.sh; fi
exec .venv/bin/ansible-playbook "playbooks/$mode.yml" "$@"
