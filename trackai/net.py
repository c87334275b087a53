"""The one free-port helper: every local server the project starts (fakes, private Postgres, tests,
benchmarks, the demo) asks the kernel for a free loopback port the same way."""

from __future__ import annotations

import socket


def free_port(host: str = "127.0.0.1") -> int:
    """A port free on ``host`` now (the kernel's choice; a race with another process is possible)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]
