#!/usr/bin/env bash
# A netns lab of HOSTS hosts with PODS pods each, routes learned over iBGP from BIRD, the first
# REFLECTORS hosts route reflectors (0: full mesh). For timing bring-up, re-apply and teardown:
#   benchmarks/bird-lab.sh up 10 2 2      # bring up and verify (one ping per pod pair)
#   benchmarks/bird-lab.sh up 10 2 2      # again: the re-apply, changed=0
#   benchmarks/bird-lab.sh down 10 2 2
#   benchmarks/bird-lab.sh cycle 10 2 2   # up, then down
set -euo pipefail
cd "$(dirname "$0")/.."
action=${1:?up, down or cycle} hosts=${2:-10} pods=${3:-2} reflectors=${4:-2}
inventory=/tmp/labnet-calico-bird-lab-${hosts}x${pods}.yml
.venv/bin/python benchmarks/make-inventory.py "$hosts" "$pods" > "$inventory"
rr=$(.venv/bin/python -c 'import json, sys; print(json.dumps({"calico_route_reflectors": ["s%d" % i for i in range(1, int(sys.argv[1]) + 1)]}))' "$reflectors")
up() {
  .venv/bin/ansible-playbook playbooks/bgp.yml -i "$inventory" -e calico_routing=bird -e "$rr" -e calico_verify_count=1
}
down() {
  .venv/bin/ansible-playbook playbooks/teardown.yml -i "$inventory"
}
case "$action" in
  up) up ;;
  down) down ;;
  cycle) up && down ;;
  *) echo "unknown action $action" >&2; exit 2 ;;
esac
