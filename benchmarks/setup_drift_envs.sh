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

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python3}"
known=(evidently nannyml whylogs)
names=("$@")
if [ "${#names[@]}" -eq 0 ]; then
    names=("${known[@]}")
fi

for name in "${names[@]}"; do
    requirements="$root/benchmarks/requirements-$name.txt"
    env="$root/bench-envs/$name"
    if [ ! -f "$requirements" ]; then
        echo "no $requirements: known environments are: ${known[*]}" >&2
        exit 2
    fi
    echo "creating $env from $requirements"
    "$python" -m venv "$env"
    "$env/bin/python" -m pip install --quiet --upgrade pip
    "$env/bin/python" -m pip install --quiet -r "$requirements"
    "$env/bin/python" -m pip list 2>/dev/null | grep -iE "^($name|$name-core) " || true
done
