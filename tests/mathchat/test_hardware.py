"""dtype "auto": bf16 only where the hardware runs it natively, and every consumer follows the same choice."""

from __future__ import annotations

from pathlib import Path

import pytest

from mathchat import hardware
from mathchat.settings import Settings
from serving.vllm_supervisor import build_vllm_command
from training.config import SFTTrainSettings
from training.trainer_common import use_bf16


@pytest.mark.parametrize(("flags", "expected"), [
    ({"sse2", "avx", "avx2", "fma", "f16c"}, "float32"),  # AVX2-only EPYC: bf16 emulated
    ({"avx2", "avx512f", "avx512bw", "avx512_vnni"}, "float32"),  # AVX-512 without bf16 instructions: emulated
    ({"avx2", "avx512f", "avx512bw", "avx512_bf16"}, "bfloat16"),
    ({"avx2", "amx_bf16", "amx_tile"}, "bfloat16"),
    (set(), "float32"),
])
def test_cpu_dtype_follows_native_bf16(flags: set[str], expected: str) -> None:
    assert hardware.resolve_dtype("auto", gpu=False, flags=frozenset(flags)) == expected


def test_explicit_dtype_always_wins() -> None:
    assert hardware.resolve_dtype("bfloat16", gpu=False, flags=frozenset({"avx2"})) == "bfloat16"
    assert hardware.resolve_dtype("float32", gpu=True) == "float32"


def test_cpu_flags_parse_proc_cpuinfo(monkeypatch, tmp_path: Path) -> None:
    fake = tmp_path / "cpuinfo"
    fake.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f\nbogomips\t: 1\n")
    real_path = hardware.Path
    monkeypatch.setattr(hardware, "Path", lambda p: fake if p == "/proc/cpuinfo" else real_path(p))
    hardware.cpu_flags.cache_clear()
    try:
        assert hardware.cpu_flags() == frozenset({"fpu", "avx2", "avx512f"})
    finally:
        hardware.cpu_flags.cache_clear()


@pytest.mark.parametrize("native", [True, False])
def test_serving_and_training_agree_with_the_machine(monkeypatch, native: bool) -> None:
    monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset({"avx512_bf16"} if native else {"avx2", "avx512f"}))
    monkeypatch.delenv("MATHCHAT_MODEL__DTYPE", raising=False)  # the machine decides, not the caller's override
    cmd = build_vllm_command(Settings(), "/m", 9001, "c", gpu=False)
    assert cmd[cmd.index("--dtype") + 1] == ("bfloat16" if native else "float32")
    import torch

    if not torch.cuda.is_available():
        assert use_bf16(SFTTrainSettings()) is native
    assert use_bf16(SFTTrainSettings(bf16=False)) is False
