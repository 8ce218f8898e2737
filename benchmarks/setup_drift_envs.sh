#!/usr/bin/env bash
# Create the virtual environments of the peers of benchmarks/drift_bench.py (gitignored):
#
#   bash benchmarks/setup_drift_envs.sh              # evidently, nannyml, whylogs
#   bash benchmarks/setup_drift_envs.sh evidently    # one of them
#
# Each lives in bench-envs/<name> at the repository root, built with $PYTHON (default
# python3) from benchmarks/requirements-<name>.txt, so the peers' pins never touch
# suture's own environment.  An environment that already exists is updated in place.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/_make_envs.sh"
make_envs evidently nannyml whylogs -- "$@"
