#!/usr/bin/env bash
# Quick start: installs what the lab needs (scripts/bootstrap.sh), brings up a lab in one mode and
# prints the verified pod-to-pod connectivity. Run ./scripts/lab-up.sh -h for the options.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  cat <<'EOF'
Usage: scripts/lab-up.sh [-h] [bgp|ipip|vxlan] [ansible-playbook options...]

Brings up the lab (as root) and verifies it: every pod pings every other pod.

  bgp     BGP mode, routes over the underlay (the default)
  ipip    IPIP mode through tunl0; needs the kernel's ipip driver, so on a machine without one the
          default inventory runs it in QEMU VMs (bootstrap then also installs QEMU and debootstrap)
  vxlan   VXLAN mode through vxlan.calico
  -h      this help

Everything after the mode goes to ansible-playbook playbooks/<mode>.yml, e.g.
  scripts/lab-up.sh vxlan -i inventories/two-subnets-vxlan   # two subnets, VXLAN cross_subnet
  scripts/lab-up.sh bgp -e calico_routing=bird               # routes learned over iBGP (BIRD)
  scripts/lab-up.sh ipip -i inventories/vm                   # IPIP on the QEMU VMs
  scripts/lab-up.sh bgp -v --diff                            # show what every module changed
The inventory is inventory/ (the seeds' lab) unless -i says otherwise.
Tear it down with: .venv/bin/ansible-playbook playbooks/teardown.yml [-i INVENTORY]
Explore it: docs/explore.md
EOF
}

mode=bgp
case "${1:-}" in
  -h|--help) usage; exit 0 ;;
  bgp|ipip|vxlan) mode=$1; shift ;;
  ''|-*) ;;
  *) echo "lab-up: unknown mode '$1' (bgp, ipip or vxlan; -h for help)" >&2; exit 2 ;;
esac
# IPIP needs a kernel with the ipip driver: on a machine without one it runs on the QEMU VMs.
if [ "$mode" = ipip ]; then ./scripts/bootstrap.sh; else LAB_WITH_VMS=0 ./scripts/bootstrap.sh; fi
exec .venv/bin/ansible-playbook "playbooks/$mode.yml" "$@"
