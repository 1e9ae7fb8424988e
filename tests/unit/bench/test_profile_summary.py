from cityops.bench.profile import summarise


def test_samples_are_summarised_by_stage_and_leaf():
    lines = [
        "main (a.py:1);Engine.apply (engine.py:9);step (logic.py:3) 6",
        "main (a.py:1);Runtime._land (agent.py:5);ClickHouseWriter.flush (writer.py:2) 3",
        "thread (t.py:1);EpollSelector.select (selectors.py:468) 1",
        "garbage without a count",
    ]
    result = summarise(lines)
    assert result["samples"] == 10
    stages = result["stages_percent"]
    assert stages["applying bundles (decisions, rows, messages)"] == 60.0
    assert stages["ClickHouse inserts"] == 30.0
    assert stages["waiting (event loop select)"] == 10.0
    assert next(iter(result["top_functions_percent"])) == "step (logic.py:3)"


def test_no_samples():
    assert summarise([]) == {"samples": 0}
