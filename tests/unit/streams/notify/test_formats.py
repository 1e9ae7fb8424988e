"""The bodies and signatures, checked from the receiver's side: a receiver holding the shared
secret verifies what was sent, and one with another secret (or a changed body) does not."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from urllib.parse import parse_qs, urlsplit

import pytest

from cityops.streams.notify.formats import (
    SIGNATURE_HEADER,
    dingtalk_sign,
    escape_markdown,
    facts,
    incident_url,
    request_for,
    verify_signature,
)

DATA = {
    "incident_id": "320105001-abc",
    "title": "道路塌陷 [点我](http://evil) <@all> **急**",
    "district": "320105",
    "street": "320105001",
    "category": "road_damage",
    "severity": 4,
    "status": "dispatched",
    "level": "grid",
}
URL = "http://127.0.0.1:8050/incidents/320105001-abc"
FACTS = facts(DATA, "extreme", "320105001-abc:extreme:open", URL)


def test_the_webhook_body_has_the_contract_fields():
    _, body, headers = request_for("webhook", "https://h", "s3cret", FACTS, 0)
    sent = json.loads(body)
    for key in ("incident_id", "trigger", "title", "district", "severity", "status", "url"):
        assert key in sent
    assert sent["trigger"] == "extreme" and sent["url"] == URL and sent["title"] == DATA["title"]
    assert headers["Content-Type"].startswith("application/json")


def test_a_receiver_with_the_shared_secret_verifies_the_signature():
    _, body, headers = request_for("webhook", "https://h", "s3cret", FACTS, 0)
    header = headers[SIGNATURE_HEADER]
    expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert header == expected  # the documented recipe, computed independently
    assert verify_signature("s3cret", body, header)


@pytest.mark.parametrize(
    ("secret", "tamper"),
    [("wrong", lambda b: b), ("s3cret", lambda b: b.replace(b"extreme", b"minor__"))],
)
def test_a_wrong_secret_or_a_changed_body_fails_verification(secret, tamper):
    _, body, headers = request_for("webhook", "https://h", "s3cret", FACTS, 0)
    assert not verify_signature(secret, tamper(body), headers[SIGNATURE_HEADER])
    assert not verify_signature("s3cret", body, None)
    assert not verify_signature("s3cret", body, "")


def test_wecom_markdown_message():
    url, body, _ = request_for("wecom", "https://qyapi/send?key=K", "", FACTS, 0)
    sent = json.loads(body)
    assert url == "https://qyapi/send?key=K"
    assert sent["msgtype"] == "markdown" and set(sent["markdown"]) == {"content"}
    content = sent["markdown"]["content"]
    assert content.index("特别重大事项") < content.index("extreme incident")  # Chinese first
    assert "建邺区" in content and f"({URL})" in content


def test_dingtalk_markdown_message_and_signed_url():
    url, body, _ = request_for(
        "dingtalk", "https://oapi/robot/send?access_token=T", "SEC1", FACTS, 1700000000000
    )
    sent = json.loads(body)
    assert sent["msgtype"] == "markdown" and set(sent["markdown"]) == {"title", "text"}
    assert sent["markdown"]["title"].startswith("【特别重大事项】")
    query = parse_qs(urlsplit(url).query)
    assert query["access_token"] == ["T"] and query["timestamp"] == ["1700000000000"]
    # The robot's check, from its side: base64(HMAC-SHA256(secret, "ts\nsecret")).
    digest = hmac.new(b"SEC1", b"1700000000000\nSEC1", hashlib.sha256).digest()
    assert query["sign"] == [base64.b64encode(digest).decode()]
    wrong = hmac.new(b"SEC2", b"1700000000000\nSEC1", hashlib.sha256).digest()
    assert query["sign"] != [base64.b64encode(wrong).decode()]


def test_dingtalk_sign_is_url_encoded():
    sign = dingtalk_sign("SEC1", 1700000000000)
    assert "+" not in sign and "/" not in sign and "=" not in sign


def test_dingtalk_without_a_secret_keeps_the_url():
    url, _, _ = request_for("dingtalk", "https://oapi/robot/send?access_token=T", "", FACTS, 1)
    assert url == "https://oapi/robot/send?access_token=T"


@pytest.mark.parametrize("kind", ["wecom", "dingtalk"])
def test_user_text_cannot_add_links_mentions_or_markup(kind):
    _, body, _ = request_for(kind, "https://r", "", FACTS, 1)
    markdown = json.loads(body)["markdown"]
    text = markdown.get("content") or markdown["text"]
    assert "[点我](http://evil)" not in text and "<@all>" not in text
    assert "**急**" not in text
    assert text.count("](") == 1  # only the platform's own link to the incident page


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("[a](b)", r"\[a\]\(b\)"),
        ("<font color=red>x</font>", "＜font color=red＞x＜/font＞"),
        ("line\nbreak\r\n# head", r"line break \# head"),
        ("a*b_c`d", r"a\*b\_c\`d"),
        ("井盖缺失 3.5 米", "井盖缺失 3.5 米"),
    ],
)
def test_escape_markdown(raw, escaped):
    assert escape_markdown(raw) == escaped


def test_the_incident_link_quotes_the_id():
    assert incident_url("http://h/", "a b/c") == "http://h/incidents/a+b%2Fc"


def test_an_unknown_kind_is_an_error():
    with pytest.raises(ValueError, match="unknown notification kind"):
        request_for("sms", "https://x", "", FACTS, 0)
