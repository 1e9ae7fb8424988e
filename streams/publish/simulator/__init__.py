"""The city simulator: realistic report traffic for the Nanjing registry (traffic.py), scenario
surges (scenarios.py), departments answering their tasks (lifecycle.py), the run loop (run.py)."""
