#!/usr/bin/env bash
# ansible-test sanity needs the collection at ansible_collections/<ns>/<name>: copy it there (the
# repository itself is the collection) and run the offline tests with this venv's Python.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dest="$work/ansible_collections/labnet/calico"
mkdir -p "$dest"
rsync -a --exclude .venv --exclude collections --exclude .git --exclude .ansible --exclude '__pycache__' \
  --exclude .pytest_cache --exclude .cache ./ "$dest/"
cd "$dest"
git init -q && git add -A  # ansible-test takes the file list from git
# Skipped: tests that need the network or containers (pylint and the import test pull packages, the
# shellcheck/yamllint ones need tools we do not install), and a changelog we do not keep yet.
"$root/.venv/bin/ansible-test" sanity --python 3.11 --color no \
  --skip-test pylint --skip-test import --skip-test shellcheck --skip-test changelog "$@"
