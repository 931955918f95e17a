"""Which machine a measurement ran on: speed tables print it, as their numbers (and the GEMM-rate ratio)
depend on the CPU as much as on the code."""

from __future__ import annotations

import os
import platform

import torch

# CPU features that decide how fast the matrix products run (fp32 vector width, bf16 units)
MATRIX_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")


def _cpuinfo(path: str) -> dict[str, str]:
    """The first processor's entries of a /proc/cpuinfo file (empty where there is none)."""
    info: dict[str, str] = {}
    try:
        with open(path) as f:
            for line in f:
                if not line.strip():
                    break
                key, _, value = line.partition(":")
                info[key.strip()] = value.strip()
    except OSError:
        pass
    return info


def describe(cpuinfo: str = "/proc/cpuinfo") -> str:
    """One line: CPU model, core count, the matrix-relevant CPU flags, torch version and its CPU kernels."""
    info = _cpuinfo(cpuinfo)
    model = info.get("model name") or platform.processor() or platform.machine()
    flags = set(info.get("flags", "").split())
    present = " ".join(f for f in MATRIX_FLAGS if f in flags) or "none listed"
    capability = torch.backends.cpu.get_cpu_capability()
    return f"{model}, {os.cpu_count()} cores, flags: {present}; torch {torch.__version__} ({capability} kernels)"
