"""`cityops up` starts the notifier only when the rules file names targets, and refuses a bad
[[notify]] entry with its reason — never with the entry's url or secret."""

from __future__ import annotations

import pytest

from cityops.deploy.services import StackError
from cityops.deploy.stack import notify_targets


def test_no_targets_no_notifier(tmp_path, monkeypatch):
    monkeypatch.setenv("CITYOPS_RULES_FILE", str(tmp_path / "absent.toml"))
    assert notify_targets() == 0


def test_targets_are_counted(tmp_path, monkeypatch):
    rules = tmp_path / "rules.toml"
    rules.write_text('[[notify]]\nkind = "wecom"\nurl = "https://qyapi.example/send?key=K1"\n')
    monkeypatch.setenv("CITYOPS_RULES_FILE", str(rules))
    assert notify_targets() == 1


def test_a_bad_entry_stops_up_without_showing_its_secret(tmp_path, monkeypatch):
    rules = tmp_path / "rules.toml"
    rules.write_text(
        '[[notify]]\nkind = "webhook"\nurl = "https://h.example/x?key=K2"\n'
        'secret = "TOPSECRET"\non = ["sunset"]\n'
    )
    monkeypatch.setenv("CITYOPS_RULES_FILE", str(rules))
    with pytest.raises(StackError) as err:
        notify_targets()
    assert "sunset" in str(err.value)
    assert "TOPSECRET" not in str(err.value) and "K2" not in str(err.value)
