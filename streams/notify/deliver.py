"""One notification's delivery: the attempt itself (an HTTP POST) and the pure decisions around it
— what an answer means, how long to wait before the next attempt, when to give up.

- 2xx: delivered — except a WeCom / DingTalk answer whose JSON `errcode` is not 0 (the robots
  answer HTTP 200 with an error code; e.g. a bad signature or key): failed, not retried.
- 5xx, or no answer (refused connection, timeout, reset): retried after `backoff_seconds`,
  doubled per attempt up to `max_backoff_seconds`, until `max_attempts` attempts were made:
  then given up.
- any other status (4xx, 3xx): failed, not retried (the request itself is wrong).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass

DELIVERED, RETRY, FAILED, GAVE_UP = "delivered", "retry", "failed", "gave_up"
FINAL = frozenset({DELIVERED, FAILED, GAVE_UP})
MAX_ERROR_CHARS = 300


@dataclass(frozen=True)
class Answer:
    status: int  # the HTTP status; 0 when there was no answer
    error: str  # "" when the receiver answered 2xx
    body: bytes = b""


def outcome(kind: str, answer: Answer, attempt: int, max_attempts: int) -> str:
    """delivered | retry | failed | gave_up for one attempt's answer."""
    if 200 <= answer.status < 300:
        if kind in ("wecom", "dingtalk") and robot_error(answer.body):
            return FAILED
        return DELIVERED
    if answer.status == 0 or answer.status >= 500:
        return RETRY if attempt < max_attempts else GAVE_UP
    return FAILED


def robot_error(body: bytes) -> str:
    """A robot's `errcode`/`errmsg` when it is not 0 ("" otherwise, also for a non-JSON body)."""
    try:
        answer = json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return ""
    if isinstance(answer, dict) and answer.get("errcode", 0) not in (0, "0"):
        return f"errcode {answer.get('errcode')}: {str(answer.get('errmsg', ''))[:200]}"
    return ""


def backoff(attempt: int, base: float, cap: float) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based): base, 2·base, 4·base …"""
    return min(cap, base * (2 ** (attempt - 1)))


def error_text(kind: str, answer: Answer) -> str:
    if 200 <= answer.status < 300 and kind in ("wecom", "dingtalk"):
        return robot_error(answer.body)
    return answer.error[:MAX_ERROR_CHARS]


def post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> Answer:
    """One POST. Never raises for a network failure: it becomes Answer(0, reason). The error text
    never includes the url (a robot's url holds its key)."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return Answer(response.status, "", response.read(65536))
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, f"HTTP {exc.code} {exc.reason}", _read(exc))
    except urllib.error.URLError as exc:
        return Answer(0, f"no answer: {type(exc.reason).__name__}: {exc.reason}")
    except (OSError, ValueError) as exc:  # timeouts, resets, bad status lines
        return Answer(0, f"no answer: {type(exc).__name__}: {exc}")


def _read(exc: urllib.error.HTTPError) -> bytes:
    try:
        return exc.read(65536)
    except OSError:
        return b""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer (3xx: failed), not followed: the signed body goes where the
    operator configured it, nowhere else."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: D102
        return None


# Proxies come from the environment (https_proxy, no_proxy), as for any urllib client.
_OPENER = urllib.request.build_opener(_NoRedirect)
