"""An incident's evidence photo in a real Chromium: a photo the platform stored is shown on the
incident page and really loads; another site's URL is a link only, never fetched; an officer of
another district gets neither the page nor the photo."""

from __future__ import annotations

import json
import time

from cityops import media
from tests.e2e.builders import an_event, an_incident, insert
from tests.e2e.conftest import login
from tests.integration.test_open311_media import png

EXTERNAL = "https://photos.example.org/leak.jpg"


def incident_with_photos(isolated, now: int) -> str:
    name = media.store(isolated.settings.home, png(40, 30), "png")
    insert(
        isolated.ch,
        "incidents",
        [an_incident(incident_id="inc-p", reported_at=now - 300, title="井盖缺失")],
    )
    events = []
    for event_id, url in (
        ("ev-p1", f"http://gw:8090/open311/v2/media/{name}"),
        ("ev-p2", EXTERNAL),
    ):
        row = an_event(id=event_id, time=now - 300, incident_id="inc-p", title="井盖缺失")
        payload = json.loads(row["payload"])
        payload["data"]["media_url"] = url
        row["payload"] = json.dumps(payload, ensure_ascii=False)
        events.append(row)
    insert(isolated.ch, "events", events)
    return name


def test_a_stored_photo_shows_on_the_incident_page(isolated, dashboard, page, artifacts_dir):
    name = incident_with_photos(isolated, int(time.time()))
    fetched: list[str] = []
    page.on("request", lambda r: fetched.append(r.url))
    login(page, dashboard, "jianye", next_path="/incidents/inc-p")
    page.wait_for_selector("#evidence img.photo")
    image = page.locator("#evidence img.photo")
    assert image.get_attribute("src") == f"/media/inc-p/{name}"
    page.wait_for_function(
        "document.querySelector('#evidence img.photo').complete"
        " && document.querySelector('#evidence img.photo').naturalWidth === 40"
    )
    link = page.locator(f'#evidence a[href="{EXTERNAL}"]')
    assert link.count() == 1 and link.locator("img").count() == 0
    assert not any("photos.example.org" in url for url in fetched)
    page.screenshot(path=str(artifacts_dir / "incident-photo.png"), full_page=True)


def test_another_districts_officer_gets_no_photo(isolated, dashboard, page):
    name = incident_with_photos(isolated, int(time.time()))
    login(page, dashboard, "xuanwu")
    page.goto(f"{dashboard.url}/incidents/inc-p")
    page.wait_for_selector(".denied")
    assert page.locator("#evidence").count() == 0
    answer = page.request.get(f"{dashboard.url}/media/inc-p/{name}")
    assert answer.status == 404
