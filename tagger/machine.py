"""Which machine a measurement ran on, and how busy others kept it: speed tables print the one, comparison
reports flag speeds timed under the other, as their numbers (and the GEMM-rate ratio) depend on the CPU
as much as on the code."""

from __future__ import annotations

import os
import platform
import time

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


def busy_cpu_seconds(stat: str = "/proc/stat") -> float | None:
    """CPU time the whole machine has spent busy since boot, all processes and cores together (user, nice,
    system, irq, softirq, steal; not idle or I/O wait); None where the file cannot be read (not Linux)."""
    try:
        with open(stat) as f:
            fields = f.readline().split()
        ticks = [int(fields[i]) for i in (1, 2, 3, 6, 7, 8)]
    except (OSError, ValueError, IndexError):
        return None
    return sum(ticks) / os.sysconf("SC_CLK_TCK")


class OtherLoad:
    """How many cores other processes kept busy while a block of code ran (a speed measurement), as
    ``cores`` after the block: the machine's busy CPU time less this process's own, over the wall time.
    None where the machine's CPU time cannot be read."""

    def __init__(self, stat: str = "/proc/stat"):
        self.stat = stat
        self.cores: float | None = None

    def __enter__(self) -> OtherLoad:
        self._busy, self._own, self._wall = busy_cpu_seconds(self.stat), time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        busy, wall = busy_cpu_seconds(self.stat), time.perf_counter() - self._wall
        if busy is None or self._busy is None or wall <= 0:
            return
        others = (busy - self._busy) - (time.process_time() - self._own)
        self.cores = max(0.0, others / wall)
