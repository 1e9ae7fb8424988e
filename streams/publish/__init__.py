"""How departments put events on the bus: the Python SDK, `cityops publish`, the HTTP gateway and
the city simulator. Everything here validates with schemas/events.py before it sends."""
