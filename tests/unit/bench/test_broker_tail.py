"""`python -m cityops.bench.broker_tail`: bad arguments get a message and exit 2, before any
broker is started."""

import pytest

from cityops.bench import broker_tail


@pytest.mark.parametrize(
    "argv",
    [["--rate", "0"], ["--seconds", "5"], ["--consumers", "-1"], ["--min-bytes", "0"]],
)
def test_bad_arguments_get_a_message(argv, capsys, monkeypatch):
    monkeypatch.setattr(broker_tail.svc, "start_broker", lambda *a: pytest.fail("started"))
    with pytest.raises(SystemExit) as ended:
        broker_tail.main(argv)
    assert ended.value.code == 2
    assert "--rate > 0" in capsys.readouterr().err
