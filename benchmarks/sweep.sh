#!/usr/bin/env bash
# The scale sweep (benchmarks/sweep.py): installs matplotlib into the project's venv for the chart, then
# runs the sizes given (default 2x4 2x64 2x256 8x8 32x8). As root, from anywhere:
#   flock /tmp/labnet-lab.lock benchmarks/sweep.sh 2x4 2x256 32x8
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || ./scripts/bootstrap.sh
.venv/bin/python -c 'import matplotlib' 2>/dev/null || .venv/bin/pip install -q matplotlib
exec .venv/bin/python benchmarks/sweep.py "$@"
