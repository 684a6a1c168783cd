#!/bin/sh
# The warehouse's own database beside Dagster's (TG_WAREHOUSE_DB), created once, when the
# postgres volume is new; the pipeline's migrations create its tables on the first write.
set -e
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -c "CREATE DATABASE \"${TG_WAREHOUSE_DB:-warehouse}\""
