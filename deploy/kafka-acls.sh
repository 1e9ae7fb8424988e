#!/usr/bin/env bash
# Production ACLs for cityops on Apache Kafka (docs/security.md, "Secure mode"): run once per
# cluster with an admin's client config. Departments may write city.events and read only their
# own city.tasks.<dept> (with their own consumer group); internal topics, city.incidents and
# city.events.rejected belong to the platform. The embedded Tansu broker does not enforce ACLs.
#
#   BOOTSTRAP=kafka:9093 ADMIN_CONFIG=admin.properties deploy/kafka-acls.sh [--dry-run]
#
# ADMIN_CONFIG is a kafka-acls --command-config file (security.protocol=SASL_SSL, the admin's
# sasl.jaas.config, ssl.truststore.*). PLATFORM_USER (default: platform) is the platform's
# principal; TOPIC_PREFIX (default: empty) matches CITYOPS_TOPIC_PREFIX. DEPARTMENTS (default: the
# registry's department codes, read with cityops) lists the department principals, space separated,
# for a host without cityops (deploy/compose/kafka/setup.sh passes deploy/compose/kafka/departments).
set -euo pipefail
cd "$(dirname "$0")/.."

: "${BOOTSTRAP:?set BOOTSTRAP=host:port of the cluster}"
: "${ADMIN_CONFIG:?set ADMIN_CONFIG=path of an admin client config}"
platform="${PLATFORM_USER:-platform}"
prefix="${TOPIC_PREFIX:-}"
kafka_acls="${KAFKA_ACLS:-kafka-acls.sh}"
python="${PYTHON:-.venv/bin/python}"

run() {
  if [ "${DRY_RUN:-}" = 1 ]; then
    echo "$kafka_acls --bootstrap-server $BOOTSTRAP --command-config $ADMIN_CONFIG $*"
  else
    "$kafka_acls" --bootstrap-server "$BOOTSTRAP" --command-config "$ADMIN_CONFIG" "$@"
  fi
}
[ "${1:-}" = "--dry-run" ] && export DRY_RUN=1

# The platform: every topic and group of cityops (city.*, internal cityops.* and Faust's
# cityops-engine-* changelogs), creating topics, idempotent and transactional writes.
run --add --allow-principal "User:$platform" --operation All \
  --topic "${prefix}city." --resource-pattern-type prefixed
run --add --allow-principal "User:$platform" --operation All \
  --topic "${prefix}cityops" --resource-pattern-type prefixed
run --add --allow-principal "User:$platform" --operation All \
  --group "${prefix}cityops" --resource-pattern-type prefixed
run --add --allow-principal "User:$platform" --operation Create --operation Describe \
  --operation IdempotentWrite --cluster

# Each department of the registry: write city.events, read its own task queue with its group.
departments="${DEPARTMENTS:-$("$python" -m cityops.deploy.cli registry export --kind departments |
  "$python" -c 'import json,sys; print(" ".join(json.loads(l)["code"] for l in sys.stdin))')}"
for dept in $departments; do
  run --add --allow-principal "User:$dept" --operation Write --operation Describe \
    --topic "${prefix}city.events"
  run --add --allow-principal "User:$dept" --operation Read --operation Describe \
    --topic "${prefix}city.tasks.$dept"
  run --add --allow-principal "User:$dept" --operation Read \
    --group "${prefix}cityops-dept-$dept"
  # The SDK's producer is idempotent (enable_idempotence): brokers before 3.0 need this.
  run --add --allow-principal "User:$dept" --operation IdempotentWrite --cluster
done
