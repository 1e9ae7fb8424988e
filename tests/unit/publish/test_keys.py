"""API keys: stored hashed and private, looked up by the key, never stored in clear."""

from __future__ import annotations

import stat

from streams.publish.keys import KeyStore, create_key, create_key_cli, keys_file


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
