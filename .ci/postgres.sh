#!/usr/bin/env bash
# A throwaway PostgreSQL server on 127.0.0.1 for the test suite.
#
#   eval "$(bash .ci/postgres.sh start)"     # exports LAYERLAB_TEST_POSTGRES_URL and LAYERLAB_PG_DIR
#   bash .ci/postgres.sh stop "$LAYERLAB_PG_DIR"
#
# `start` installs PostgreSQL from the Debian packages (apt-get install -y postgresql; a no-op when
# it is installed already), initialises a cluster in a fresh temporary directory, starts it on a free
# port bound to 127.0.0.1 only, and creates the database `layerlab_test`. The server refuses to run
# as root, so as root it runs as the `postgres` system user (created when missing). Only the export
# lines go to stdout; everything else goes to stderr. Any failure exits non-zero: CI must not quietly
# skip the PostgreSQL tests.
set -euo pipefail

log() { echo "postgres.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

server_bindir() {
  # the highest installed major version wins (sort -V: 9.6 < 13 < 15 < 16)
  local dir best=""
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V); do
    [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && best="$dir"
  done
  if [ -z "$best" ] && command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    best="$(dirname "$(command -v initdb)")"
  fi
  echo "$best"
}

install_postgres() {
  if ! command -v apt-get >/dev/null 2>&1; then
    [ -n "$(server_bindir)" ] && { log "apt-get not available; using the PostgreSQL already installed"; return; }
    die "PostgreSQL is not installed and apt-get is not available to install it"
  fi
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if sudo -n true 2>/dev/null; then
      sudo="sudo -n"
    elif [ -n "$(server_bindir)" ]; then
      log "not root and no sudo; using the PostgreSQL already installed"
      return
    else
      die "PostgreSQL is not installed and installing it needs root (apt-get install -y postgresql)"
    fi
  fi
  local apt=(env DEBIAN_FRONTEND=noninteractive apt-get -y -q -o DPkg::Lock::Timeout=600)
  log "apt-get install -y postgresql"
  if ! $sudo "${apt[@]}" install postgresql >&2; then
    log "install failed; refreshing the package lists and retrying"
    $sudo "${apt[@]}" update >&2 || true
    $sudo "${apt[@]}" install postgresql >&2 || die "apt-get install -y postgresql failed"
  fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Run a server binary as the cluster's owner: ourselves, or `postgres` when we are root.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    (cd / && runuser -u postgres -- "$@")  # from /: postgres may not enter the caller's directory
  else
    "$@"
  fi
}

start() {
  install_postgres
  local bin
  bin="$(server_bindir)"
  [ -n "$bin" ] || die "no PostgreSQL server binaries (initdb, pg_ctl) found after installing"
  if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
    useradd --system --home-dir /var/lib/postgresql --shell /bin/sh postgres
  fi
  local dir port
  dir="$(mktemp -d "${TMPDIR:-/tmp}/layerlab-pg.XXXXXX")"
  chmod 755 "$dir"
  [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
  port="$(free_port)"
  log "initdb in $dir ($bin)"
  if ! as_owner "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1; then
    cat "$dir/initdb.log" >&2
    rm -rf "$dir"
    die "initdb failed"
  fi
  log "starting on 127.0.0.1:$port"
  if ! as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$dir -c fsync=off -c max_connections=200" \
      start >&2; then
    tail -n 30 "$dir/server.log" >&2 || true
    rm -rf "$dir"
    die "pg_ctl start failed"
  fi
  if ! "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres layerlab_test >&2; then
    stop "$dir"
    die "createdb failed"
  fi
  echo "export LAYERLAB_PG_DIR=$dir"
  echo "export LAYERLAB_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:$port/layerlab_test"
}

stop() {
  local dir="${1:-}"
  [ -n "$dir" ] && [ -d "$dir" ] || { log "stop: no cluster directory given (or already removed)"; return 0; }
  local bin
  bin="$(server_bindir)"
  if [ -f "$dir/data/postmaster.pid" ] && [ -n "$bin" ]; then
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >&2 || log "pg_ctl stop failed"
  fi
  rm -rf "$dir"
  log "stopped and removed $dir"
}

case "${1:-}" in
  start) start ;;
  stop) stop "${2:-}" ;;
  *) echo "usage: $0 start | stop DIR" >&2; exit 2 ;;
esac
