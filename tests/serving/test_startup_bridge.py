"""The startup bridge: transformers answers until the supervised vLLM server is first ready, then vLLM does."""

from __future__ import annotations

import threading

import pytest

from mathchat.sampling import SamplingSettings
from mathchat.settings import ServerSettings, VLLMSettings
from serving.engine import EngineError, collect_stream
from serving.router import Endpoint, EndpointRouter
from serving.startup_bridge import BridgedEngine
from tests.fakes import FakeEngine

QUESTION = [{"role": "user", "content": "What is 3 + 4?"}]
GREEDY = SamplingSettings(temperature=0.0, max_tokens=16)
ENDPOINT = Endpoint("http://127.0.0.1:9", "base", "base")


class NotReadyPrimary(FakeEngine):
    """The supervised vLLM engine: says "starting" until the router has an endpoint."""

    backend = "vllm"

    def __init__(self, router: EndpointRouter) -> None:
        super().__init__(["vLLM answers."], checkpoint_id="base")
        self.router = router

    def stream_chat(self, messages, sampling):  # noqa: ANN001, ANN201
        if not self.router.has_endpoint():
            raise EngineError("The model server is starting; please try again in a minute.")
        return super().stream_chat(messages, sampling)


def bridged(load_bridge) -> tuple[BridgedEngine, EndpointRouter]:  # noqa: ANN001
    router = EndpointRouter()
    engine = BridgedEngine(NotReadyPrimary(router), router, load_bridge)
    engine.wait_loaded(30)
    return engine, router


def test_bridge_answers_until_vllm_is_ready_then_vllm_does() -> None:
    bridge = FakeEngine(["Bridge answers."], checkpoint_id="base")
    engine, router = bridged(lambda: bridge)
    assert engine.state == "bridging" and engine.backend == "fake"
    text, final = collect_stream(engine.stream_chat(QUESTION, GREEDY))
    assert text == "Bridge answers." and final.checkpoint_id == "base"
    assert engine.health().ok and "starting" in engine.health().detail
    assert [s.text for s in engine.sample(QUESTION, GREEDY, n=2)] == ["Bridge answers."] * 2

    router.switch(ENDPOINT)
    text, _ = collect_stream(engine.stream_chat(QUESTION, GREEDY))
    assert text == "vLLM answers." and engine.backend == "vllm" and engine.state == "done"
    assert engine._bridge is None, "the bridge's weights are dropped once vLLM serves"


def test_answer_started_on_the_bridge_finishes_there_when_vllm_takes_over() -> None:
    engine, router = bridged(lambda: FakeEngine(["one two three four"], checkpoint_id="base"))
    stream = engine.stream_chat(QUESTION, GREEDY)
    first = next(stream)
    router.switch(ENDPOINT)  # vLLM becomes ready mid-answer
    rest, final = collect_stream(stream)
    assert first.delta + rest == "one two three four" and final.done


def test_a_bridge_that_cannot_load_leaves_students_waiting_for_vllm(caplog) -> None:
    def broken():  # noqa: ANN202
        raise OSError("no weights here")

    engine, router = bridged(broken)
    assert engine.state == "failed"
    with pytest.raises(EngineError, match="starting"):
        collect_stream(engine.stream_chat(QUESTION, GREEDY))
    router.switch(ENDPOINT)
    with caplog.at_level("INFO", logger="serving.startup_bridge"):
        for _ in range(3):
            assert collect_stream(engine.stream_chat(QUESTION, GREEDY))[0] == "vLLM answers."
    assert engine.state == "failed" and "released" not in caplog.text, "no bridge to release, and no log per call"


def test_vllm_taking_over_is_logged_once(caplog) -> None:
    engine, router = bridged(lambda: FakeEngine(["Bridge answers."], checkpoint_id="base"))
    router.switch(ENDPOINT)
    with caplog.at_level("INFO", logger="serving.startup_bridge"):
        for _ in range(3):
            collect_stream(engine.stream_chat(QUESTION, GREEDY))
    assert caplog.text.count("the startup bridge is released") == 1


def test_no_bridge_is_loaded_when_vllm_is_already_ready() -> None:
    loads: list[int] = []
    router = EndpointRouter(ENDPOINT)
    engine = BridgedEngine(NotReadyPrimary(router), router, lambda: loads.append(1) or FakeEngine())
    engine.wait_loaded(30)
    assert engine.state == "done" and loads == []


def test_bridge_ready_after_vllm_is_never_used() -> None:
    release = threading.Event()
    router = EndpointRouter()

    def slow_bridge():  # noqa: ANN202
        release.wait(30)
        return FakeEngine(["stale bridge"])

    engine = BridgedEngine(NotReadyPrimary(router), router, slow_bridge)
    router.switch(ENDPOINT)
    assert collect_stream(engine.stream_chat(QUESTION, GREEDY))[0] == "vLLM answers."
    release.set()
    engine.wait_loaded(30)
    assert engine.state == "done" and engine._bridge is None
    assert collect_stream(engine.stream_chat(QUESTION, GREEDY))[0] == "vLLM answers."


@pytest.mark.vllm
def test_app_answers_with_transformers_while_its_vllm_cannot_start(tmp_path, default_model_path) -> None:
    """The real parts: a supervised vLLM that never becomes ready (a bad flag), the default model in
    transformers as the bridge; the student is answered, under the live checkpoint, and health says why."""
    from serving.factory import start_policy
    from tests.conftest import make_settings
    from serving.local_app import free_port

    settings = make_settings(tmp_path, server=ServerSettings(backend="vllm"), vllm=VLLMSettings(
        port=free_port(), bridge="on", logs_dir=tmp_path / "logs", extra_args=["--no-such-flag"],
        restart_backoff_s=5.0))
    runtime = start_policy(settings, default_model_path, "base", wait=False)
    try:
        assert isinstance(runtime.engine, BridgedEngine)
        runtime.engine.wait_loaded(300)
        assert runtime.engine.state == "bridging"
        text, final = collect_stream(runtime.engine.stream_chat(QUESTION, GREEDY))
        assert text.strip() and final.done and final.checkpoint_id == "base"
        health = runtime.engine.health()
        assert health.ok and health.backend == "transformers" and "starting" in health.detail
    finally:
        runtime.close()
