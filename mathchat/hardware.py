"""What the machine can do fast, decided once and used by serving and training alike.

bf16 halves memory and is the fast path on GPUs and on CPUs with bf16 instructions (AVX512_BF16 or AMX, oneDNN's
bf16 kernels), but elsewhere PyTorch emulates it: measured on a 2-core AVX2 EPYC, a 512x512 bf16 matmul ran at
1.3 GFLOP/s against 51 for fp32, vLLM decoded 17.6 tok/s in bf16 against 60.9 in fp32, and one DPO
step took 107 s. AVX-512 alone is not enough: on a 2-core Intel Xeon with avx512f/bw/vnni but no avx512_bf16
(2026-12-06) a 512x512 matmul ran at 52 GFLOP/s in bf16 against 200 in fp32, and SmolLM2-135M's forward and
backward pass on 2 x 256 tokens took 8.2 s against 3.7 s. ``dtype = "auto"`` therefore picks bf16 only where it is
native.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

FAST_BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
"""Any of these /proc/cpuinfo flags: PyTorch/oneDNN and vLLM-CPU run bf16 natively."""


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU feature flags (empty where /proc/cpuinfo is missing, e.g. macOS)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def cpu_bf16_is_fast(flags: frozenset[str] | set[str]) -> bool:
    """Whether bf16 runs natively on a CPU with these flags.

    >>> cpu_bf16_is_fast({"avx2", "fma"}), cpu_bf16_is_fast({"avx2", "avx512f"}), cpu_bf16_is_fast({"avx512_bf16"})
    (False, False, True)
    """
    return bool(FAST_BF16_CPU_FLAGS & set(flags))


def resolve_dtype(setting: str, *, gpu: bool, gpu_bf16: bool = True, flags: frozenset[str] | None = None) -> str:
    """The concrete dtype name for ``setting`` ("auto" or an explicit torch dtype name).

    >>> resolve_dtype("auto", gpu=False, flags=frozenset({"avx2"}))
    'float32'
    >>> resolve_dtype("auto", gpu=False, flags=frozenset({"avx512_bf16"})), resolve_dtype("auto", gpu=True)
    ('bfloat16', 'bfloat16')
    >>> resolve_dtype("auto", gpu=True, gpu_bf16=False), resolve_dtype("float16", gpu=False)
    ('float16', 'float16')
    """
    if setting != "auto":
        return setting
    if gpu:
        return "bfloat16" if gpu_bf16 else "float16"
    return "bfloat16" if cpu_bf16_is_fast(cpu_flags() if flags is None else flags) else "float32"


def has_cuda() -> bool:
    """Whether this process sees a CUDA GPU (torch missing or broken counts as CPU)."""
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:
        return False


def local_dtype(setting: str) -> str:
    """``resolve_dtype`` for this process's device (CUDA if torch sees one)."""
    gpu = has_cuda()
    if not gpu:
        return resolve_dtype(setting, gpu=False)
    import torch

    return resolve_dtype(setting, gpu=True, gpu_bf16=torch.cuda.is_bf16_supported())


def resolve_threads(threads: int | str | None) -> int | None:
    """``auto`` becomes the number of cores this process may run on; ints and None pass through.

    >>> resolve_threads(3), resolve_threads(None), resolve_threads("auto") >= 1
    (3, None, True)
    """
    if threads == "auto":
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return threads  # type: ignore[return-value]
