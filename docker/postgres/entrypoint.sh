#!/bin/sh
# First start: a cluster with a password-protected role and database (POSTGRES_USER,
# POSTGRES_PASSWORD, POSTGRES_DB as in the upstream image) and pg_trgm; then Postgres itself.
set -eu
BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
: "${POSTGRES_USER:=prefect}" "${POSTGRES_DB:=prefect}"
if [ -z "${POSTGRES_PASSWORD:-}" ]; then
  echo "POSTGRES_PASSWORD is not set; set it in the environment (compose: .env)" >&2
  exit 2
fi
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  pw=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" > "$pw"
  "$BIN/initdb" -D "$PGDATA" -U "$POSTGRES_USER" --auth=scram-sha-256 --pwfile="$pw" -E UTF8 --locale=C
  rm -f "$pw"
  echo "host all all 0.0.0.0/0 scram-sha-256" >> "$PGDATA/pg_hba.conf"
  "$BIN/pg_ctl" -D "$PGDATA" -o "-c listen_addresses='' -c unix_socket_directories=/tmp" -w start
  PGPASSWORD="$POSTGRES_PASSWORD" "$BIN/psql" -h /tmp -U "$POSTGRES_USER" -d postgres \
    -c "CREATE DATABASE \"$POSTGRES_DB\"" >/dev/null 2>&1 || true
  PGPASSWORD="$POSTGRES_PASSWORD" "$BIN/psql" -h /tmp -U "$POSTGRES_USER" -d "$POSTGRES_DB" \
    -c "CREATE EXTENSION IF NOT EXISTS pg_trgm"
  "$BIN/pg_ctl" -D "$PGDATA" -m fast -w stop
fi
exec "$BIN/postgres" -D "$PGDATA" -c listen_addresses='*' -c unix_socket_directories=/tmp -c max_connections=200
