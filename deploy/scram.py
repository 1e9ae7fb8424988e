"""SASL for the embedded broker's TLS front (deploy/broker_front.py): stored SCRAM credentials and
the server side of SCRAM-SHA-256/512 (RFC 5802, RFC 7677) and of PLAIN checked against them.

Pure functions over bytes and a credential table; the front does the I/O. Passwords are never
stored, only salted keys, so the users file reveals no password.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass

MECHANISMS = {"SCRAM-SHA-256": "sha256", "SCRAM-SHA-512": "sha512"}
ITERATIONS = 4096


class AuthFailed(Exception):
    """The client did not prove who it is; the message is safe to send back."""


@dataclass(frozen=True)
class Credential:
    salt: bytes
    iterations: int
    stored_key: bytes
    server_key: bytes


def make_credential(password: str, hash_name: str, salt: bytes | None = None) -> Credential:
    salt = salt if salt is not None else os.urandom(24)
    salted = hashlib.pbkdf2_hmac(hash_name, password.encode(), salt, ITERATIONS)
    client_key = hmac.digest(salted, b"Client Key", hash_name)
    return Credential(
        salt=salt,
        iterations=ITERATIONS,
        stored_key=hashlib.new(hash_name, client_key).digest(),
        server_key=hmac.digest(salted, b"Server Key", hash_name),
    )


def credentials_for(password: str) -> dict[str, dict]:
    """One user's stored keys for both SCRAM mechanisms, as JSON-ready data."""
    out = {}
    for mechanism, hash_name in MECHANISMS.items():
        cred = make_credential(password, hash_name)
        out[mechanism] = {
            "salt": _b64(cred.salt),
            "iterations": cred.iterations,
            "stored_key": _b64(cred.stored_key),
            "server_key": _b64(cred.server_key),
        }
    return out


def load_credential(users: dict, user: str, mechanism: str) -> Credential | None:
    entry = users.get(user, {}).get(mechanism)
    if entry is None:
        return None
    return Credential(
        salt=base64.b64decode(entry["salt"]),
        iterations=int(entry["iterations"]),
        stored_key=base64.b64decode(entry["stored_key"]),
        server_key=base64.b64decode(entry["server_key"]),
    )


def check_plain(users: dict, message: bytes) -> str:
    """PLAIN (`authzid NUL user NUL password`): the user name when the password matches."""
    try:
        authzid, user, password = message.decode().split("\0")
    except ValueError:
        raise AuthFailed("malformed PLAIN message") from None
    if authzid not in ("", user):
        raise AuthFailed("authorization id differs from the user")
    cred = load_credential(users, user, "SCRAM-SHA-512")
    if cred is None:
        raise AuthFailed("authentication failed")
    salted = hashlib.pbkdf2_hmac("sha512", password.encode(), cred.salt, cred.iterations)
    client_key = hmac.digest(salted, b"Client Key", "sha512")
    if not hmac.compare_digest(hashlib.sha512(client_key).digest(), cred.stored_key):
        raise AuthFailed("authentication failed")
    return user


class ScramServer:
    """One SCRAM exchange: `first(client_first)` -> server-first, `final(client_final)` ->
    server-final; `user` is set once the client's proof checked out."""

    def __init__(self, users: dict, mechanism: str, nonce: str | None = None) -> None:
        if mechanism not in MECHANISMS:
            raise AuthFailed(f"unsupported mechanism {mechanism}")
        self.users, self.mechanism = users, mechanism
        self.hash_name = MECHANISMS[mechanism]
        self.nonce = nonce or secrets.token_urlsafe(18)
        self.user: str | None = None
        self._state: tuple | None = None

    def first(self, message: bytes) -> bytes:
        text = message.decode()
        try:
            cbind, authzid, bare = text.split(",", 2)
        except ValueError:
            raise AuthFailed("malformed client-first message") from None
        if cbind not in ("n", "y"):
            raise AuthFailed("channel binding is not supported")
        attrs = _attributes(bare)
        if "n" not in attrs or "r" not in attrs:
            raise AuthFailed("malformed client-first message")
        user = attrs["n"].replace("=2C", ",").replace("=3D", "=")
        if authzid and authzid[2:] != user:
            raise AuthFailed("authorization id differs from the user")
        cred = load_credential(self.users, user, self.mechanism)
        if cred is None:
            raise AuthFailed("authentication failed")
        nonce = attrs["r"] + self.nonce
        server_first = f"r={nonce},s={_b64(cred.salt)},i={cred.iterations}"
        self._state = (user, cred, nonce, bare, server_first, f"{cbind},{authzid},")
        return server_first.encode()

    def final(self, message: bytes) -> bytes:
        if self._state is None:
            raise AuthFailed("client-final before client-first")
        user, cred, nonce, bare, server_first, gs2 = self._state
        text = message.decode()
        without_proof, _, proof_part = text.rpartition(",p=")
        attrs = _attributes(without_proof)
        if attrs.get("r") != nonce or not proof_part:
            raise AuthFailed("nonce mismatch")
        if attrs.get("c") != _b64(gs2.encode()):
            raise AuthFailed("channel binding mismatch")
        auth_message = f"{bare},{server_first},{without_proof}".encode()
        signature = hmac.digest(cred.stored_key, auth_message, self.hash_name)
        try:
            proof = base64.b64decode(proof_part, validate=True)
        except ValueError:
            raise AuthFailed("malformed proof") from None
        if len(proof) != len(signature):
            raise AuthFailed("authentication failed")
        client_key = bytes(a ^ b for a, b in zip(proof, signature, strict=True))
        if not hmac.compare_digest(
            hashlib.new(self.hash_name, client_key).digest(), cred.stored_key
        ):
            raise AuthFailed("authentication failed")
        self.user = user
        verifier = hmac.digest(cred.server_key, auth_message, self.hash_name)
        return f"v={_b64(verifier)}".encode()


def _attributes(text: str) -> dict[str, str]:
    out = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if sep and len(key) == 1:
            out[key] = value
    return out


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
