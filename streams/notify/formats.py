"""The bodies a notification is sent as, and their signatures (docs/notifications.md). Pure.

- `webhook`: JSON (CONTRACT §13) with header `X-Cityops-Signature: sha256=<hex HMAC-SHA256 of the
  body bytes with the target's secret>`; `verify_signature` is what a receiver runs.
- `wecom`: the WeCom group robot's markdown message `{"msgtype":"markdown","markdown":{"content"}}`.
- `dingtalk`: the DingTalk custom robot's markdown message `{"msgtype":"markdown","markdown":
  {"title","text"}}`; with a secret, `timestamp` (ms) and `sign` = urlencode(base64(HMAC-SHA256(
  secret, f"{timestamp}\\n{secret}"))) are added to the url's query.

Text that comes from outside (an incident's title, from a department's report) is escaped for
markdown, so it cannot add links, headings, mentions or markup to a robot message.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote_plus, urlencode, urlsplit, urlunsplit

SIGNATURE_HEADER = "X-Cityops-Signature"
TRIGGER_NAMES = {
    "extreme": ("特别重大事项", "extreme incident"),
    "escalated": ("事项已提级", "incident escalated"),
    "breached": ("事项已超时", "SLA deadline missed"),
    "supervised": ("书记督办", "under supervision"),
    "feed_silent": ("数据源中断", "feed silent"),
    "rule": ("预警规则触发", "early-warning rule"),
}
SEVERITY_NAMES = {1: ("一般", "minor"), 2: ("较大", "moderate"), 3: ("重大", "severe"),
                  4: ("特别重大", "extreme")}  # fmt: skip
STATUS_NAMES = {
    "reported": "已上报", "dispatched": "已派遣", "accepted": "已受理", "in_progress": "处置中",
    "resolved": "已办结", "closed": "已结案", "reopened": "重新办理",
}  # fmt: skip
_DIVISIONS = Path(__file__).resolve().parents[2] / "schemas" / "data" / "nanjing_divisions.json"
# Characters that make markdown structure mid-line (every message line starts with fixed text,
# so list and heading markers at a line's start cannot occur).
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]()#!|~])")


@lru_cache(maxsize=1)
def _district_names() -> dict[str, tuple[str, str]]:
    data = json.loads(_DIVISIONS.read_text(encoding="utf-8"))
    return {d["adcode"]: (d["name_zh"], d["name_en"]) for d in data["districts"]}


def district_name(code: str) -> tuple[str, str]:
    return _district_names().get(code, (code, code))


def escape_markdown(text: str, limit: int = 200) -> str:
    """Outside text made inert in a robot's markdown: one line, markup characters backslash-
    escaped, `<` `>` `@` as full-width forms (WeCom reads `<font>` and `<@userid>` in markdown)."""
    line = " ".join(str(text).split())[:limit]
    line = line.replace("<", "＜").replace(">", "＞").replace("@", "＠").replace("&", "＆")
    return _MARKDOWN_SPECIAL.sub(r"\\\1", line)


def incident_url(page_base: str, incident_id: str) -> str:
    return f"{page_base.rstrip('/')}/incidents/{quote_plus(incident_id)}"


def facts(data: dict[str, Any], trigger: str, notification_id: str, url: str) -> dict[str, Any]:
    """The notification's content, independent of the format."""
    district = str(data.get("district", ""))
    severity = data.get("severity", 0)
    return {
        "notification_id": notification_id,
        "incident_id": str(data.get("incident_id", "")),
        "trigger": trigger,
        "title": str(data.get("title", "")),
        "district": district,
        "district_name": district_name(district)[0],
        "street": str(data.get("street", "")),
        "category": str(data.get("category", "")),
        "severity": severity,
        "status": str(data.get("status", "")),
        "level": str(data.get("level", "")),
        "url": url,
    }


def webhook_body(f: dict[str, Any]) -> bytes:
    return json.dumps(f, ensure_ascii=False, sort_keys=True).encode("utf-8")


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, body: bytes, header: str | None) -> bool:
    """A receiver's check of `X-Cityops-Signature` (constant-time)."""
    return bool(header) and hmac.compare_digest(sign(secret, body), str(header))


def _lines(f: dict[str, Any]) -> tuple[str, list[str]]:
    zh, en = TRIGGER_NAMES.get(f["trigger"], (f["trigger"], f["trigger"]))
    sev_zh, sev_en = SEVERITY_NAMES.get(f["severity"], (str(f["severity"]),) * 2)
    dist_zh, dist_en = district_name(f["district"])
    title = escape_markdown(f["title"]) or escape_markdown(f["incident_id"])
    status = f["status"]
    lines = [
        f"> 事项 Incident: {title}",
        f"> 区域 District: {escape_markdown(dist_zh)} {escape_markdown(dist_en)}",
        f"> 等级 Severity: {sev_zh} {sev_en}",
        f"> 状态 Status: {STATUS_NAMES.get(status, '')} {escape_markdown(status)}",
        f"> 编号 ID: {escape_markdown(f['incident_id'])}",
        "",
        f"[查看事项 Open the incident]({f['url']})",
    ]
    return f"【{zh}】{en}", lines


def wecom_body(f: dict[str, Any]) -> bytes:
    heading, lines = _lines(f)
    content = "\n".join([f"**{heading}**", *lines])
    return json.dumps(
        {"msgtype": "markdown", "markdown": {"content": content}}, ensure_ascii=False
    ).encode("utf-8")


def dingtalk_body(f: dict[str, Any]) -> bytes:
    heading, lines = _lines(f)
    text = "\n".join([f"#### {heading}", *(line + "\n" for line in lines)])
    return json.dumps(
        {"msgtype": "markdown", "markdown": {"title": heading, "text": text}}, ensure_ascii=False
    ).encode("utf-8")


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's `sign` (already url-encoded): base64(HMAC-SHA256(secret, ts + "\\n" + secret))."""
    digest = hmac.new(
        secret.encode("utf-8"), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256
    ).digest()
    return quote_plus(base64.b64encode(digest).decode())


def dingtalk_url(url: str, secret: str, timestamp_ms: int) -> str:
    """The robot's url with `timestamp` and `sign` added (unchanged without a secret)."""
    if not secret:
        return url
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if k not in ("timestamp", "sign")]  # fmt: skip
    extra = f"timestamp={timestamp_ms}&sign={dingtalk_sign(secret, timestamp_ms)}"
    joined = f"{urlencode(query)}&{extra}" if query else extra
    return urlunsplit(parts._replace(query=joined))


def request_for(
    kind: str, url: str, secret: str, f: dict[str, Any], timestamp_ms: int
) -> tuple[str, bytes, dict[str, str]]:
    """(url, body, headers) of one attempt."""
    headers = {"Content-Type": "application/json; charset=utf-8"}
    if kind == "webhook":
        body = webhook_body(f)
        headers[SIGNATURE_HEADER] = sign(secret, body)
        return url, body, headers
    if kind == "wecom":
        return url, wecom_body(f), headers
    if kind == "dingtalk":
        return dingtalk_url(url, secret, timestamp_ms), dingtalk_body(f), headers
    raise ValueError(f"unknown notification kind {kind!r}")
