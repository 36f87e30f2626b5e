#!/usr/bin/env bash
# Prepares the database servers the tests use, idempotently:
#   PostgreSQL 15 with wal_level=logical, MariaDB with the binlog in ROW format,
#   and a `dozer` login (password `dozer`) on each with replication rights;
#   and Chromium (Debian's), which the browser tests drive.
# On a fresh Debian machine it installs the servers with apt-get first.
# Safe to run again and again: it restarts a server only when a setting changes.
set -euo pipefail

log() { printf '[services] %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

wait_for() { # wait_for <what> <command...>
  local what=$1; shift
  for _ in $(seq 1 60); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  log "$what did not come up within 60 s"; return 1
}

# ---------------------------------------------------------------- PostgreSQL
if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  log "installing PostgreSQL (apt-get)"
  apt_install postgresql postgresql-client
fi
PG_VERSION=$(ls /etc/postgresql | sort -V | tail -n 1)
pg_running() { runuser -u postgres -- psql -Atqc 'select 1' >/dev/null 2>&1; }
if ! pg_running; then
  log "starting PostgreSQL $PG_VERSION"
  as_root pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" main start || true
  wait_for PostgreSQL pg_running
fi
pg() { runuser -u postgres -- psql -v ON_ERROR_STOP=1 -Atq "$@"; }
if [ "$(pg -c 'show wal_level')" != logical ]; then
  log "PostgreSQL: setting wal_level=logical (restart)"
  pg -c "ALTER SYSTEM SET wal_level = logical"
  pg -c "ALTER SYSTEM SET max_replication_slots = 20"
  pg -c "ALTER SYSTEM SET max_wal_senders = 20"
  as_root pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" main restart
  wait_for PostgreSQL pg_running
fi
pg -c "DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'dozer') THEN
    CREATE ROLE dozer LOGIN REPLICATION SUPERUSER PASSWORD 'dozer';
  END IF; END \$\$;"
pg -tc "SELECT 1 FROM pg_database WHERE datname = 'dozer'" | grep -q 1 || pg -c "CREATE DATABASE dozer OWNER dozer"
# Password logins over TCP on loopback (a fresh install allows only peer/scram for existing users).
HBA=$(pg -c 'show hba_file')
if ! grep -q '# dozer-ts' "$HBA"; then
  log "PostgreSQL: allowing password logins and replication on loopback"
  as_root sed -i "1i host all dozer 127.0.0.1/32 scram-sha-256 # dozer-ts\nhost replication dozer 127.0.0.1/32 scram-sha-256 # dozer-ts" "$HBA"
  pg -c 'select pg_reload_conf()' >/dev/null
fi
log "PostgreSQL $PG_VERSION ready: wal_level=$(pg -c 'show wal_level'), user dozer/dozer, database dozer"

# ------------------------------------------------------------------- MariaDB
if ! command -v mariadbd >/dev/null 2>&1 && [ ! -x /usr/sbin/mariadbd ]; then
  log "installing MariaDB (apt-get)"
  apt_install mariadb-server mariadb-client
fi
my() { mysql --protocol=socket -uroot -N -B "$@"; }
my_running() { my -e 'select 1' >/dev/null 2>&1; }
start_mariadb() {
  as_root mkdir -p /run/mysqld && as_root chown mysql:mysql /run/mysqld 2>/dev/null || true
  as_root start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
  wait_for MariaDB my_running
}
if ! my_running; then log "starting MariaDB"; start_mariadb; fi
if [ "$(my -e 'select @@log_bin')" != 1 ] || [ "$(my -e 'select @@binlog_format')" != ROW ]; then
  log "MariaDB: enabling the binlog in ROW format (restart)"
  if [ -d /etc/mysql/mariadb.conf.d ]; then
    CNF=/etc/mysql/mariadb.conf.d/99-dozer-ts.cnf
    printf '[mysqld]\n' | as_root tee "$CNF" >/dev/null
  else
    CNF=/etc/mysql/my.cnf
    printf '\n[mysqld] # dozer-ts\n' | as_root tee -a "$CNF" >/dev/null
  fi
  printf 'log_bin = mysql-bin\nbinlog_format = ROW\nbinlog_row_image = FULL\nserver_id = 1\n' | as_root tee -a "$CNF" >/dev/null
  as_root mysqladmin --protocol=socket -uroot shutdown
  for _ in $(seq 1 30); do pgrep -x mariadbd >/dev/null || break; sleep 1; done
  start_mariadb
fi
my -e "CREATE USER IF NOT EXISTS 'dozer'@'%' IDENTIFIED BY 'dozer';
  CREATE USER IF NOT EXISTS 'dozer'@'localhost' IDENTIFIED BY 'dozer';
  GRANT ALL PRIVILEGES ON *.* TO 'dozer'@'%' WITH GRANT OPTION;
  GRANT ALL PRIVILEGES ON *.* TO 'dozer'@'localhost' WITH GRANT OPTION;
  CREATE DATABASE IF NOT EXISTS dozer;"
log "MariaDB ready: log_bin=$(my -e 'select @@log_bin') binlog_format=$(my -e 'select @@binlog_format'), user dozer/dozer, database dozer"

# ------------------------------------------------------------------ Chromium
# The browser tests (*.browser.e2e.test.ts) drive Debian's Chromium with playwright-core;
# playwright's own browser download does not work here.
if ! command -v chromium >/dev/null 2>&1; then
  log "installing Chromium (apt-get)"
  apt_install chromium
fi
log "Chromium ready: $(chromium --version 2>/dev/null || echo 'version unknown')"
