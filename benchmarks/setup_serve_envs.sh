#!/usr/bin/env bash
# Create the virtual environment of the peer of benchmarks/serve_bench.py (gitignored):
#
#   bash benchmarks/setup_serve_envs.sh              # mlflow
#
# It lives in bench-envs/mlflow at the repository root, built with $PYTHON (default
# python3) from benchmarks/requirements-mlflow.txt, so MLflow's pins never touch suture's
# own environment.  An environment that already exists is updated in place.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/_make_envs.sh"
make_envs mlflow -- "$@"
