#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests and CI: initdb into a fresh temporary directory, start it
# on a loopback port, print the URL. Debian's `postgresql` package provides the binaries.
#   scripts/pg-throwaway.sh start [port]   -> prints postgres://gatehouse@127.0.0.1:<port>/gatehouse
#   scripts/pg-throwaway.sh stop <dir>     -> stops the cluster started in <dir> and deletes it
# The directory is printed on stderr and written to $PG_THROWAWAY_STATE (default /tmp/gatehouse-pg.state)
# as "dir port" so that `stop` can be called without arguments.
# PostgreSQL refuses to run as root; as root the cluster belongs to a dedicated OS user
# (gatehouse-pg, created on first use) and runs through runuser.
set -euo pipefail

STATE="${PG_THROWAWAY_STATE:-/tmp/gatehouse-pg.state}"
PG_USER=gatehouse-pg

pg_bin() {
  local dir
  dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  if [ -z "$dir" ] || [ ! -x "$dir/initdb" ]; then
    echo "error: PostgreSQL binaries not found under /usr/lib/postgresql/*/bin (apt-get install -y postgresql)" >&2
    exit 1
  fi
  echo "$dir"
}

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u "$PG_USER" -- "$@"; else "$@"; fi
}

free_port() {
  node -e 'const s = require("net").createServer(); s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })'
}

start() {
  local bin port dir
  bin="$(pg_bin)"
  port="${1:-$(free_port)}"
  if [ "$(id -u)" -eq 0 ] && ! id "$PG_USER" >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin "$PG_USER"
  fi
  dir="$(mktemp -d /tmp/gatehouse-pg.XXXXXX)"
  chmod 700 "$dir"
  [ "$(id -u)" -eq 0 ] && chown "$PG_USER" "$dir"
  # trust on loopback only: a throwaway cluster for tests, listening on 127.0.0.1 and a private socket dir.
  as_owner "$bin/initdb" -D "$dir/data" -U gatehouse --auth=trust --encoding=UTF8 --no-sync >"$dir/initdb.log" 2>&1 || {
    cat "$dir/initdb.log" >&2
    exit 1
  }
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" start >/dev/null || {
    cat "$dir/server.log" >&2
    exit 1
  }
  as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U gatehouse gatehouse
  echo "$dir $port" >"$STATE"
  echo "cluster in $dir" >&2
  echo "postgres://gatehouse@127.0.0.1:$port/gatehouse"
}

stop() {
  local dir="${1:-}"
  if [ -z "$dir" ] && [ -f "$STATE" ]; then dir="$(cut -d' ' -f1 "$STATE")"; fi
  [ -n "$dir" ] && [ -d "$dir/data" ] || { echo "no throwaway cluster to stop" >&2; return 0; }
  as_owner "$(pg_bin)/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null || true
  rm -rf "$dir"
  [ -f "$STATE" ] && grep -q "^$dir " "$STATE" && rm -f "$STATE"
  return 0
}

case "${1:-}" in
  start) shift; start "$@" ;;
  stop) shift; stop "$@" ;;
  *) echo "usage: $0 start [port] | stop [dir]" >&2; exit 2 ;;
esac
