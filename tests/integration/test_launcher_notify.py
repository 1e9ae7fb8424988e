"""`cityops up` with [[notify]] targets: the notifier is a supervised service of the stack, and a
report published to the stack reaches the operator's receiver, signed."""

from __future__ import annotations

import json

from cityops.deploy import services as svc
from cityops.streams.notify.formats import SIGNATURE_HEADER, verify_signature
from tests.integration.test_engine import a_report
from tests.integration.test_launcher import cityops, stack_env  # noqa: F401 - the fixture
from tests.integration.test_notify import SECRET, Receiver, rules_file
from tests.waiting import wait_until


def test_up_starts_the_notifier_and_an_extreme_report_is_notified(stack_env, tmp_path):  # noqa: F811
    receiver = Receiver()
    try:
        stack_env["CITYOPS_RULES_FILE"] = str(rules_file(tmp_path, receiver.url, on=["extreme"]))
        started = cityops(stack_env, "up", "--detach", "--no-dashboard")
        assert started.returncode == 0, started.stderr
        status = json.loads(cityops(stack_env, "status", "--json").stdout)
        assert status["services"].get("notifier") == "up", status
        assert receiver.url not in json.dumps(status) and SECRET not in json.dumps(status)

        report = a_report("gas_leak", 4)
        events = tmp_path / "events.jsonl"
        events.write_text(json.dumps(report, ensure_ascii=False) + "\n")
        published = cityops(stack_env, "publish", str(events))
        assert published.returncode == 0, published.stderr
        log = tmp_path / "home" / "logs" / "notifier.log"
        wait_until(
            lambda: receiver.requests,
            90,
            "the notification of the extreme report",
            details=lambda: svc.log_tail(log, 20),
        )
        [(_, headers, body)] = receiver.requests
        assert verify_signature(SECRET, body, headers[SIGNATURE_HEADER])
        assert json.loads(body)["trigger"] == "extreme"
    finally:
        assert cityops(stack_env, "down").returncode == 0
        receiver.close()
