#!/usr/bin/env bash
# Create the separate virtual environments that benchmark peers need (gitignored).
#
#   bash benchmarks/setup_bench_envs.sh            # all environments
#   bash benchmarks/setup_bench_envs.sh whylogs    # one of them
#
# Each environment lives in bench-envs/<name> at the repository root, built with the
# interpreter named by $PYTHON (default python3) from benchmarks/requirements-<name>.txt.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python3}"
names=("$@")
if [ "${#names[@]}" -eq 0 ]; then
    names=(whylogs)
fi

for name in "${names[@]}"; do
    requirements="$root/benchmarks/requirements-$name.txt"
    env="$root/bench-envs/$name"
    if [ ! -f "$requirements" ]; then
        echo "no $requirements: known environments are: whylogs" >&2
        exit 2
    fi
    echo "creating $env from $requirements"
    "$python" -m venv "$env"
    "$env/bin/python" -m pip install --quiet --upgrade pip
    "$env/bin/python" -m pip install --quiet -r "$requirements"
    "$env/bin/python" -m pip list 2>/dev/null | grep -i "^$name " || true
done
