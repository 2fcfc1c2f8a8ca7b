#!/usr/bin/env bash
#   tests/sanity.sh [ARGS]         ansible-test sanity
#   tests/sanity.sh units [ARGS]   ansible-test units (the unit tests as ansible-test collects them)
# ansible-test sanity needs the collection at ansible_collections/<ns>/<name>: copy it there (the
# repository itself is the collection) and run the offline tests with this venv's Python.
set -euo pipefail
command=sanity
if [ "${1:-}" = units ]; then command=units; shift; fi
cd "$(dirname "$0")/.."
root=$PWD
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dest="$work/ansible_collections/labnet/calico"
mkdir -p "$dest"
rsync -a --exclude .venv --exclude collections --exclude .git --exclude .ansible --exclude '__pycache__' \
  --exclude .pytest_cache --exclude .cache ./ "$dest/"
# ansible-test bootstraps pip in its venvs with a get-pip script it downloads from a host outside the
# package registries; where that host is unreachable, stand in with the interpreter's own ensurepip
# followed by a pip install of the same arguments (the get-pip interface).
for version in 24.2 24.3.1 25.0.1; do
  stand_in=~/.ansible/test/cache/get_pip_${version//./_}.py
  [ -f "$stand_in" ] && continue
  mkdir -p "$(dirname "$stand_in")"
  cat > "$stand_in" <<'PY'
import subprocess
import sys
subprocess.check_call([sys.executable, '-m', 'ensurepip', '--upgrade', '--default-pip'])
args = [a for a in sys.argv[1:] if a not in ('--no-setuptools', '--no-wheel')]
subprocess.check_call([sys.executable, '-m', 'pip', 'install'] + args)
PY
done
cd "$dest"
git init -q && git add -A  # ansible-test takes the file list from git
# Every sanity test that runs offline runs: those with Python requirements (pylint, import,
# validate-modules, yamllint, changelog, ...) in venvs that ansible-test makes from the package
# registry, and the shell script check with Debian's shellcheck package (scripts/bootstrap.sh installs
# it; a comment line must not start with that word, which marks a directive). What a test still
# reports is fixed, or listed in tests/sanity/ignore-2.19.txt with the reason.
"$root/.venv/bin/ansible-test" "$command" --python 3.11 --color no "$@"
