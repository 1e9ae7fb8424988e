import gc
import threading

from cityops.streams.tuning import YOUNG_THRESHOLD, _malloc_trim, start_heap_trimmer, tune_gc


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


def test_the_heap_trimmer_trims_again_and_again_in_the_background():
    calls: list[int] = []
    enough = threading.Event()

    def trim(pad: int) -> int:
        calls.append(pad)
        if len(calls) >= 3:
            enough.set()
        return 1

    thread = start_heap_trimmer(0.01, trim)
    assert thread is not None and thread.daemon
    assert enough.wait(5)
    assert calls[:3] == [0, 0, 0]


def test_glibcs_malloc_trim_is_what_the_worker_calls():
    trim = _malloc_trim()  # these machines run glibc (Debian)
    assert trim is not None
    assert trim(0) in (0, 1)
