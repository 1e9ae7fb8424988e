"""The local stack's secrets file: made once, private from the start, completed when older."""

from __future__ import annotations

import json
import stat

from cityops.private_files import stack_secrets


def test_secrets_are_made_once_in_a_private_file(tmp_path):
    made = stack_secrets(tmp_path)
    path = tmp_path / "secrets.json"
    assert set(made) == {"kiosk_token", "secret_key", "reporter_secret"}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stack_secrets(tmp_path) == made


def test_an_older_file_gets_the_reporter_secret_and_keeps_the_rest(tmp_path):
    path = tmp_path / "secrets.json"
    path.write_text(json.dumps({"kiosk_token": "k", "secret_key": "s"}))
    path.chmod(0o600)
    values = stack_secrets(tmp_path)
    assert values["kiosk_token"] == "k" and values["secret_key"] == "s"
    assert len(values["reporter_secret"]) >= 32
    assert json.loads(path.read_text()) == values
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
