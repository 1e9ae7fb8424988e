"""A ClickHouse URL can name the other nodes of a cluster (`?alt_hosts=`), which clients fail
over to (CONTRACT §9)."""

from __future__ import annotations

import pytest

from cityops.clickhouse_target import ClickHouseTarget


def test_alt_hosts_survive_the_url_round_trip_with_a_ca_file():
    url = "clickhouse://u:p@127.0.0.1:9000/city?ca_file=/x/ca.pem&alt_hosts=10.0.0.2:9000,h3:9001"
    target = ClickHouseTarget.from_url(url)
    assert target.alt_hosts == ("10.0.0.2:9000", "h3:9001")
    assert target.ca_file == "/x/ca.pem"
    assert ClickHouseTarget.from_url(target.url()) == target


def test_without_alt_hosts_the_url_is_as_before():
    assert (
        ClickHouseTarget.from_url("clickhouse://h:9000/db").url()
        == "clickhouse://default@h:9000/db"
    )


@pytest.mark.parametrize("bad", ["h", "h:", ":9000", "h:port", "h:0", "h:70000"])
def test_an_alt_host_without_a_port_is_refused(bad):
    with pytest.raises(ValueError, match="alt_hosts"):
        ClickHouseTarget.from_url(f"clickhouse://h:9000/db?alt_hosts={bad}")


def test_the_client_gets_the_alt_hosts():
    from cityops.storage.client import connect

    target = ClickHouseTarget(port=9000, alt_hosts=("127.0.0.1:9001", "127.0.0.1:9002"))
    client = connect(target)
    assert [tuple(h) for h in client.connection.hosts] == [
        ("127.0.0.1", 9000),
        ("127.0.0.1", 9001),
        ("127.0.0.1", 9002),
    ]
