"""Open311 GeoReport v2 in XML, the spec's default format, from a real HTTP client against the
running gateway, broker, worker and ClickHouse: the spec's root and item elements, its field
names, the XML content type, errors as <errors><error>, and a citizen's text that tries to break
the markup read back unchanged by an XML parser."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET

import requests

from cityops.deploy import services as svc
from cityops.schemas.taxonomy import CATEGORIES
from tests.integration.test_gateway_open311 import gateway, worker  # noqa: F401 - fixtures
from tests.optional import require
from tests.waiting import wait_until

REQUEST_FIELDS = [
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
]


def xml_of(response: requests.Response, status: int, root: str) -> ET.Element:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "text/xml; charset=utf-8"
    element = ET.fromstring(response.content)
    assert element.tag == root
    return element


def test_services_and_a_definition_in_xml(gateway):  # noqa: F811
    base = f"{gateway.url}/open311/v2"
    services = xml_of(requests.get(f"{base}/services.xml", timeout=10), 200, "services")
    assert {s.tag for s in services} == {"service"}
    assert {s.findtext("service_code") for s in services} == set(CATEGORIES)
    noise = next(s for s in services if s.findtext("service_code") == "noise")
    assert [c.tag for c in noise] == [
        "service_code",
        "service_name",
        "description",
        "metadata",
        "type",
        "keywords",
        "group",
    ]
    assert noise.findtext("metadata") == "true" and noise.findtext("type") == "realtime"
    zh = xml_of(
        requests.get(f"{base}/services.xml", params={"locale": "zh_CN"}, timeout=10),
        200,
        "services",
    )
    assert "噪声扰民" in {s.findtext("service_name") for s in zh}
    definition = xml_of(
        requests.get(f"{base}/services/noise.xml", timeout=10), 200, "service_definition"
    )
    assert definition.findtext("service_code") == "noise"
    attribute = definition.find("attributes/attribute")
    assert attribute is not None and attribute.findtext("code") == "severity"
    assert [v.findtext("key") for v in attribute.findall("values/value")] == ["1", "2", "3", "4"]


def test_errors_in_xml_name_the_code_and_description(gateway):  # noqa: F811
    base = f"{gateway.url}/open311/v2"
    missing = xml_of(requests.get(f"{base}/services/unicorns.xml", timeout=10), 404, "errors")
    assert [(e.findtext("code"), e.findtext("description")) for e in missing] == [
        ("404", "service_code not found")
    ]
    no_key = xml_of(
        requests.post(
            f"{base}/requests.xml", data={"service_code": "noise", "address_id": "320104002"}
        ),
        403,
        "errors",
    )
    assert no_key.findtext("error/code") == "403"
    bad_date = xml_of(
        requests.get(f"{base}/requests.xml", params={"start_date": "<yesterday>"}, timeout=10),
        400,
        "errors",
    )
    assert "ISO 8601" in bad_date.findtext("error/description")
    nowhere = xml_of(requests.get(f"{base}/no/such/thing.xml", timeout=10), 404, "errors")
    assert nowhere.findtext("error/code") == "404"
    # a .json request's error stays JSON
    assert requests.get(f"{base}/services/unicorns.json", timeout=10).json()[0]["code"] == 404


def test_a_request_posted_and_read_in_xml_keeps_hostile_text_as_text(
    gateway,  # noqa: F811
    worker,  # noqa: F811
):
    base = f"{gateway.url}/open311/v2"
    key = gateway.key("hotline12345")
    title = f"<script>alert('x')</script> & ]]> 新街口 {uuid.uuid4().hex[:6]}"
    posted = xml_of(
        requests.post(
            f"{base}/requests.xml",
            timeout=30,
            data={
                "api_key": key,
                "service_code": "noise",
                "lat": "32.0415",  # Xinjiekou: between the simplified district polygons
                "long": "118.7845",
                "description": f"{title}\n夜间施工",
            },
        ),
        200,
        "service_requests",
    )
    token = posted.findtext("request/token")
    assert token and token.startswith("open311-")
    assert "tokens/{token}.xml" in posted.findtext("request/service_notice")

    def request_id():
        answer = requests.get(f"{base}/tokens/{token}.xml", params={"api_key": key}, timeout=10)
        found = xml_of(answer, 200, "service_requests")
        assert found.findtext("request/token") == token
        return found.findtext("request/service_request_id")

    incident_id = wait_until(
        request_id,
        60,
        "the token to become a service_request_id",
        interval=0.25,
        details=lambda: svc.log_tail(worker, 30),
    )

    def stored():
        one = requests.get(f"{base}/requests/{incident_id}.xml", timeout=10)
        if one.status_code == 404:
            return None
        return xml_of(one, 200, "service_requests")

    one = wait_until(stored, 30, "the request to be stored", interval=0.25)
    [request] = one
    assert request.tag == "request"
    assert [c.tag for c in request] == REQUEST_FIELDS
    assert request.findtext("service_request_id") == incident_id
    assert request.findtext("description") == title
    assert request.findtext("status") == "open"
    assert request.findtext("lat") == "32.041"  # the public view: about 100 m
    assert one.find(".//script") is None
    listed = xml_of(
        requests.get(f"{base}/requests.xml", params={"service_code": "noise"}, timeout=10),
        200,
        "service_requests",
    )
    assert [r.findtext("service_request_id") for r in listed] == [incident_id]
    by_token = xml_of(
        requests.get(f"{base}/requests/{token}.xml", timeout=10), 200, "service_requests"
    )
    assert by_token.findtext("request/service_request_id") == incident_id


def test_a_georeport_client_reads_the_xml(gateway, worker):  # noqa: F811
    """georeport (PyPI), an Open311 GeoReport v2 client, in its XML mode (xmltodict)."""
    georeport = require("georeport")
    client = georeport.GeoReport(f"{gateway.url}/open311/v2", output_format="xml")
    services = client.get_service_list()
    assert {s["service_code"] for s in services} == set(CATEGORIES)
    definition = client.get_service_definition("noise")
    assert definition["attributes"]["attribute"]["code"] == "severity"
    key = gateway.key("hotline12345")
    posted = requests.post(
        f"{gateway.url}/open311/v2/requests.xml",
        data={"api_key": key, "service_code": "noise", "address_id": "320104002001"},
        timeout=30,
    )
    token = ET.fromstring(posted.content).findtext("request/token")

    def found():  # with the key: the anonymous client's read budget is for the client
        one = requests.get(
            f"{gateway.url}/open311/v2/requests/{token}.xml", params={"api_key": key}, timeout=10
        )
        return one.status_code == 200

    wait_until(found, 60, "the request stored", interval=0.25, details=lambda: svc.log_tail(worker))
    one = client.get_service_request(token)
    assert one["service_code"] == "noise" and one["status"] == "open"
    incident_id = one["service_request_id"]
    listed = client.get_service_requests(service_request_id=incident_id)
    assert listed["service_request_id"] == incident_id  # xmltodict: one item is not a list
