"""Nothing the engine or the bridge produces is larger than the record limit: the Outbox refuses
(logs, counts) an oversize record instead of letting the broker refuse the whole commit; a table
value it refuses keeps the table's previous value; the bridge splits a bundle over the limit."""

from __future__ import annotations

import msgspec
import pytest

from cityops.schemas.event_types import MAX_ADDRESS_CHARS
from cityops.settings import Settings
from cityops.streams.incidents import out
from cityops.streams.incidents.model import Bundle, RejectIn
from cityops.streams.intake import BUNDLE_MAX_BYTES, _chunks, encode_bundle, encoded_bundles
from cityops.streams.kafka import MAX_RECORD_BYTES, Outbox, record_size
from tests.unit.streams.builders import T0, a_report, an_incident
from tests.unit.streams.test_store import P, app, stores  # noqa: F401 - the fixture

LIMIT = 1_000


@pytest.mark.parametrize(
    "key,value,headers,accepted",
    [
        (b"k", b"x" * (LIMIT - 1), None, True),
        (None, b"x" * LIMIT, None, True),  # exactly the limit
        (b"k", b"x" * LIMIT, None, False),  # the key counts
        (b"k", b"x" * 900, [("cityops_reason", b"r" * 86)], False),  # so do the headers
        (b"k", b"x" * 900, [("cityops_reason", b"r" * 85)], True),
    ],
)
def test_the_outbox_refuses_a_record_over_its_limit(key, value, headers, accepted, caplog):
    outbox = Outbox(LIMIT)
    assert outbox.add("t", 0, key, value, headers) is accepted
    assert len(outbox) == int(accepted) and outbox.refused == int(not accepted)
    assert ("over the 1000-byte limit" in caplog.text) is (not accepted)
    assert record_size(key, value, headers) > LIMIT or accepted


def test_an_outbox_without_a_limit_takes_anything():
    outbox = Outbox()
    assert outbox.add("t", 0, b"k", b"x" * (2 * MAX_RECORD_BYTES))
    assert len(outbox) == 1


def test_the_configured_limit_is_below_the_brokers_default():
    assert Settings().max_message_bytes <= MAX_RECORD_BYTES < 2**20


def test_a_table_value_over_the_limit_is_neither_sent_nor_installed(app, caplog):  # noqa: F811
    incidents, _ = stores(app)
    small, large = an_incident(), an_incident()
    large.title = "x" * 5_000  # never from a validated report: the guard's last resort
    incidents.install(P, [(large.id, an_incident())])  # the value the table had
    before = incidents.get(large.id)
    items = [(small.id, small), (large.id, large)]
    outbox = Outbox(4_000)
    incidents.changelog(outbox, P, items)
    assert len(outbox) == 1 and outbox.refused == 1
    incidents.install(P, items)
    assert incidents.get(small.id) == small
    assert incidents.get(large.id) == before
    assert "not stored" in caplog.text


def test_the_bridge_splits_a_bundle_of_long_reports_under_the_limit():
    address = "建邺区江东中路".ljust(MAX_ADDRESS_CHARS, "楼")
    items = [a_report(level="street", address=address) for _ in range(330)]
    for item in items:
        item.raw = b"{" + b"y" * 1_700 + b"}"  # about what such a report's JSON weighs
    (chunk,) = list(_chunks(items))  # weighed by raw bytes: one chunk under BUNDLE_MAX_BYTES
    assert len(encode_bundle(chunk)) > MAX_RECORD_BYTES > BUNDLE_MAX_BYTES
    bundles = encoded_bundles(chunk)
    assert len(bundles) > 1 and all(len(b) <= MAX_RECORD_BYTES for b in bundles)
    assert bundles == [encode_bundle(chunk[:165]), encode_bundle(chunk[165:])]  # order kept


def test_a_bundle_within_the_limit_is_encoded_once_as_it_was():
    items = [a_report() for _ in range(10)]
    assert encoded_bundles(items) == [encode_bundle(items)]


def test_a_single_refused_event_over_the_limit_is_cut_to_fit_and_says_so():
    raw = b'{"id": "' + b"z" * 1_200_000 + b'"}'
    reject = RejectIn("rj-1", T0, "larger than 65536 bytes", "$", raw)
    (bundle,) = encoded_bundles([reject])
    assert len(bundle) <= MAX_RECORD_BYTES
    (item,) = msgspec.msgpack.decode(bundle, type=Bundle).items
    assert item.raw == raw[: len(item.raw)] and len(item.raw) > MAX_RECORD_BYTES - 5_000
    assert item.reason.startswith("larger than 65536 bytes (raw bytes cut to ")
    # and the engine's city.events.rejected record of it fits too
    outbox = Outbox(MAX_RECORD_BYTES)
    assert outbox.add("rejected", 0, b"rj-1", item.raw, out.rejected_headers(item, T0))
