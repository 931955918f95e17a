"""The machine line that speed tables print."""

import os
import platform

import torch

from tagger.machine import describe

CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse2 avx2 fma avx512f avx512_bf16 amx_bf16 amx_tile amx_int8

processor\t: 1
model name\t: Something Else
"""


def test_machine_line_names_the_first_cpu_its_matrix_flags_and_torch(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text(CPUINFO)
    line = describe(str(path))
    assert line.startswith("Intel(R) Xeon(R) Platinum 8480+, ")
    assert "Something Else" not in line
    assert "flags: avx2 fma avx512f avx512_bf16 amx_bf16 amx_tile;" in line  # sse2, amx_int8 not listed
    assert f"{os.cpu_count()} cores" in line and f"torch {torch.__version__}" in line
    assert "\n" not in line


def test_machine_line_without_cpuinfo_still_names_the_architecture(tmp_path):
    line = describe(str(tmp_path / "missing"))
    assert line.startswith(f"{platform.processor() or platform.machine()}, ")
    assert "flags: none listed" in line and f"torch {torch.__version__}" in line
