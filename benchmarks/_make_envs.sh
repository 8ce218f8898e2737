#!/usr/bin/env bash
# Shared by the setup_*_envs.sh scripts: make_envs "known names..." -- "requested names..."
# builds bench-envs/<name> from benchmarks/requirements-<name>.txt with $PYTHON (default
# python3); an environment that already exists is updated in place.
make_envs() {
    local root python known=() names=() name requirements env
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    python="${PYTHON:-python3}"
    while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do known+=("$1"); shift; done
    [ "$#" -gt 0 ] && shift
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
}
