"""The unit tier: the pure core, with no database, no AWS emulation, no simulator and no sockets.

Any attempt to open a connection fails the test, so nothing slow or external can creep in here.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from hypothesis import settings

# Derandomized: the same examples on every run and machine, so CI cannot pass or fail by luck.
settings.register_profile("unit", derandomize=True, deadline=None, max_examples=100)
settings.load_profile("unit")


@pytest.fixture(autouse=True)
def no_sockets(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a unit test tried to open a network connection: it belongs in tests/integration")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    yield
