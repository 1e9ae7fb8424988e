"""The embedded broker's front door in secure mode (`cityops up --secure`): TLS and SASL in front of
the Tansu broker, which listens on a loopback port of its own.

Tansu 0.6 cannot do either itself here (docs/security.md, "Secure mode"): its `--cert`/`--key`
options cannot be given together and its TLS acceptor is never used, and with `--authentication`
and in-memory storage no first user can ever be created. So this process terminates TLS, runs
the SASL exchange against the users file (SCRAM-SHA-256/512, or PLAIN checked against the same
keys), refuses every other request until the client has proved who it is, and from then on
copies bytes both ways without looking at them.

    python -m cityops.deploy.broker_front --listen 127.0.0.1:9092 --origin 127.0.0.1:PORT \\
        --cert broker.pem --key broker.key --users broker-users.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import ssl
import struct
from pathlib import Path

from cityops.deploy.scram import AuthFailed, ScramServer, check_plain

log = logging.getLogger("cityops.broker_front")

API_VERSIONS, SASL_HANDSHAKE, SASL_AUTHENTICATE = 18, 17, 36
UNSUPPORTED_SASL_MECHANISM, ILLEGAL_SASL_STATE, SASL_AUTHENTICATION_FAILED = 33, 34, 58
MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN")
MAX_AUTH_FRAME = 64 * 1024  # nothing before authentication needs more


class Refused(Exception):
    """The connection is closed: a request before authentication, or a failed one."""


# -- the Kafka wire format, as far as authentication needs it ---------------------------------


def _uvarint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _put_uvarint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def request_body(frame: bytes, flexible: bool) -> int:
    """Offset of the request body: after api key, version, correlation id, client id (and, for
    flexible versions, the header's tagged fields)."""
    (length,) = struct.unpack_from(">h", frame, 8)
    pos = 10 + max(length, 0)
    if flexible:
        count, pos = _uvarint(frame, pos)
        for _ in range(count):
            _, pos = _uvarint(frame, pos)
            size, pos = _uvarint(frame, pos)
            pos += size
    return pos


def handshake_mechanism(frame: bytes) -> str:
    pos = request_body(frame, flexible=False)
    (length,) = struct.unpack_from(">h", frame, pos)
    return frame[pos + 2 : pos + 2 + length].decode()


def handshake_response(correlation: int, error: int) -> bytes:
    body = struct.pack(">ihi", correlation, error, len(MECHANISMS))
    for name in MECHANISMS:
        body += struct.pack(">h", len(name)) + name.encode()
    return body


def authenticate_bytes(frame: bytes, version: int) -> bytes:
    if version >= 2:
        pos = request_body(frame, flexible=True)
        length, pos = _uvarint(frame, pos)
        return frame[pos : pos + length - 1]
    pos = request_body(frame, flexible=False)
    (length,) = struct.unpack_from(">i", frame, pos)
    return frame[pos + 4 : pos + 4 + length]


def authenticate_response(
    correlation: int, version: int, error: int, message: str | None, data: bytes
) -> bytes:
    text = message.encode() if message is not None else None
    if version >= 2:
        body = struct.pack(">i", correlation) + b"\0" + struct.pack(">h", error)
        body += _put_uvarint(0 if text is None else len(text) + 1) + (text or b"")
        body += _put_uvarint(len(data) + 1) + data + struct.pack(">q", 0) + b"\0"
        return body
    body = struct.pack(">ih", correlation, error)
    body += struct.pack(">h", -1) if text is None else struct.pack(">h", len(text)) + text
    body += struct.pack(">i", len(data)) + data
    if version >= 1:
        body += struct.pack(">q", 0)  # no re-authentication
    return body


# -- one connection ---------------------------------------------------------------------------


async def read_frame(reader: asyncio.StreamReader, limit: int) -> bytes:
    (size,) = struct.unpack(">i", await reader.readexactly(4))
    if not 0 < size <= limit:
        raise Refused(f"frame of {size} bytes before authentication")
    return await reader.readexactly(size)


def send(writer: asyncio.StreamWriter, body: bytes) -> None:
    writer.write(struct.pack(">i", len(body)) + body)


class Session:
    """The SASL state of one client connection."""

    def __init__(self, users: dict) -> None:
        self.users = users
        self.mechanism: str | None = None
        self.scram: ScramServer | None = None
        self.user: str | None = None

    def step(self, token: bytes) -> bytes:
        """One SASL token in, one out; AuthFailed when the client is not who it says."""
        if self.mechanism is None:
            raise AuthFailed("SaslAuthenticate before SaslHandshake")
        if self.mechanism == "PLAIN":
            self.user = check_plain(self.users, token)
            return b""
        if self.scram is None:
            self.scram = ScramServer(self.users, self.mechanism)
            return self.scram.first(token)
        reply = self.scram.final(token)
        self.user = self.scram.user
        return reply


async def authenticate(reader, writer, users: dict, origin: tuple[str, int]):
    """Runs the exchange; returns (user, upstream reader, upstream writer) or raises Refused."""
    session = Session(users)
    upstream = None
    raw_tokens = False  # SaslHandshake v0: tokens follow as bare size-prefixed frames
    while session.user is None:
        frame = await read_frame(reader, MAX_AUTH_FRAME)
        if raw_tokens:
            try:
                send(writer, session.step(frame))
            except AuthFailed as exc:
                raise Refused(str(exc)) from None
            continue
        api_key, version, correlation = struct.unpack_from(">hhi", frame)
        if api_key == API_VERSIONS:
            if upstream is None:
                upstream = await asyncio.open_connection(*origin)
            send(upstream[1], frame)
            await upstream[1].drain()
            (size,) = struct.unpack(">i", await upstream[0].readexactly(4))
            send(writer, await upstream[0].readexactly(size))
        elif api_key == SASL_HANDSHAKE:
            mechanism = handshake_mechanism(frame)
            ok = mechanism in MECHANISMS
            send(writer, handshake_response(correlation, 0 if ok else UNSUPPORTED_SASL_MECHANISM))
            if not ok:
                raise Refused(f"mechanism {mechanism!r} is not enabled")
            session.mechanism, raw_tokens = mechanism, version == 0
        elif api_key == SASL_AUTHENTICATE:
            try:
                reply = session.step(authenticate_bytes(frame, version))
            except AuthFailed as exc:
                send(
                    writer,
                    authenticate_response(
                        correlation, version, SASL_AUTHENTICATION_FAILED, str(exc), b""
                    ),
                )
                await writer.drain()
                raise Refused(str(exc)) from None
            send(writer, authenticate_response(correlation, version, 0, None, reply))
        else:
            raise Refused(f"request (api key {api_key}) before authentication")
        await writer.drain()
    if upstream is None:
        upstream = await asyncio.open_connection(*origin)
    return session.user, upstream[0], upstream[1]


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(1 << 16):
            writer.write(data)
            await writer.drain()
    finally:
        with contextlib.suppress(Exception):
            writer.close()


class Front:
    def __init__(self, users_file: Path, origin: tuple[str, int]) -> None:
        self.users_file, self.origin = users_file, origin

    async def handle(self, reader, writer) -> None:
        peer = writer.get_extra_info("peername")
        upstream_writer = None
        try:
            users = json.loads(self.users_file.read_text())
            user, up_reader, upstream_writer = await authenticate(
                reader, writer, users, self.origin
            )
            log.debug("%s authenticated as %s", peer, user)
            await asyncio.gather(pipe(reader, upstream_writer), pipe(up_reader, writer))
        except Refused as exc:
            log.warning("refused %s: %s", peer, exc)
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError, OSError):
            pass
        finally:
            for w in (writer, upstream_writer):
                if w is not None:
                    with contextlib.suppress(Exception):
                        w.close()


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


async def serve(args: argparse.Namespace) -> None:
    front = Front(args.users, _address(args.origin))
    host, port = _address(args.listen)
    server = await asyncio.start_server(
        front.handle, host, port, ssl=server_context(args.cert, args.key)
    )
    print(f"broker front: TLS + SASL on {host}:{port} -> {args.origin}; ready", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m cityops.deploy.broker_front")
    parser.add_argument("--listen", required=True)
    parser.add_argument("--origin", required=True)
    parser.add_argument("--cert", type=Path, required=True)
    parser.add_argument("--key", type=Path, required=True)
    parser.add_argument("--users", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] %(levelname)s %(message)s")
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is a dependency
        pass
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args))


if __name__ == "__main__":
    main()
