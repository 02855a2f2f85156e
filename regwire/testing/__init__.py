"""Test helpers for regwire and its users: an in-memory registry and a fake network."""

from .layouts import MemoryFiles, memory_layout
from .model import AuthMode, ModelRegistry, sha256
from .network import FAULTS, FakeClock, FakeNetwork, Fault
from .server import LoopbackServer, serve_model
from .writes import Quirks

__all__ = [
    "FAULTS",
    "AuthMode",
    "FakeClock",
    "FakeNetwork",
    "Fault",
    "LoopbackServer",
    "MemoryFiles",
    "ModelRegistry",
    "Quirks",
    "memory_layout",
    "serve_model",
    "sha256",
]
