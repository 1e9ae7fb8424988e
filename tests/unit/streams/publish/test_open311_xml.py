"""Open311 answers in XML: the spec's element names, every text escaped by the XML library, and
characters XML cannot carry replaced, so any client's parser reads back what was stored."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from cityops.streams.publish.gateway.open311_xml import requested_format, to_xml

HOSTILE = [
    "<script>alert(1)</script>",
    "A & B <c> \"d\" 'e'",
    "]]><x/><![CDATA[",
    '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>&e;',
    "新街口 噪声扰民",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_user_text_is_escaped_and_reads_back_the_same(text) -> None:
    body = [{"service_request_id": "inc-1", "description": text, "lat": 32.04, "media_url": None}]
    root = ET.fromstring(to_xml(body, "service_requests"))
    assert root.tag == "service_requests"
    [request] = root
    assert request.tag == "request"
    assert [child.tag for child in request] == [
        "service_request_id",
        "description",
        "lat",
        "media_url",
    ]
    assert request.findtext("description") == text
    assert request.findtext("lat") == "32.04"
    assert request.find("media_url").text is None  # an empty element: no value
    assert len(root.findall(".//script")) == 0


@pytest.mark.parametrize(
    ("text", "read_back"),
    [
        ("bell\x07 nul\x00 esc\x1b", "bell\ufffd nul\ufffd esc\ufffd"),
        ("lone \ud800", "lone \ufffd"),
    ],
)
def test_characters_xml_cannot_carry_are_replaced(text, read_back) -> None:
    xml = to_xml([{"code": 400, "description": text}], "errors")
    assert ET.fromstring(xml).findtext("error/description") == read_back


def test_a_service_definition_nests_attributes_and_values() -> None:
    body = {
        "service_code": "noise",
        "attributes": [
            {"variable": True, "code": "severity", "values": [{"key": "1", "name": "minor"}]}
        ],
    }
    root = ET.fromstring(to_xml(body, "service_definition"))
    assert root.findtext("service_code") == "noise"
    assert root.findtext("attributes/attribute/variable") == "true"
    assert root.findtext("attributes/attribute/values/value/name") == "minor"


def test_the_declaration_names_utf8() -> None:
    assert to_xml([], "services").startswith(b"<?xml version='1.0' encoding='utf-8'?>")


@pytest.mark.parametrize(
    ("path", "fmt"),
    [
        ("/open311/v2/services.xml", "xml"),
        ("/open311/v2/requests/inc-1.XML", "xml"),
        ("/open311/v2/requests.json", "json"),
        ("/open311/v2/services.yaml", "json"),
        ("/open311/v2/xml/requests", "json"),
    ],
)
def test_the_format_is_the_paths_extension(path, fmt) -> None:
    assert requested_format(path) == fmt
