"""The broker front reads SASL requests and writes SASL responses in the Kafka wire format: checked
against kafka-python's own encoders and decoders for every version clients use."""

from __future__ import annotations

import pytest
from kafka.protocol.sasl import (
    SaslAuthenticateRequest,
    SaslAuthenticateResponse,
    SaslHandshakeRequest,
    SaslHandshakeResponse,
)

from cityops.deploy.broker_front import (
    MECHANISMS,
    SASL_AUTHENTICATION_FAILED,
    authenticate_bytes,
    authenticate_response,
    handshake_mechanism,
    handshake_response,
)


def request_frame(message, version: int, correlation: int = 7) -> bytes:
    message.with_header(correlation_id=correlation, client_id="cityops-test")
    return bytes(message.encode(version=version, header=True))


@pytest.mark.parametrize("version", [0, 1])
def test_handshake_mechanism_is_read_and_answered(version):
    frame = request_frame(SaslHandshakeRequest(mechanism="SCRAM-SHA-512"), version)
    assert handshake_mechanism(frame) == "SCRAM-SHA-512"
    response = SaslHandshakeResponse.decode(handshake_response(7, 0), version=version, header=True)
    assert response.error_code == 0
    assert list(response.mechanisms) == list(MECHANISMS)


@pytest.mark.parametrize("version", [0, 1, 2])
def test_authenticate_bytes_are_read_and_answered(version):
    token = b"n,,n=water,r=abc" + bytes(range(256))
    frame = request_frame(SaslAuthenticateRequest(auth_bytes=token), version)
    assert authenticate_bytes(frame, version) == token
    ok = SaslAuthenticateResponse.decode(
        authenticate_response(7, version, 0, None, b"v=proof"), version=version, header=True
    )
    assert (ok.error_code, bytes(ok.auth_bytes)) == (0, b"v=proof")
    failed = SaslAuthenticateResponse.decode(
        authenticate_response(7, version, SASL_AUTHENTICATION_FAILED, "authentication failed", b""),
        version=version,
        header=True,
    )
    assert failed.error_code == SASL_AUTHENTICATION_FAILED
    assert failed.error_message == "authentication failed"
