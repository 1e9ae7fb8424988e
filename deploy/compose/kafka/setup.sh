#!/usr/bin/env bash
# One-shot setup of the compose cluster's Kafka (runs in the Kafka image as the `kafka-setup`
# service, again on every `docker compose up`: each step is idempotent).
#   1. SCRAM-SHA-512 credentials of `platform` and every department (secret file kafka_users:
#      one "user password" per line);
#   2. every topic of cityops (kafka/topics: partitions = CITYOPS_PARTITIONS, replication 3);
#   3. the ACLs of deploy/kafka-acls.sh, the departments from kafka/departments.
# It talks to the brokers' internal mTLS listener as the super user `CN=cityops-kafka-admin`.
set -euo pipefail

bin=/opt/kafka/bin
bootstrap="${BOOTSTRAP:-kafka-1:9091,kafka-2:9091,kafka-3:9091}"
admin=/etc/cityops-kafka/admin.properties

until "$bin/kafka-broker-api-versions.sh" --bootstrap-server "$bootstrap" \
  --command-config "$admin" >/dev/null 2>&1; do
  echo "kafka-setup: waiting for the brokers" >&2
  sleep 2
done

# 1. Users. A line "name password"; blank lines and # comments are skipped.
while read -r user password; do
  case "$user" in "" | \#*) continue ;; esac
  "$bin/kafka-configs.sh" --bootstrap-server "$bootstrap" --command-config "$admin" \
    --alter --entity-type users --entity-name "$user" \
    --add-config "SCRAM-SHA-512=[iterations=8192,password=$password]" >/dev/null
done < /run/secrets/kafka_users
echo "kafka-setup: SCRAM users set" >&2

# 2. Topics: create the missing ones; never change the partitions of an existing one here
#    (docs/deployment.md, "More partitions").
existing=$("$bin/kafka-topics.sh" --bootstrap-server "$bootstrap" --command-config "$admin" --list)
while read -r name partitions replicas configs; do
  case "$name" in "" | \#*) continue ;; esac
  if grep -qxF "$name" <<<"$existing"; then
    continue
  fi
  args=(--create --topic "$name" --partitions "$partitions" --replication-factor "$replicas")
  if [ "$configs" != "-" ]; then
    IFS=, read -r -a pairs <<<"$configs"
    for pair in "${pairs[@]}"; do args+=(--config "$pair"); done
  fi
  "$bin/kafka-topics.sh" --bootstrap-server "$bootstrap" --command-config "$admin" "${args[@]}"
done < /etc/cityops-kafka/topics

# 3. ACLs, the production script itself (kafka-acls.sh adds a rule only once).
BOOTSTRAP="$bootstrap" ADMIN_CONFIG="$admin" KAFKA_ACLS="$bin/kafka-acls.sh" \
  DEPARTMENTS="$(tr '\n' ' ' </etc/cityops-kafka/departments)" \
  /opt/cityops/deploy/kafka-acls.sh >/dev/null
echo "kafka-setup: topics and ACLs in place" >&2
