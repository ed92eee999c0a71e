#!/bin/sh
# docker-compose's PostgreSQL runs this once, when its data volume is first created: the owner role
# (runs migrations, owns the audit log) and the runtime role the app runs as (apps/audit/roles.py).
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v owner_password="$VIGIL_OWNER_PASSWORD" -v app_password="$VIGIL_APP_PASSWORD" <<'SQL'
CREATE ROLE vigil_app LOGIN PASSWORD :'app_password';
CREATE ROLE vigil_owner LOGIN PASSWORD :'owner_password';
GRANT vigil_app TO vigil_owner;
ALTER DATABASE vigil OWNER TO vigil_owner;
SQL
