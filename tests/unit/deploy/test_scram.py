"""The embedded broker front's SASL: a real client's SCRAM exchange (kafka-python's own client
code) against ScramServer, and every way a client can fail to prove who it is."""

from __future__ import annotations

import base64

import pytest

from cityops.deploy.scram import AuthFailed, ScramServer, check_plain, credentials_for

USERS = {"water": credentials_for("right-password"), "platform": credentials_for("p")}


def client_exchange(mechanism: str, user: str, password: str, tamper=lambda m: m):
    """Runs kafka-python's SCRAM client against the server; returns (server, verified)."""
    from kafka.net.sasl.scram import ScramClient

    client = ScramClient(user, password, mechanism)
    server = ScramServer(USERS, mechanism)
    server_first = server.first(client.first_message())
    client.process_server_first_message(server_first)
    server_final = server.final(tamper(client.final_message()))
    client.process_server_final_message(server_final)  # raises if forged
    return server


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_right_password_authenticates_and_server_proves_itself(mechanism):
    assert client_exchange(mechanism, "water", "right-password").user == "water"


@pytest.mark.parametrize(
    "mechanism, user, password, tamper, reason",
    [
        ("SCRAM-SHA-512", "water", "wrong", lambda m: m, "authentication failed"),
        ("SCRAM-SHA-256", "water", "wrong", lambda m: m, "authentication failed"),
        ("SCRAM-SHA-512", "mallory", "x", lambda m: m, "authentication failed"),
        (
            "SCRAM-SHA-512",
            "water",
            "right-password",
            lambda m: m.replace(b"r=", b"r=X", 1),
            "nonce mismatch",
        ),
        (
            "SCRAM-SHA-512",
            "water",
            "right-password",
            lambda m: m.replace(b"c=biws", b"c=" + base64.b64encode(b"y,,"), 1),
            "channel binding mismatch",
        ),
        (
            "SCRAM-SHA-512",
            "water",
            "right-password",
            lambda m: m.rsplit(b",p=", 1)[0] + b",p=" + base64.b64encode(b"\0" * 64),
            "authentication failed",
        ),
    ],
)
def test_client_that_cannot_prove_who_it_is_is_refused(mechanism, user, password, tamper, reason):
    with pytest.raises(AuthFailed, match=reason):
        client_exchange(mechanism, user, password, tamper)


def test_final_before_first_is_refused():
    with pytest.raises(AuthFailed):
        ScramServer(USERS, "SCRAM-SHA-512").final(b"c=biws,r=x,p=AAAA")


def test_unknown_mechanism_is_refused():
    with pytest.raises(AuthFailed):
        ScramServer(USERS, "SCRAM-SHA-1")


@pytest.mark.parametrize(
    "message, user",
    [
        (b"\0water\0right-password", "water"),
        (b"water\0water\0right-password", "water"),
        (b"\0water\0wrong", None),
        (b"\0mallory\0right-password", None),
        (b"platform\0water\0right-password", None),  # acting for another user
        (b"garbage", None),
    ],
)
def test_plain_is_checked_against_the_stored_keys(message, user):
    if user is None:
        with pytest.raises(AuthFailed):
            check_plain(USERS, message)
    else:
        assert check_plain(USERS, message) == user


def test_users_file_holds_no_password():
    assert "right-password" not in str(credentials_for("right-password"))
