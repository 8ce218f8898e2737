#!/usr/bin/env bash
# Create the virtual environments of the validation benchmark's peers (gitignored):
#
#   bash benchmarks/setup_validate_envs.sh             # pandera and gx
#   bash benchmarks/setup_validate_envs.sh pandera     # one of them
#
# Each lives in bench-envs/<name> at the repository root, built with $PYTHON (default
# python3) from benchmarks/requirements-<name>.txt, so the peers' pins never touch
# suture's own environment.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python3}"
names=("$@")
if [ "${#names[@]}" -eq 0 ]; then
    names=(pandera gx)
fi

for name in "${names[@]}"; do
    requirements="$root/benchmarks/requirements-$name.txt"
    env="$root/bench-envs/$name"
    if [ ! -f "$requirements" ]; then
        echo "no $requirements: known environments are: pandera, gx" >&2
        exit 2
    fi
    echo "creating $env from $requirements"
    "$python" -m venv "$env"
    "$env/bin/python" -m pip install --quiet --upgrade pip
    "$env/bin/python" -m pip install --quiet -r "$requirements"
done
