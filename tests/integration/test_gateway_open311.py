"""Open311 GeoReport v2 as a citizen-reporting app uses it: services, POST a request, follow the
token to a service_request_id once the engine processed it, and GET it with its status. Needs
the incident engine: the test starts `cityops worker` for its own topics and database."""

from __future__ import annotations

import subprocess
import sys

import pytest
import requests

from cityops.deploy import services as svc
from cityops.schemas.taxonomy import CATEGORIES
from tests.integration.test_gateway import start_gateway, stop_gateway
from tests.waiting import wait_until


@pytest.fixture
def gateway(isolated, tmp_path):
    """A gateway for this test's topics and database."""
    gw = start_gateway(isolated.env, isolated.settings.home, tmp_path / "gateway.log")
    yield gw
    stop_gateway(gw)


@pytest.fixture
def worker(isolated, tmp_path):
    """One `cityops worker` (intake bridge + incident engine) for this test."""
    log = tmp_path / "worker.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cityops.deploy.cli", "worker"],
            env=isolated.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    yield log
    svc.stop(svc.Process("worker", proc, proc.pid, log))


def test_services_come_from_the_taxonomy(gateway):
    services = requests.get(f"{gateway.url}/open311/v2/services.json", timeout=10).json()
    assert {s["service_code"] for s in services} == set(CATEGORIES)
    zh = requests.get(
        f"{gateway.url}/open311/v2/services.json", params={"locale": "zh_CN"}, timeout=10
    ).json()
    assert {s["service_name"] for s in zh} >= {"燃气泄漏", "噪声扰民"}
    one = requests.get(f"{gateway.url}/open311/v2/services/noise.json", timeout=10)
    assert one.json()["attributes"][0]["code"] == "severity"
    missing = requests.get(f"{gateway.url}/open311/v2/services/unicorns.json", timeout=10)
    assert missing.status_code == 404 and missing.json()[0]["code"] == 404
    yaml = requests.get(f"{gateway.url}/open311/v2/services.yaml", timeout=10)
    assert yaml.status_code == 400 and ".xml or .json" in yaml.json()[0]["description"]


def test_open311_errors_use_the_open311_format(gateway):
    url = f"{gateway.url}/open311/v2/requests.json"
    key = gateway.key("hotline12345")
    no_key = requests.post(
        url, data={"service_code": "noise", "address_id": "320104002"}, timeout=10
    )
    assert no_key.status_code == 403 and no_key.json()[0]["code"] == 403
    as_json = requests.post(url, json={"api_key": key, "service_code": "noise"}, timeout=10)
    assert as_json.status_code == 400
    nowhere = requests.post(url, data={"api_key": key, "service_code": "noise"}, timeout=10)
    assert nowhere.status_code == 400 and "address_id" in nowhere.json()[0]["description"]
    abroad = requests.post(
        url,
        data={"api_key": key, "service_code": "noise", "lat": "48.85", "long": "2.35"},
        timeout=10,
    )
    assert abroad.status_code == 400
    unknown = requests.post(
        url, data={"api_key": key, "service_code": "x", "lat": "32.0", "long": "118.7"}, timeout=10
    )
    assert unknown.status_code == 404
    bad_date = requests.get(url, params={"start_date": "yesterday"}, timeout=10)
    assert bad_date.status_code == 400 and bad_date.json()[0]["code"] == 400


def test_a_request_round_trips_through_the_engine(gateway, worker, isolated):
    key = gateway.key("hotline12345")
    posted = requests.post(
        f"{gateway.url}/open311/v2/requests.json",
        timeout=30,
        data={
            "api_key": key,
            "service_code": "noise",
            "address_id": "320104002001",
            "description": "夫子庙附近夜间施工噪声扰民\n持续到凌晨两点",
            "email": "citizen@example.cn",
            "attribute[severity]": "2",
        },
    )
    assert posted.status_code == 200, posted.text
    token = posted.json()[0]["token"]

    def request_id():  # the app follows its citizens' tokens with its key (no per-address limit)
        answer = requests.get(
            f"{gateway.url}/open311/v2/tokens/{token}.json", params={"api_key": key}, timeout=10
        )
        assert answer.status_code == 200, answer.text
        return answer.json()[0].get("service_request_id")

    incident_id = wait_until(
        request_id,
        60,
        "the token to become a service_request_id",
        interval=0.25,
        details=lambda: svc.log_tail(worker, 30),
    )

    # the writer stores the incident row after the event row the token is resolved from
    # (storage/writer.py FLUSH_ORDER): wait for the request itself too
    def stored():
        one = requests.get(f"{gateway.url}/open311/v2/requests/{incident_id}.json", timeout=10)
        assert one.status_code in (200, 404), one.text
        return one.json() if one.status_code == 200 else None

    (found,) = wait_until(stored, 30, "the request to be stored", interval=0.25)
    assert found["service_request_id"] == incident_id
    assert found["status"] == "open"
    assert found["service_code"] == "noise"
    assert found["agency_responsible"] == "Ecology and Environment Bureau"
    assert found["description"] == "夫子庙附近夜间施工噪声扰民"
    assert found["requested_datetime"].endswith("+08:00") and found["expected_datetime"]
    listed = requests.get(
        f"{gateway.url}/open311/v2/requests.json",
        timeout=10,
        params={"service_code": "noise,parking", "status": "open"},
    ).json()
    assert [r["service_request_id"] for r in listed] == [incident_id]
    assert (
        requests.get(
            f"{gateway.url}/open311/v2/requests.json", timeout=10, params={"status": "closed"}
        ).json()
        == []
    )
    by_token = requests.get(f"{gateway.url}/open311/v2/requests/{token}.json", timeout=10)
    assert by_token.json()[0]["service_request_id"] == incident_id
