"""Settings → client options (CONTRACT §8): one KafkaConnection gives kafka-python, aiokafka and
Faust the same SASL/TLS choice; ClickHouse URLs carry user, password and TLS."""

from __future__ import annotations

import ssl

import pytest

from cityops.settings import KafkaConnection, Settings, kafka_connection
from cityops.storage.client import ClickHouseTarget

SECURE = KafkaConnection("b1:9093,b2:9093", "SASL_SSL", "SCRAM-SHA-256", "water", "pw", None)


@pytest.mark.parametrize(
    "kafka, sasl, tls",
    [
        (KafkaConnection("h:9092"), False, False),
        (KafkaConnection("h:9092", "SSL"), False, True),
        (KafkaConnection("h:9092", "SASL_PLAINTEXT", "PLAIN", "u", "p"), True, False),
        (SECURE, True, True),
    ],
)
def test_every_client_library_gets_the_same_choice(kafka, sasl, tls):
    python, aio, faust = kafka.kafka_python(), kafka.aiokafka(), kafka.faust()
    assert python["security_protocol"] == aio["security_protocol"] == kafka.security_protocol
    assert ("sasl_plain_password" in python) is sasl
    assert ("sasl_plain_password" in aio) is sasl
    assert isinstance(python.get("ssl_context"), ssl.SSLContext) is tls
    assert isinstance(aio["ssl_context"], ssl.SSLContext) is tls
    credentials = faust["broker_credentials"]
    assert (credentials is None) is (not sasl and not tls)
    if sasl:
        assert credentials.username == kafka.username
        assert credentials.mechanism.value == kafka.sasl_mechanism


def test_tls_context_checks_the_broker_certificate_and_name():
    context = SECURE.ssl_context()
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname


def test_bootstrap_list_and_faust_urls():
    assert SECURE.kafka_python()["bootstrap_servers"] == ["b1:9093", "b2:9093"]
    assert SECURE.faust()["broker"] == "kafka://b1:9093;kafka://b2:9093"


def test_password_never_in_repr():
    assert "'pw'" not in repr(SECURE)
    assert "secret" not in repr(ClickHouseTarget(password="secret"))


def test_a_bare_address_is_plaintext():
    assert kafka_connection("h:9092") == KafkaConnection("h:9092")
    assert kafka_connection(SECURE) is SECURE


def test_settings_read_the_password_from_its_file(tmp_path):
    secret = tmp_path / "kafka.password"
    secret.write_text("from-file\n")
    settings = Settings(
        kafka_bootstrap="h:9093",
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_username="platform",
        kafka_password_file=secret,
    )
    assert settings.kafka.password == "from-file"
    assert settings.kafka.username == "platform"


@pytest.mark.parametrize(
    "url, expected",
    [
        ("clickhouse://u:p@h:9000/db", ("u", "p", 9000, False)),
        ("clickhouses://u:p@h/db", ("u", "p", 9440, True)),
        ("clickhouse://u:p@h:9440/db?secure=true", ("u", "p", 9440, True)),
        ("clickhouse://h/db", ("default", "", 9000, False)),
        ("clickhouse://u:p%40ss%3Aw@h:9000/db", ("u", "p@ss:w", 9000, False)),
    ],
)
def test_clickhouse_url_carries_user_password_and_tls(url, expected):
    target = ClickHouseTarget.from_url(url)
    assert (target.user, target.password, target.port, target.secure) == expected
    assert ClickHouseTarget.from_url(target.url()) == target


def test_clickhouse_password_from_file_and_ca(tmp_path):
    secret = tmp_path / "ch.password"
    secret.write_text("s3cret")
    settings = Settings(
        clickhouse_url="clickhouses://cityops@h:9440/cityops",
        clickhouse_password_file=secret,
        clickhouse_ca_file=tmp_path / "ca.pem",
    )
    target = settings.clickhouse
    assert (target.user, target.password, target.secure) == ("cityops", "s3cret", True)
    assert target.ca_file == str(tmp_path / "ca.pem")
    assert "s3cret" not in target.redacted_url()
