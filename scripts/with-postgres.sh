#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL server, then removes the server.
#
#   scripts/with-postgres.sh swift test --filter DBConnectionPostgresTests
#   scripts/with-postgres.sh psql
#   scripts/with-postgres.sh pgbench -i
#
# The server is a fresh cluster in a temporary folder (initdb), listening on 127.0.0.1 at a free
# port, with its Unix socket in the same folder and TLS on (a self-signed CA made with openssl). The
# command sees:
#
#   DATABASE_URL            postgres://dbconn@127.0.0.1:PORT/dbconn_test   (a superuser, trust auth)
#   DBCONN_PG_PASSWORD_URL  postgres://dbconn_pw:PASSWORD@127.0.0.1:PORT/dbconn_test   (scram-sha-256)
#   DBCONN_PG_CA_FILE       the CA that signed the server's certificate (for sslmode=verify-full)
#   DBCONN_PG_SOCKET_DIR    the folder of the Unix socket
#   DBCONN_PG_CTL           pg_ctl for this cluster, to append an action to: bash -c "$DBCONN_PG_CTL restart"
#   PGHOST PGPORT PGUSER PGDATABASE   for psql, pgbench and other libpq tools
#
# On any exit (the command ends, Ctrl-C, TERM) the server is stopped (immediate mode) and the folder
# removed; the script exits with the command's status.
#
# The binaries come from `pg_config --bindir` (Debian's live in /usr/lib/postgresql/VERSION/bin, not on
# PATH). When none are found and this runs as root with apt-get, the script installs `postgresql`.
# initdb and postgres refuse to run as root: as root they run as the `postgres` system user.
set -euo pipefail

log() { echo "with-postgres: $*" >&2; }
die() {
    log "$*"
    exit 1
}

if [[ $# -eq 0 ]]; then
    die "usage: scripts/with-postgres.sh COMMAND [ARGUMENTS...]"
fi

# MARK: Find the server binaries

find_bindir() {
    local dir
    if command -v pg_config >/dev/null 2>&1; then
        dir="$(pg_config --bindir 2>/dev/null || true)"
        if [[ -n "$dir" && -x "$dir/initdb" && -x "$dir/pg_ctl" && -x "$dir/postgres" ]]; then
            echo "$dir"
            return 0
        fi
    fi
    # pg_config may be missing (it comes with libpq-dev) while the server is installed.
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r) /usr/local/pgsql/bin; do
        if [[ -x "$dir/initdb" && -x "$dir/pg_ctl" && -x "$dir/postgres" ]]; then
            echo "$dir"
            return 0
        fi
    done
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(command -v initdb)"
        return 0
    fi
    return 1
}

BINDIR="$(find_bindir || true)"
if [[ -z "$BINDIR" ]]; then
    if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        log "no PostgreSQL server binaries found (initdb, pg_ctl, postgres); installing the Debian package postgresql"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >&2
        apt-get install -y -qq postgresql >&2
        BINDIR="$(find_bindir || true)"
    fi
fi
if [[ -z "$BINDIR" ]]; then
    die "no PostgreSQL server binaries found: initdb, pg_ctl and postgres are missing (looked at \`pg_config --bindir\`, /usr/lib/postgresql/*/bin and PATH); install the PostgreSQL server (Debian: apt-get install postgresql) and retry"
fi
for tool in psql createdb; do
    [[ -x "$BINDIR/$tool" ]] || die "$BINDIR/$tool is missing: install the PostgreSQL client tools (Debian: apt-get install postgresql-client)"
done

# MARK: Who runs the server

AS_PG=()
SERVER_USER="$(id -un)"
if [[ "$(id -u)" -eq 0 ]]; then
    id postgres >/dev/null 2>&1 || die "running as root, but there is no \`postgres\` system user to run initdb and postgres as (initdb refuses root); create one (useradd --system postgres) or run as a normal user"
    SERVER_USER=postgres
    if command -v runuser >/dev/null 2>&1; then
        AS_PG=(runuser -u postgres --)
    elif command -v su >/dev/null 2>&1; then
        as_pg_su() {
            local quoted
            quoted="$(printf '%q ' "$@")"
            su postgres -s /bin/sh -c "$quoted"
        }
        AS_PG=(as_pg_su)
    else
        die "running as root, but neither runuser nor su is available to run the server as the postgres user"
    fi
fi
# From the cluster's folder: the postgres user may not be allowed into the caller's directory.
as_pg() { (cd "$WORKDIR" && "${AS_PG[@]}" "$@"); }

# MARK: A free port

free_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()' 2>/dev/null && return 0
    fi
    local port
    for port in $(seq 54320 54420); do
        # Nothing answers: the port is free (bash's /dev/tcp connect fails).
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    return 1
}

# MARK: The cluster

# As root, under /tmp: the postgres user must be able to reach the folder (a TMPDIR may be private).
if [[ "$SERVER_USER" == postgres && "$(id -un)" != postgres ]]; then
    WORKDIR="$(mktemp -d /tmp/with-postgres.XXXXXX)"
else
    WORKDIR="$(mktemp -d "${TMPDIR:-/tmp}/with-postgres.XXXXXX")"
fi
DATADIR="$WORKDIR/data"
LOGFILE="$WORKDIR/server.log"
STARTED=0

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    if [[ "$STARTED" -eq 1 ]]; then
        as_pg "$BINDIR/pg_ctl" -D "$DATADIR" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$WORKDIR"
    exit "$status"
}
CHILD=""
# A signal stops the command too, waits for it, then exits through cleanup.
on_signal() {
    local status=$1 signal=$2
    if [[ -n "$CHILD" ]]; then
        kill "-$signal" "$CHILD" 2>/dev/null || true
        wait "$CHILD" 2>/dev/null || true
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'on_signal 130 INT' INT
trap 'on_signal 143 TERM' TERM

if [[ "$SERVER_USER" == postgres && "$(id -un)" != postgres ]]; then
    chown postgres: "$WORKDIR"
fi
chmod 700 "$WORKDIR"

SUPERUSER=dbconn
DATABASE=dbconn_test
PASSWORD_USER=dbconn_pw
PASSWORD="pw-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"

as_pg "$BINDIR/initdb" -D "$DATADIR" -U "$SUPERUSER" --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$WORKDIR/initdb.log" 2>&1 \
    || as_pg "$BINDIR/initdb" -D "$DATADIR" -U "$SUPERUSER" --auth=trust --encoding=UTF8 --locale=C >"$WORKDIR/initdb.log" 2>&1 \
    || {
        cat "$WORKDIR/initdb.log" >&2
        die "initdb failed (log above)"
    }

# Password authentication for one role over TCP; trust for everything else.
as_pg tee "$DATADIR/pg_hba.conf" >/dev/null <<EOF
# TYPE  DATABASE  USER              ADDRESS        METHOD
local   all       all                              trust
host    all       $PASSWORD_USER    127.0.0.1/32   scram-sha-256
host    all       all               127.0.0.1/32   trust
host    all       all               ::1/128        trust
EOF

# TLS: a CA and a server certificate for 127.0.0.1 and localhost.
TLS=0
if command -v openssl >/dev/null 2>&1; then
    (
        cd "$WORKDIR"
        openssl req -x509 -new -nodes -newkey rsa:2048 -days 2 -subj "/CN=dbconn test CA" \
            -keyout ca.key -out ca.crt >/dev/null 2>&1
        openssl req -new -nodes -newkey rsa:2048 -subj "/CN=localhost" -keyout server.key -out server.csr >/dev/null 2>&1
        printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' >server.ext
        openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile server.ext \
            -out server.crt >/dev/null 2>&1
    ) && TLS=1 || log "openssl could not make certificates; the server runs without TLS"
    if [[ "$TLS" -eq 1 ]]; then
        cp "$WORKDIR/server.crt" "$WORKDIR/server.key" "$DATADIR/"
        chmod 600 "$DATADIR/server.key"
        [[ "$SERVER_USER" == postgres ]] && chown postgres: "$DATADIR/server.crt" "$DATADIR/server.key"
        chmod 644 "$WORKDIR/ca.crt"
    fi
else
    log "openssl not found; the server runs without TLS (DBCONN_PG_CA_FILE is not set)"
fi

start_server() {
    local port=$1
    as_pg tee -a "$DATADIR/postgresql.conf" >/dev/null <<EOF

# with-postgres.sh
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$WORKDIR'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
ssl = $([[ "$TLS" -eq 1 ]] && echo on || echo off)
ssl_cert_file = 'server.crt'
ssl_key_file = 'server.key'
EOF
    as_pg "$BINDIR/pg_ctl" -D "$DATADIR" -l "$LOGFILE" -w -t 60 start >/dev/null
}

PORT=""
for attempt in 1 2 3 4 5; do
    PORT="$(free_port)" || die "no free TCP port found on 127.0.0.1"
    if start_server "$PORT"; then
        STARTED=1
        break
    fi
    log "the server did not start on port $PORT (attempt $attempt); log:"
    cat "$LOGFILE" >&2 || true
done
[[ "$STARTED" -eq 1 ]] || die "the PostgreSQL server did not start"

PSQL=(as_pg "$BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$WORKDIR" -p "$PORT" -U "$SUPERUSER")
"${PSQL[@]}" -d postgres -c "CREATE DATABASE $DATABASE" >/dev/null
"${PSQL[@]}" -d postgres -c "CREATE ROLE $PASSWORD_USER LOGIN PASSWORD '$PASSWORD'" >/dev/null
"${PSQL[@]}" -d "$DATABASE" -c "GRANT ALL ON SCHEMA public TO $PASSWORD_USER" >/dev/null

export DATABASE_URL="postgres://$SUPERUSER@127.0.0.1:$PORT/$DATABASE"
export DBCONN_PG_PASSWORD_URL="postgres://$PASSWORD_USER:$PASSWORD@127.0.0.1:$PORT/$DATABASE"
export DBCONN_PG_SOCKET_DIR="$WORKDIR"
if [[ "$TLS" -eq 1 ]]; then
    export DBCONN_PG_CA_FILE="$WORKDIR/ca.crt"
fi
# pg_ctl for this cluster, as a shell command to which an action is appended, for tests that stop,
# start or restart the server: bash -c "$DBCONN_PG_CTL restart -m fast".
DBCONN_PG_CTL="cd $(printf '%q' "$WORKDIR") && $(printf '%q ' "${AS_PG[@]}" "$BINDIR/pg_ctl" -D "$DATADIR" -l "$LOGFILE" -w -t 60)"
export DBCONN_PG_CTL
export PGHOST=127.0.0.1 PGPORT="$PORT" PGUSER="$SUPERUSER" PGDATABASE="$DATABASE"
export PATH="$PATH:$BINDIR"

log "PostgreSQL $("$BINDIR/postgres" --version | awk '{print $3}') on 127.0.0.1:$PORT (data in $WORKDIR); DATABASE_URL=$DATABASE_URL"

# In the background (stdin kept) so that a signal reaches the traps at once, not after the command ends.
"$@" <&0 &
CHILD=$!
status=0
wait "$CHILD" || status=$?
CHILD=""
exit "$status"
