"""Drivers carry the core's intents over real I/O: `sync`, `trio` and `asyncio`."""
