"""The benchmarks behind `cityops bench NAME`: one module per suite, results in bench/results/.

Every suite takes its events from the simulator (streams/publish/simulator/). This package sits
at the launcher's level: it may import deploy/, streams/, dashboard/, storage/ and schemas/, and
nothing below it imports bench/.
"""
