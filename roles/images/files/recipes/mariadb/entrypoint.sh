#!/usr/bin/env bash
set -euo pipefail

log() { echo "entrypoint: $*" >&2; }
die() { log "error: $*"; exit 1; }

datadir=/var/lib/mysql
socket=/run/mysqld/mysqld.sock

sql_escape() { printf '%s' "$1" | sed -e "s/\\\\/\\\\\\\\/g" -e "s/'/\\\\'/g"; }
ident_ok() { [[ $1 =~ ^[A-Za-z0-9_$-]{1,64}$ ]]; }

initialise() {
  local root_pw=${MARIADB_ROOT_PASSWORD:-}
  if [ -z "$root_pw" ]; then
    if [ "${MARIADB_RANDOM_ROOT_PASSWORD:-}" = "yes" ] || [ "${MARIADB_RANDOM_ROOT_PASSWORD:-}" = "1" ]; then
      root_pw=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
      log "GENERATED ROOT PASSWORD: $root_pw"
    elif [ "${MARIADB_ALLOW_EMPTY_ROOT_PASSWORD:-}" != "yes" ] && [ "${MARIADB_ALLOW_EMPTY_ROOT_PASSWORD:-}" != "1" ]; then
      die "the database is uninitialised: set MARIADB_ROOT_PASSWORD (or MARIADB_RANDOM_ROOT_PASSWORD=yes, or MARIADB_ALLOW_EMPTY_ROOT_PASSWORD=yes)"
    fi
  fi
  if [ -n "${MARIADB_DATABASE:-}" ] && ! ident_ok "$MARIADB_DATABASE"; then
    die "MARIADB_DATABASE must be 1-64 characters of letters, digits, _ \$ or -"
  fi
  if [ -n "${MARIADB_USER:-}" ]; then
    ident_ok "$MARIADB_USER" || die "MARIADB_USER must be 1-64 characters of letters, digits, _ \$ or -"
    [ -n "${MARIADB_PASSWORD:-}" ] || die "MARIADB_USER is set: set MARIADB_PASSWORD too"
  fi

  local health_pw
  health_pw=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')

  log "initialising $datadir"
  touch /run/mysqld/initialising
  mariadb-install-db --user=mysql --datadir="$datadir" --skip-test-db --auth-root-authentication-method=normal >/dev/null
  mariadbd --user=mysql --datadir="$datadir" --skip-networking --socket="$socket" &
  local pid=$!
  for _ in $(seq 60); do
    mariadb-admin --no-defaults --socket="$socket" ping --silent 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || die "the temporary server stopped during initialisation"
    sleep 1
  done
  mariadb-admin --no-defaults --socket="$socket" ping --silent || die "the temporary server did not answer in 60 s"

  {
    echo "DELETE FROM mysql.global_priv WHERE User='' OR (User='root' AND Host NOT IN ('localhost'));"
    echo "DELETE FROM mysql.proxies_priv WHERE Host NOT IN ('localhost');"
    echo "CREATE USER 'root'@'%' IDENTIFIED BY '$(sql_escape "$root_pw")';"
    echo "GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;"
    echo "ALTER USER 'root'@'localhost' IDENTIFIED BY '$(sql_escape "$root_pw")';"
    if [ -n "${MARIADB_DATABASE:-}" ]; then
      echo "CREATE DATABASE IF NOT EXISTS \`$MARIADB_DATABASE\`;"
    fi
    if [ -n "${MARIADB_USER:-}" ]; then
      echo "CREATE USER '$MARIADB_USER'@'%' IDENTIFIED BY '$(sql_escape "$MARIADB_PASSWORD")';"
      if [ -n "${MARIADB_DATABASE:-}" ]; then
        echo "GRANT ALL ON \`$MARIADB_DATABASE\`.* TO '$MARIADB_USER'@'%';"
      fi
    fi
    # A user with no privileges at all, for the health check only.
    echo "CREATE USER 'healthcheck'@'localhost' IDENTIFIED BY '$health_pw';"
    echo "FLUSH PRIVILEGES;"
  } | mariadb --no-defaults --socket="$socket" -uroot

  local f
  for f in /docker-entrypoint-initdb.d/*.sql; do
    [ -e "$f" ] || continue
    log "running $f"
    mariadb --no-defaults --socket="$socket" -uroot -p"$root_pw" ${MARIADB_DATABASE:+"$MARIADB_DATABASE"} <"$f"
  done

  printf '[client]\nuser=healthcheck\npassword=%s\nsocket=%s\n' "$health_pw" "$socket" >"$datadir/.healthcheck.cnf"
  chown mysql:mysql "$datadir/.healthcheck.cnf"
  chmod 0600 "$datadir/.healthcheck.cnf"

  mariadb-admin --no-defaults --socket="$socket" -uroot -p"$root_pw" shutdown
  wait "$pid" || true
  rm -f /run/mysqld/initialising
  log "initialised"
}

if [ "${1:-}" = "mariadbd" ] || [ "${1:-}" = "mysqld" ] || [ "${1#-}" != "${1:-}" ]; then
  [ "${1#-}" != "${1:-}" ] && set -- mariadbd "$@"
  mkdir -p /run/mysqld
  chown mysql:mysql /run/mysqld "$datadir"
  if [ ! -d "$datadir/mysql" ]; then
    initialise
  fi
  exec "$@" --user=mysql --datadir="$datadir"
fi
exec "$@"
