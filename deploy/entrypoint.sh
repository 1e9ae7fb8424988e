#!/bin/sh
# The cityops image's entrypoint: settings that have no *_FILE form of their own (the session key,
# the kiosk token, the reporter-hash key) may come from secret files: each readable file
# /run/secrets/cityops_<setting> becomes CITYOPS_<SETTING> (e.g. cityops_secret_key ->
# CITYOPS_SECRET_KEY) before the command runs. Passwords of Kafka and ClickHouse stay in their
# files (CITYOPS_KAFKA_PASSWORD_FILE, CITYOPS_CLICKHOUSE_PASSWORD_FILE).
set -eu
for file in /run/secrets/cityops_*; do
  [ -r "$file" ] || continue
  name=$(basename "$file" | tr '[:lower:]' '[:upper:]')
  value=$(cat "$file")
  export "$name=$value"
done
exec "$@"
