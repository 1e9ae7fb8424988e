"""Open311 GeoReport v2 answers in either format: JSON, or XML (the spec's default) in the spec's
shape — `services`/`service`, `service_definition` (with `attributes`/`attribute` and
`values`/`value`), `service_requests`/`request`, `errors`/`error`. Built with ElementTree, so
every text is escaped by the library; characters XML 1.0 cannot carry at all (most control
characters, lone surrogates) become U+FFFD first."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

import orjson
from flask import Response, request

FORMATS = ("json", "xml")
XML_TYPE = "text/xml"  # what GeoReport v2 servers answer; charset in the header and declaration
# Element names of list items inside a container (the rest is one element per key).
_ITEMS = {"services": "service", "service_requests": "request", "errors": "error"}
_NESTED_ITEMS = {"attributes": "attribute", "values": "value"}
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def answer(body: Any, fmt: str, root: str, status: int = 200) -> Response:
    """`body` (a list of items, or one object for `root` = service_definition) as JSON or XML."""
    if fmt == "xml":
        return Response(
            to_xml(body, root), status=status, content_type=f"{XML_TYPE}; charset=utf-8"
        )
    return Response(orjson.dumps(body), status=status, mimetype="application/json")


def to_xml(body: Any, root: str) -> bytes:
    element = ET.Element(root)
    if isinstance(body, list):
        for item in body:
            _fill(ET.SubElement(element, _ITEMS[root]), item)
    else:
        _fill(element, body)
    return ET.tostring(element, encoding="utf-8", xml_declaration=True)


def _fill(element: ET.Element, value: Any) -> None:
    if isinstance(value, dict):
        for key, child in value.items():
            _fill(ET.SubElement(element, key), child)
    elif isinstance(value, list):
        item_name = _NESTED_ITEMS.get(element.tag, "item")
        for child in value:
            _fill(ET.SubElement(element, item_name), child)
    elif value is None:
        return  # an empty element: the spec's "no value"
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    else:
        element.text = _NOT_XML.sub("\ufffd", str(value))


def requested_format(path: str | None = None) -> str:
    """The format the client asked for by the path's extension (`….xml`); JSON otherwise, so an
    error about a .json request stays JSON."""
    last = (path if path is not None else request.path).rsplit("/", 1)[-1]
    return "xml" if last.lower().endswith(".xml") else "json"


def errors_body(code: int, description: str) -> list[dict[str, Any]]:
    return [{"code": code, "description": description}]
