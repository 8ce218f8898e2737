#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the archive tests, on 127.0.0.1 and a free port.
#
#   scripts/postgres.sh start [DIR]   start it (data in DIR, default /tmp/suture-pg-$$),
#                                     create the database suture_test, print its URL
#   scripts/postgres.sh stop DIR      stop it and remove DIR
#
# PostgreSQL refuses to run as root, so as root the server runs as the `postgres` OS user
# (Debian's postgresql package makes it; the script installs the package when no
# /usr/lib/postgresql/*/bin exists, as .ci/install-browser does for chromium). Only
# 127.0.0.1 is listened on, with trust authentication: never use this for real data.
#
# Usage in a shell:  export SUTURE_TEST_POSTGRES_URL=$(scripts/postgres.sh start /tmp/pg)
set -euo pipefail

command=${1:-}
dir=${2:-/tmp/suture-pg-$$}

bindir() {
    local found
    found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -z "$found" ]; then
        if [ "$(id -u)" -ne 0 ]; then
            echo "PostgreSQL is not installed: run 'apt-get install -y postgresql' as root" >&2
            exit 2
        fi
        echo "installing PostgreSQL (Debian's postgresql package)..." >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null
        found=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    fi
    echo "$found"
}

# Run a PostgreSQL program as the postgres user when we are root, else as ourselves.
as_postgres() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

case "$command" in
start)
    bin=$(bindir)
    if [ -e "$dir/PG_VERSION" ]; then
        echo "$dir already holds a cluster; stop it first (scripts/postgres.sh stop $dir)" >&2
        exit 2
    fi
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
    chmod 0700 "$dir"
    as_postgres "$bin/initdb" -D "$dir" -U postgres -A trust --no-sync -E UTF8 >"$dir.initdb.log" 2>&1 || {
        cat "$dir.initdb.log" >&2
        exit 1
    }
    port=$(free_port)
    as_postgres "$bin/pg_ctl" -D "$dir" -w -t 60 -l "$dir/server.log" \
        -o "-h 127.0.0.1 -p $port -k $dir -c max_connections=200" start >/dev/null || {
        cat "$dir/server.log" >&2
        exit 1
    }
    echo "$port" >"$dir/suture-port"
    as_postgres "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres suture_test
    rm -f "$dir.initdb.log"
    echo "postgresql://postgres@127.0.0.1:$port/suture_test"
    ;;
stop)
    if [ -z "${2:-}" ]; then
        echo "usage: scripts/postgres.sh stop DIR (the DIR given to start)" >&2
        exit 2
    fi
    if [ -e "$dir/PG_VERSION" ]; then
        bin=$(bindir)
        as_postgres "$bin/pg_ctl" -D "$dir" -w -t 60 -m fast stop >/dev/null || true
    fi
    rm -rf "$dir"
    ;;
*)
    echo "usage: scripts/postgres.sh start [DIR] | stop DIR" >&2
    exit 2
    ;;
esac
