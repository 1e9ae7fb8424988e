import gc

from cityops.streams.tuning import YOUNG_THRESHOLD, tune_gc


def test_tune_gc_raises_the_young_threshold_and_keeps_the_collector_on():
    before = gc.get_threshold()
    try:
        tune_gc()
        young, older, oldest = gc.get_threshold()
        assert young == YOUNG_THRESHOLD
        assert older >= 20 and oldest >= 100
        assert gc.isenabled()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
