"""Claims over the HTTP gateway, from the attacker's side: the `water` key sending a claim in the
name of a housing-bureau unit, and a community item from a unit's department, are refused (400,
with the reason) and reach no topic; the unit's own department and the grid publisher go through."""

from __future__ import annotations

import pytest

from tests.integration.test_claims import claim
from tests.integration.test_gateway import ids_in_kafka, start_gateway, stop_gateway

ITEM = "320102001001-gw1"


@pytest.fixture
def gateway(isolated, tmp_path):
    gw = start_gateway(isolated.env, isolated.settings.home, tmp_path / "gateway.log")
    yield gw
    stop_gateway(gw)


def test_a_department_cannot_claim_for_another_departments_unit(gateway, isolated):
    forged = claim("take", ITEM, source="water")  # ru-320102-01 publishes through housing
    refused = gateway.post(gateway.key("water"), forged)
    assert refused.status_code == 400, refused.text
    (error,) = refused.json()["errors"]
    assert error["path"] == "data.unit_id"
    assert 'publishes through "housing", not "water"' in error["detail"]
    item_by_unit = claim("item", ITEM, source="housing")
    refused = gateway.post(gateway.key("housing"), item_by_unit)
    assert refused.status_code == 400, refused.text
    (error,) = refused.json()["errors"]
    assert "a community publishes through /departments/grid_inspect" in error["detail"]
    published = claim("item", ITEM)
    taken = claim("take", ITEM)
    assert gateway.post(gateway.key("grid_inspect"), published).status_code == 202
    assert gateway.post(gateway.key("housing"), taken).status_code == 202
    assert sorted(ids_in_kafka(isolated, 2)) == sorted([published["id"], taken["id"]])
