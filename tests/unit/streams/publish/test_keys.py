"""API keys: stored hashed and private, looked up by the key, never stored in clear."""

from __future__ import annotations

import stat

import pytest

from cityops.streams.publish.keys import (
    KeyStore,
    create_key,
    create_key_cli,
    keys_file,
    list_keys,
    revoke_key,
)


class FakeSettings:
    def __init__(self, home):
        self.home = home


def test_a_created_key_is_stored_hashed_in_a_private_file(tmp_path):
    key, record = create_key(tmp_path, "water")
    text = keys_file(tmp_path).read_text()
    assert key not in text and record.key_id in text
    assert stat.S_IMODE(keys_file(tmp_path).stat().st_mode) == 0o600
    store = KeyStore(tmp_path)
    assert store.lookup(key).department == "water"
    assert store.lookup(key + "x") is None
    assert store.lookup(None) is None


def test_a_key_created_later_is_seen_without_restart(tmp_path):
    store = KeyStore(tmp_path)
    assert store.lookup("cok_whatever") is None
    key, _ = create_key(tmp_path, "gas")
    assert store.lookup(key).department == "gas"


def test_the_cli_prints_the_key_once_and_refuses_unknown_departments(tmp_path, capsys):
    assert create_key_cli(FakeSettings(tmp_path), "water") == 0
    out, err = capsys.readouterr()
    assert out.startswith("cok_") and "cok_" not in err
    assert create_key_cli(FakeSettings(tmp_path), "atlantis") == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1


def test_a_key_has_a_scope_and_events_is_the_default(tmp_path):
    events_key, _ = create_key(tmp_path, "water")
    app_key, _ = create_key(tmp_path, "hotline12345", scope="open311")
    store = KeyStore(tmp_path)
    assert store.lookup(events_key).scope == "events"
    assert store.lookup(app_key).scope == "open311"
    with pytest.raises(ValueError):
        create_key(tmp_path, "water", scope="admin")


def test_a_revoked_key_stops_working_at_once_and_stays_listed(tmp_path):
    store = KeyStore(tmp_path)
    key, record = create_key(tmp_path, "water")
    other, _ = create_key(tmp_path, "water")
    assert store.lookup(key) is not None
    assert revoke_key(tmp_path, record.key_id)
    assert store.lookup(key) is None and store.lookup(other) is not None
    assert not revoke_key(tmp_path, record.key_id) and not revoke_key(tmp_path, "nope")
    listed = {k["key_id"]: k for k in list_keys(tmp_path)}
    assert listed[record.key_id]["revoked_at"] and len(listed) == 2
    assert "sha256" not in str(listed) and key not in str(listed)
    assert stat.S_IMODE(keys_file(tmp_path).stat().st_mode) == 0o600
