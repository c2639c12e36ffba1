"""Ports for servers are chosen below the kernel's ephemeral range: one from that range (binding
port 0) could be taken as an outgoing connection's local port before the server bound it, and
the server then never started ("moto did not answer", seen with two test processes)."""

from __future__ import annotations

import socket

from drconsole.adapters.oscmd import LISTEN_FROM, _ephemeral_low, free_port


def test_free_ports_are_below_the_ephemeral_range_and_free() -> None:
    low = _ephemeral_low()
    ports = {free_port() for _ in range(50)}
    assert all(LISTEN_FROM <= port < low for port in ports)
    assert len(ports) > 40  # random, not one port again and again
    for port in list(ports)[:5]:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))  # nobody holds it
