"""Notifications end to end (docs/notifications.md): a real broker and ClickHouse, the real
`cityops notify` process, and a receiver that is a real HTTP server on a free port."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from kafka import KafkaProducer

from cityops.dashboard.backend import Backend
from cityops.dashboard.pages.incident import details
from cityops.deploy import services as svc
from cityops.schemas.topics import Topics
from cityops.streams.notify.formats import SIGNATURE_HEADER, verify_signature
from tests.integration.test_engine import a_report, incident_of, make_stack
from tests.waiting import wait_until

SECRET = "shared-secret-of-the-duty-desk"


class Receiver:
    """Answers with the scripted statuses in turn (then 200); `hang` holds answers until set."""

    def __init__(self, statuses=()):
        self.statuses = list(statuses)
        self.requests: list[tuple[str, dict, bytes]] = []
        self.release = threading.Event()
        self.release.set()
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    receiver.requests.append((self.path, dict(self.headers), body))
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                receiver.release.wait(60)
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def bodies(self) -> list[dict]:
        with self.lock:
            return [json.loads(body) for _, _, body in self.requests]

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def start_notifier(stack, rules: Path, log: Path) -> subprocess.Popen:
    with open(log, "ab") as fh:
        return subprocess.Popen(
            [sys.executable, "-m", "cityops.deploy.cli", "notify"],
            env={**os.environ, **svc.worker_env(stack.settings), "CITYOPS_RULES_FILE": str(rules)},
            stdout=fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def rules_file(tmp_path: Path, url: str, **extra) -> Path:
    lines = ["[[notify]]", 'kind = "webhook"', f'url = "{url}"', f'secret = "{SECRET}"',
             'name = "desk"', "backoff_seconds = 0.05"]  # fmt: skip
    lines += [f"{k} = {json.dumps(v)}" for k, v in extra.items()]
    path = tmp_path / "rules.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def stack(request, services, tmp_path):
    s = make_stack(request, services.bootstrap, services.clickhouse, tmp_path / "home")
    procs: list[subprocess.Popen] = []
    s.procs = procs
    yield s
    for proc in procs:
        stop(proc)
    s.stop()
    s.ch.disconnect()


def attempts(stack, incident_id: str) -> list[tuple]:
    return stack.q(
        "SELECT notification_id, trigger, target, attempt, status, http_status, error "
        "FROM {db}.notifications WHERE incident_id = %(i)s ORDER BY at, attempt",
        {"i": incident_id},
    )


def changed(incident_id: str, kinds: list[str], severity: int = 2, **data) -> bytes:
    """A city.incident.changed.v1 as the engine writes it (streams/incidents/out.py)."""
    transitions = [{"kind": k, "seq": i + 1, "level": "grid"} for i, k in enumerate(kinds)]
    return json.dumps(
        {
            "specversion": "1.0",
            "id": f"{incident_id}:{len(kinds)}",
            "source": "/platform/cityops",
            "type": "city.incident.changed.v1",
            "subject": incident_id,
            "data": {
                "incident_id": incident_id,
                "kinds": kinds,
                "transitions": transitions,
                "status": "dispatched",
                "level": "grid",
                "district": "320105",
                "street": "320105001",
                "category": "road_damage",
                "severity": severity,
                "title": "井盖缺失",
                **data,
            },
        }  # fmt: skip
    ).encode()


def publish(stack, *values: bytes) -> None:
    """To one partition, in order (the notifier handles a partition's updates in order)."""
    producer = KafkaProducer(bootstrap_servers=stack.settings.bootstrap)
    try:
        for value in values:
            producer.send(Topics(stack.settings.topic_prefix).incidents, value, partition=0)
        producer.flush(30)
    finally:
        producer.close()


def wait_for(what, check, proc, log, timeout=60):
    def alive_and_check():
        if proc.poll() is not None:
            pytest.fail(f"notifier exited ({proc.returncode}):\n{svc.log_tail(log, 30)}")
        return check()

    return wait_until(
        alive_and_check, timeout, what, interval=0.2, ignoring=(Exception,),
        details=lambda: f"notifier log:\n{svc.log_tail(log, 30)}",
    )  # fmt: skip


def test_an_extreme_incident_notifies_once_with_a_valid_signature(stack, receiver, tmp_path):
    log = tmp_path / "notifier.log"
    # The engine clock runs fast here: deadlines pass within seconds (breached, escalated).
    rules = rules_file(tmp_path, receiver.url, on=["extreme"])
    stack.procs.append(notifier := start_notifier(stack, rules, log))
    stack.start()
    report = a_report("gas_leak", 4)
    stack.send(report)
    incident_id = incident_of(stack, report["id"])
    wait_for("one delivery", lambda: [a[4] for a in attempts(stack, incident_id)] == ["delivered"],
             notifier, log)  # fmt: skip
    [(path, headers, body)] = receiver.requests
    assert path == "/hook"
    assert verify_signature(SECRET, body, headers[SIGNATURE_HEADER])
    assert not verify_signature("another-departments-secret", body, headers[SIGNATURE_HEADER])
    sent = json.loads(body)
    assert sent["incident_id"] == incident_id and sent["trigger"] == "extreme"
    assert sent["district"] == "320105" and sent["severity"] == 4
    assert sent["url"].endswith(f"/incidents/{incident_id}")
    # The incident page's timeline shows the attempt, naming the target, never its address.
    page = str(details(Backend(stack.settings), incident_id, None).to_plotly_json())
    assert "tl-notification" in page and "desk" in page and "notify-delivered" in page
    assert receiver.url.split("/hook")[0] not in page and SECRET not in page
    # The same update again (a redelivery), then another incident's: once the second is
    # delivered the first was handled too (one partition, in order), and it sent nothing.
    stored = stack.q(
        "SELECT count() FROM {db}.notifications WHERE incident_id = %(i)s", {"i": incident_id}
    )
    other = f"320105001-{uuid.uuid4().hex[:16]}"
    publish(stack, changed(incident_id, ["opened"], severity=4), changed(other, ["opened"], 4))
    wait_for("the marker's delivery", lambda: attempts(stack, other), notifier, log)
    assert [b["incident_id"] for b in receiver.bodies()] == [incident_id, other]
    assert (
        stack.q(
            "SELECT count() FROM {db}.notifications WHERE incident_id = %(i)s", {"i": incident_id}
        )
        == stored
    )


def test_5xx_is_retried_until_delivered_and_every_attempt_is_stored(stack, receiver, tmp_path):
    receiver.statuses = [500, 500, 200]
    log = tmp_path / "notifier.log"
    stack.procs.append(notifier := start_notifier(stack, rules_file(tmp_path, receiver.url), log))
    incident_id = f"320105001-{uuid.uuid4().hex[:16]}"
    publish(stack, changed(incident_id, ["sla_breached"]))
    wait_for("three attempts", lambda: len(attempts(stack, incident_id)) == 3, notifier, log)
    rows = attempts(stack, incident_id)
    assert [(r[3], r[4], r[5]) for r in rows] == [
        (1, "retry", 500), (2, "retry", 500), (3, "delivered", 200),
    ]  # fmt: skip
    assert {r[0] for r in rows} == {f"{incident_id}:breached:1"} and rows[0][2] == "desk"
    assert len(receiver.requests) == 3
    assert all(verify_signature(SECRET, b, h[SIGNATURE_HEADER]) for _, h, b in receiver.requests)


def test_a_4xx_is_recorded_as_failed_and_not_retried(stack, receiver, tmp_path):
    receiver.statuses = [400]
    log = tmp_path / "notifier.log"
    stack.procs.append(notifier := start_notifier(stack, rules_file(tmp_path, receiver.url), log))
    incident_id = f"320105001-{uuid.uuid4().hex[:16]}"
    marker = f"320105001-{uuid.uuid4().hex[:16]}"
    publish(stack, changed(incident_id, ["opened"], severity=4), changed(marker, ["opened"], 4))
    wait_for("the marker's delivery", lambda: attempts(stack, marker), notifier, log)
    [row] = attempts(stack, incident_id)
    assert row[3:6] == (1, "failed", 400) and row[6].startswith("HTTP 400")
    assert [b["incident_id"] for b in receiver.bodies()] == [incident_id, marker]


def test_the_engine_keeps_storing_while_the_receiver_hangs(stack, receiver, tmp_path):
    receiver.release.clear()  # every answer waits
    log = tmp_path / "notifier.log"
    rules = rules_file(tmp_path, receiver.url, timeout_seconds=60, on=["extreme"])
    stack.procs.append(notifier := start_notifier(stack, rules, log))
    stack.start()
    first = a_report("gas_leak", 4)
    stack.send(first)
    incident_of(stack, first["id"])
    wait_for("the receiver to be hanging", lambda: receiver.requests, notifier, log)
    later = [a_report("noise", 4, title=f"later {i}") for i in range(20)]
    stack.send(*later)
    ids = [r["id"] for r in later]
    stack.wait(
        "the later reports stored while the receiver hangs",
        lambda: (
            stack.q(
                "SELECT uniqExact(id) FROM {db}.events WHERE id IN %(ids)s", {"ids": tuple(ids)}
            )[0][0]
            == len(ids)
        ),  # fmt: skip
    )
    opened = {
        row[0]
        for row in stack.q(
            "SELECT incident_id FROM {db}.events WHERE id IN %(ids)s",
            {"ids": (first["id"], *ids)},
        )
    }
    stack.wait(
        "their incidents stored",
        lambda: stack.q(
            "SELECT uniqExact(incident_id) FROM {db}.incidents WHERE incident_id IN %(i)s",
            {"i": tuple(opened)},
        )[0][0] == len(opened) > 1,
    )  # fmt: skip
    assert len(receiver.requests) == 1 and not receiver.release.is_set()
    assert not stack.q("SELECT count() FROM {db}.notifications")[0][0]  # still in its 1st attempt
    receiver.release.set()
    wait_for(
        "every opened extreme incident notified",
        lambda: stack.q(
            "SELECT uniqExact(incident_id) FROM {db}.notifications WHERE status = 'delivered'"
        )[0][0] == len(opened),
        notifier, log, timeout=120,
    )  # fmt: skip


def test_a_departments_title_cannot_add_links_or_mentions_to_a_robot_message(
    stack, receiver, tmp_path
):
    """From the attacker's side: a department puts markdown and a mention into a report's title;
    the WeCom group sees it as text, with the platform's link the only link."""
    rules = tmp_path / "rules.toml"
    rules.write_text(
        f'[[notify]]\nkind = "wecom"\nurl = "{receiver.url}?key=K"\non = ["extreme"]\n'
    )
    log = tmp_path / "notifier.log"
    stack.procs.append(notifier := start_notifier(stack, rules, log))
    stack.start()
    report = a_report("gas_leak", 4, title="燃气泄漏 [领奖](http://evil.example) <@all> **紧急**")
    stack.send(report)
    incident_id = incident_of(stack, report["id"])
    wait_for("the robot message", lambda: attempts(stack, incident_id), notifier, log)
    [(path, _, body)] = receiver.requests
    assert path == "/hook?key=K"
    content = json.loads(body)["markdown"]["content"]
    assert "燃气泄漏" in content
    assert "](http://evil.example)" not in content and "<@all>" not in content
    assert "**紧急**" not in content and content.count("](") == 1
