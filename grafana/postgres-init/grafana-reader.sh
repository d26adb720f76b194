#!/usr/bin/env bash
# A read-only role for Grafana on the ledger's database. PostgreSQL's image runs this once, when it creates its data
# directory (/docker-entrypoint-initdb.d), before any processor has migrated the schema: default privileges give the
# role SELECT on the tables $POSTGRES_USER creates later, and the grant on existing tables covers a database that
# already has them (an operator can run this script by hand, with PGHOST and friends set). Grafana runs whatever SQL
# a dashboard editor types, so the role can read and nothing else: no write grants, read-only transactions, and a
# statement timeout so that a heavy panel cannot hold the ledger's connections.
set -euo pipefail
: "${POSTGRES_USER:?the role that owns the ledger tables, the user of the processors LEDGER_URL}"
: "${POSTGRES_DB:?the ledger database}"
: "${LEDGER_READER_PASSWORD:?the password Grafana signs in with}"
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v reader_password="$LEDGER_READER_PASSWORD" -v owner="$POSTGRES_USER" <<'SQL'
SELECT NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'grafana_reader') AS create_reader \gset
\if :create_reader
  CREATE ROLE grafana_reader LOGIN PASSWORD :'reader_password';
\else
  ALTER ROLE grafana_reader LOGIN PASSWORD :'reader_password';
\endif
ALTER ROLE grafana_reader SET default_transaction_read_only = on;
ALTER ROLE grafana_reader SET statement_timeout = '30s';
GRANT CONNECT ON DATABASE :"DBNAME" TO grafana_reader;
GRANT USAGE ON SCHEMA public TO grafana_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO grafana_reader;
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public GRANT SELECT ON TABLES TO grafana_reader;
SQL
