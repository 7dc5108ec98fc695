#!/usr/bin/env bash
# A throwaway PostgreSQL server on 127.0.0.1 for hsproto's distributed tuning tests.
#
#   eval "$(.ci/postgres.sh start)"     # prints the two exports below, logs to stderr
#   .venv/bin/python -m pytest tests/test_tuning.py
#   .ci/postgres.sh stop "$HSPROTO_POSTGRES_DIR"
#
# start: installs Debian's `postgresql` package when initdb/pg_ctl are not found (root
# only), initialises a cluster in a new temporary directory, starts it on a free port of
# 127.0.0.1 (password authentication over TCP), creates a database and prints
#   export HSPROTO_TEST_POSTGRES_URL=postgresql://hsproto:<password>@127.0.0.1:<port>/hsproto_test
#   export HSPROTO_POSTGRES_DIR=<directory>
# PostgreSQL refuses to run as root: as root, the server runs as the `postgres` system
# user (created if missing). stop: stops the server and removes the directory.
set -euo pipefail

log() { echo "postgres.sh: $*" >&2; }

find_bin() {  # find_bin NAME -> path of a PostgreSQL program, or nothing
    local dir
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [ -x "$dir/$1" ]; then echo "$dir/$1"; return 0; fi
    done
    command -v "$1" 2>/dev/null || true
}

install_postgres() {
    if [ -n "$(find_bin initdb)" ] && [ -n "$(find_bin pg_ctl)" ]; then return; fi
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
        log "initdb/pg_ctl not found; install PostgreSQL (e.g. apt-get install postgresql)"
        exit 1
    fi
    log "installing PostgreSQL from the Debian packages"
    # no default cluster (the package would create and may start one): this script starts
    # its own. A drop-in, read through createcluster.conf's include_dir, not a conffile.
    mkdir -p /etc/postgresql-common/createcluster.d
    echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/hsproto-ci.conf
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq -o Dpkg::Options::=--force-confdef \
        -o Dpkg::Options::=--force-confold postgresql >&2
    if [ -z "$(find_bin initdb)" ] || [ -z "$(find_bin pg_ctl)" ]; then
        log "initdb/pg_ctl still not found after installing postgresql"
        exit 1
    fi
}

as_owner() {  # run a command as the user who owns the cluster
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
    install_postgres
    local initdb pg_ctl psql port password
    initdb=$(find_bin initdb); pg_ctl=$(find_bin pg_ctl); psql=$(find_bin psql)
    if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
        useradd --system --no-create-home --shell /usr/sbin/nologin postgres
    fi
    dir=$(mktemp -d "${TMPDIR:-/tmp}/hsproto-postgres.XXXXXX")
    # any failure from here on: stop what was started and remove the directory
    # (set +e: a failure while cleaning up must not cut the clean-up short)
    trap 'set +e; [ -n "${started:-}" ] || stop "$dir"' EXIT
    chmod 755 "$dir"
    if [ "$(id -u)" = 0 ]; then chown postgres "$dir"; fi
    password=$(python3 -c 'import secrets; print(secrets.token_hex(12))')
    (umask 077; echo "$password" > "$dir/pwfile")
    if [ "$(id -u)" = 0 ]; then chown postgres "$dir/pwfile"; fi
    as_owner "$initdb" -D "$dir/data" -U hsproto --pwfile="$dir/pwfile" \
        --auth-local=trust --auth-host=scram-sha-256 --no-sync --no-instructions >&2
    rm -f "$dir/pwfile"
    port=$(free_port)
    as_owner "$pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off" start >&2
    PGPASSWORD=$password "$psql" -h 127.0.0.1 -p "$port" -U hsproto -d postgres -q \
        -c "CREATE DATABASE hsproto_test" >&2
    started=1
    log "PostgreSQL running on 127.0.0.1:$port (data in $dir)"
    echo "export HSPROTO_TEST_POSTGRES_URL=postgresql://hsproto:$password@127.0.0.1:$port/hsproto_test"
    echo "export HSPROTO_POSTGRES_DIR=$dir"
}

stop() {
    local dir=${1:?usage: postgres.sh stop DIR}
    local pg_ctl
    pg_ctl=$(find_bin pg_ctl)
    if [ -f "$dir/data/postmaster.pid" ] && [ -n "$pg_ctl" ]; then
        as_owner "$pg_ctl" -D "$dir/data" -m fast -w stop >&2 || log "pg_ctl stop failed"
    fi
    case "$dir" in
        */hsproto-postgres.*) rm -rf "$dir" ;;
        *) log "not removing $dir (not made by this script)" ;;
    esac
}

case "${1:-}" in
    start) start ;;
    stop) stop "${2:-}" ;;
    *) echo "usage: $0 start | stop DIR" >&2; exit 2 ;;
esac
