#!/usr/bin/env bash
# Makes every secret file the compose cluster reads, under ./secrets (mode 0600, folder 0700):
# a private CA, the brokers', ClickHouse's and the proxy's certificates, the brokers' admin client
# certificate, random passwords for `platform`, each department and ClickHouse. Existing files are
# kept (delete one to have it made again). Needs openssl. For a public name on the proxy, pass
# PROXY_NAME=ops.example.gov.cn (or put your CA-signed proxy.pem / proxy.key in place first); the
# name departments reach the brokers by is KAFKA_PUBLIC_HOST (the same as in compose's environment).
set -euo pipefail
cd "$(dirname "$0")"
umask 077
mkdir -p secrets
cd secrets
proxy_name="${PROXY_NAME:-localhost}"

password() { [ -s "$1" ] || openssl rand -base64 33 | tr -d '/+=\n' | head -c 40 >"$1"; }

cert() { # name, subject CN, subjectAltName
  local name="$1" cn="$2" san="$3"
  [ -s "$name.key" ] && [ -s "$name.pem" ] && return
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$name.key"
  openssl req -new -key "$name.key" -subj "/CN=$cn" -out "$name.csr"
  printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$san" >"$name.ext"
  openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 825 \
    -extfile "$name.ext" -out "$name.pem"
  rm -f "$name.csr" "$name.ext"
}

if [ ! -s ca.pem ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -subj "/CN=cityops-private-ca" -keyout ca.key -out ca.pem
fi
cert kafka-broker cityops-kafka-broker \
  "DNS:kafka-1,DNS:kafka-2,DNS:kafka-3,DNS:localhost,DNS:${KAFKA_PUBLIC_HOST:-kafka.example.gov.cn}"
cert kafka-admin cityops-kafka-admin "DNS:kafka-admin"
cert clickhouse clickhouse "DNS:clickhouse,DNS:ch-s1-r1,DNS:ch-s1-r2,DNS:ch-s2-r1,DNS:ch-s2-r2"
cert proxy "$proxy_name" "DNS:$proxy_name"
# Kafka reads a PEM key store as the private key (PKCS#8, unencrypted) and its certificate chain.
[ -s kafka_broker.pem ] || cat kafka-broker.key kafka-broker.pem ca.pem >kafka_broker.pem
[ -s kafka_admin.pem ] || cat kafka-admin.key kafka-admin.pem ca.pem >kafka_admin.pem

password clickhouse_password
password clickhouse_cluster_secret
password cityops_secret_key
password kafka_platform_password
if [ ! -s kafka_users ]; then
  {
    echo "# user password (SCRAM-SHA-512); give each department its own line's password"
    echo "platform $(cat kafka_platform_password)"
    while read -r dept; do
      echo "$dept $(openssl rand -base64 33 | tr -d '/+=\n' | head -c 40)"
    done <../kafka/departments
  } >kafka_users
fi
# The containers run as other users than the one running this script: readable, not writable.
chmod 0644 -- *.pem kafka_users clickhouse_password clickhouse_cluster_secret cityops_secret_key \
  kafka_platform_password clickhouse.key proxy.key
chmod 0600 ca.key
echo "secrets in $(pwd)"
