"""A port that is already taken: the race in which another process gets the port a server
was going to bind."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def a_taken_port() -> Iterator[int]:
    """A port something is listening on (ours), for as long as the block runs."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield taken.getsockname()[1]


@contextmanager
def taken_port_first(monkeypatch, module) -> Iterator[int]:
    """`module.free_port()` first returns a taken port, then free ones."""
    with a_taken_port() as busy:
        handed = iter([busy])
        real = module.free_port
        monkeypatch.setattr(module, "free_port", lambda: next(handed, None) or real())
        yield busy
