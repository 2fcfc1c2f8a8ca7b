#!/usr/bin/env bash
# Runs every test of the collection on this machine, as root, installing what they need first:
# unit tests, module integration tests on real namespaces, ansible-test sanity, ansible-lint, the
# Galaxy import check of the built tarball (galaxy-importer, antsibull-docs lint), and the
# Molecule scenarios (netns lab, netns lab dual stack, IPIP on QEMU VMs, the seeds' lab on Docker, IPIP
# cross-subnet on VMs).
#   sudo ./scripts/run-tests.sh               # everything
#   sudo ./scripts/run-tests.sh unit sanity   # some of: unit integration sanity lint galaxy molecule molecule-extra
# `molecule` runs the scenarios CI runs (the netns lab, the netns lab dual stack, two IPIP VMs with BIRD, two
# Docker containers: about 80 s with the image cached, 132 s building it first, before dual-stack);
# `molecule-extra` (also spelt molecule-vm-extra) the others: `bird` (four netns hosts, two route
# reflectors: the topology the integration suite's four-host BIRD test converges, stops and restores), the four-VM ipip-cross-subnet scenario (about 20
# minutes under TCG on 2 cores, too long for CI's budget; its per-pair plain/encapsulated decision is the
# one the VXLAN cross_subnet integration test checks on the wire) and ipip-dual-stack (the two IPIP VMs
# with an IPv6 underlay: IPv4 through tunl0, IPv6 plain, BIRD sessions of both families).
# Every step and every Molecule scenario has a time limit (coreutils timeout; STEP_LIMIT_<step>,
# SCENARIO_LIMIT seconds), so a hang fails that step and the summary still prints.
# The integration step runs with the seeds' lab (scripts/lab-up.sh) up, as a user may leave it, and
# checks afterwards that it is intact and still verifies (SEEDS_LAB_GUARD=0 skips that).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH" ANSIBLE_CONFIG="$PWD/ansible.cfg"

scenarios=(default dual-stack ipip docker)
extra_scenarios=(bird ipip-cross-subnet ipip-dual-stack)
steps=("$@")
[ "${#steps[@]}" -gt 0 ] || steps=(unit integration sanity lint galaxy molecule)
declare -A limit=([unit]=300 [integration]=2400 [sanity]=900 [lint]=600 [galaxy]=900)
scenario_limit=${SCENARIO_LIMIT:-1500}

bounded() {  # bounded SECONDS COMMAND...: the command, killed after SECONDS (rc 124)
  local seconds=$1; shift
  local rc=0
  timeout --kill-after=30 "$seconds" "$@" || rc=$?
  [ "$rc" -ne 124 ] && [ "$rc" -ne 137 ] || echo "TIMEOUT after ${seconds}s: $*" >&2
  return "$rc"
}

seeds_lab() {  # seeds_lab up|check|down: the seeds' lab a user would leave running
  local seeds=(-i inventory/hosts.yml)
  case "$1" in
    up) bounded 300 ./scripts/lab-up.sh "${seeds[@]}" > /tmp/labnet-seeds-up.log 2>&1 ;;
    check) bounded 300 ansible-playbook playbooks/verify.yml "${seeds[@]}" > /tmp/labnet-seeds-check.log 2>&1 \
             && grep -q '4 pods reach each other' /tmp/labnet-seeds-check.log ;;
    down) bounded 300 ansible-playbook playbooks/teardown.yml "${seeds[@]}" > /tmp/labnet-seeds-down.log 2>&1 ;;
  esac
}

# The Docker engine, only for the steps that use it (the docker integration test, a docker scenario):
# scripts/dockerd.sh starts one when none answers and stops only the one it started.
# The integration step starts it only with DOCKER_TESTS=1 (test_docker.py skips otherwise, saying why):
# the docker scenario covers the same lab in CI's time.
docker_started=0
docker_engine() {  # docker_engine up|down
  case "$1" in
    up) if ! docker info >/dev/null 2>&1; then
          bounded 120 ./scripts/dockerd.sh start && docker_started=1 || echo "no Docker engine: the docker tests skip" >&2
        fi ;;
    down) if [ "$docker_started" = 1 ]; then bounded 120 ./scripts/dockerd.sh stop || true; docker_started=0; fi ;;
  esac
}

trap 'docker_engine down' EXIT
failed=()
timings=()   # "step seconds": printed last, so the tail of a CI log says where the time went
for step in "${steps[@]}"; do
  echo "=== $step"
  step_start=$SECONDS
  case "$step" in
    molecule|molecule-extra|molecule-vm-extra)
      if [ "$step" = molecule ]; then list=("${scenarios[@]}"); else list=("${extra_scenarios[@]}"); fi
      installed_copy="$HOME/.ansible/collections/ansible_collections/labnet/calico"
      installed=$installed_copy; [ -e "$installed" ] || installed=/nonexistent   # what the user had before
      for scenario in "${list[@]}"; do
        [ -f "molecule/$scenario/molecule.yml" ] || { echo "no scenario $scenario" >&2; failed+=("molecule:$scenario"); continue; }
        echo "=== molecule test -s $scenario"
        start=$SECONDS
        [ "$scenario" != docker ] || docker_engine up
        if ! bounded "$scenario_limit" molecule test -s "$scenario"; then
          failed+=("molecule:$scenario")
          bounded 300 molecule destroy -s "$scenario" || true   # a killed run left its lab
        fi
        [ "$scenario" != docker ] || docker_engine down
        echo "=== molecule $scenario: $((SECONDS - start)) s"
        timings+=("molecule:$scenario $((SECONDS - start))")
        if [ ! -e "$installed" ] && [ -e "$installed_copy" ]; then   # the scenarios use the checkout itself
          echo "molecule $scenario left a copy of the collection in $installed_copy" >&2; failed+=("molecule:$scenario:copy")
        fi
      done ;;
    integration)
      guard=${SEEDS_LAB_GUARD:-1}
      if [ "$guard" = 1 ] && ! seeds_lab up; then
        echo "the seeds' lab did not come up (/tmp/labnet-seeds-up.log)" >&2; failed+=("integration:seeds-lab-up"); guard=0
      fi
      # test_docker.py's engine adds links and routes to the root namespace, which the netns tests
      # compare before and after: with it, one test file at a time (make integration runs two).
      if [ "${DOCKER_TESTS:-0}" = 1 ]; then docker_engine up; export INTEGRATION_WORKERS=${INTEGRATION_WORKERS:-0}; fi
      bounded "${STEP_LIMIT_integration:-${limit[integration]}}" make integration || failed+=("integration")
      docker_engine down
      if [ "$guard" = 1 ]; then
        seeds_lab check || { echo "the seeds' lab was changed by the suite (/tmp/labnet-seeds-check.log)" >&2
                             failed+=("integration:seeds-lab-intact"); }
        seeds_lab down || failed+=("integration:seeds-lab-down")
      fi ;;
    *) var="STEP_LIMIT_$step"
       bounded "${!var:-${limit[$step]:-900}}" make "$step" || failed+=("$step") ;;
  esac
  timings+=("$step $((SECONDS - step_start))")
done

echo "=== seconds per step (total $SECONDS, bootstrap included)"
printf '  %s\n' "${timings[@]}"

if [ "${#failed[@]}" -gt 0 ]; then
  echo "FAILED: ${failed[*]}"
  exit 1
fi
echo "all test steps passed: ${steps[*]}"
