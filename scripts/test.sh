#!/usr/bin/env bash
# Install suture with its test dependencies into .venv and run every check CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt -e ".[dev]"
bash .ci/install-browser
java -version >/dev/null 2>&1 || { echo "Java 17 must be on PATH for the Spark tests" >&2; exit 1; }
echo "== ruff"
.venv/bin/ruff check src tests benchmarks examples
.venv/bin/ruff format --check src tests benchmarks examples
echo "== mypy --strict src/"
.venv/bin/mypy
echo "== PostgreSQL (the archive tests run against a real server)"
PGDIR=$(mktemp -d /tmp/suture-pg-XXXXXX)
rmdir "$PGDIR"
trap 'bash scripts/postgres.sh stop "$PGDIR" >/dev/null 2>&1 || true' EXIT
SUTURE_TEST_POSTGRES_URL=$(bash scripts/postgres.sh start "$PGDIR" | tail -n 1)
export SUTURE_TEST_POSTGRES_URL
echo "== pytest"
# Two pytest workers share the 2 cores; a BLAS thread per core in each would spin against
# the other worker and made the model tests several times slower.
export OPENBLAS_NUM_THREADS=1
.venv/bin/python -m pytest -n 2 --dist loadgroup -q -p no:cacheprovider "$@"
