#!/usr/bin/env bash
# Runs every test of the collection on this machine, as root, installing what they need first:
# unit tests, module integration tests on real namespaces, ansible-test sanity, ansible-lint, the
# Galaxy import check of the built tarball (galaxy-importer, antsibull-docs lint), and the
# Molecule scenarios (netns lab, IPIP on QEMU VMs, IPIP cross-subnet on VMs).
#   sudo ./scripts/run-tests.sh               # everything
#   sudo ./scripts/run-tests.sh unit sanity   # some of: unit integration sanity lint galaxy molecule
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH" ANSIBLE_CONFIG="$PWD/ansible.cfg"

scenarios=(default bird ipip ipip-cross-subnet)
steps=("$@")
[ "${#steps[@]}" -gt 0 ] || steps=(unit integration sanity lint galaxy molecule)

failed=()
for step in "${steps[@]}"; do
  echo "=== $step"
  case "$step" in
    molecule)
      for scenario in "${scenarios[@]}"; do
        [ -f "molecule/$scenario/molecule.yml" ] || { echo "no scenario $scenario" >&2; failed+=("molecule:$scenario"); continue; }
        echo "=== molecule test -s $scenario"
        molecule test -s "$scenario" || failed+=("molecule:$scenario")
      done ;;
    *) make "$step" || failed+=("$step") ;;
  esac
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "FAILED: ${failed[*]}"
  exit 1
fi
echo "all test steps passed: ${steps[*]}"
