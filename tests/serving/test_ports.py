"""Ports: a green server whose alternate port was taken meanwhile still starts, on another free port."""

from __future__ import annotations

import socket
from pathlib import Path

from mathchat.settings import VLLMSettings
from serving.local_app import isolated_settings
from serving.ports import free_port, port_is_free
from serving.vllm_supervisor import VLLMProcess, VLLMSupervisor


def test_a_bound_port_is_not_free_and_a_released_one_is() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert not port_is_free("127.0.0.1", port)
    assert port_is_free("127.0.0.1", port)
    assert port_is_free("127.0.0.1", free_port())


def test_blue_and_green_alternate_and_a_taken_green_port_is_replaced(tmp_path: Path) -> None:
    base = free_port()
    settings = isolated_settings(tmp_path, vllm=VLLMSettings(port=base, logs_dir=tmp_path))
    supervisor = VLLMSupervisor(settings)
    assert supervisor._alloc_port() == base  # the first server takes the configured port
    supervisor.active = VLLMProcess(settings, "/m", base, "blue")
    if port_is_free("127.0.0.1", base + 1):
        assert supervisor._alloc_port() == base + 1
    with socket.socket() as squatter:  # something else listens on the green port
        squatter.bind(("127.0.0.1", base + 1))
        squatter.listen()
        green = supervisor._alloc_port()
        assert green not in (base, base + 1) and port_is_free("127.0.0.1", green)
    supervisor.active = VLLMProcess(settings, "/m", green, "green")
    assert supervisor._alloc_port() == base  # and the next switch goes back to the configured port
