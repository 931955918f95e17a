"""The machine line that speed tables print, and the measure of other processes' load during a timing."""

import os
import platform
import subprocess
import sys
import time

import pytest
import torch

from tagger.machine import OtherLoad, describe

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


def _stat(path, busy_ticks: int) -> None:
    """A /proc/stat whose first line gives `busy_ticks` of user time (and a large idle count)."""
    path.write_text(f"cpu  {busy_ticks} 0 0 900000 0 0 0 0 0 0\ncpu0 1 0 0 1 0 0 0 0 0 0\n")


def test_other_load_counts_other_processes_busy_time_per_second(tmp_path):
    stat, tick = tmp_path / "stat", os.sysconf("SC_CLK_TCK")
    _stat(stat, 1000)
    with OtherLoad(str(stat)) as load:
        time.sleep(0.5)
        _stat(stat, 1000 + tick)  # one CPU-second of others' work in ~0.5 s: two cores busy
    assert load.cores == pytest.approx(2.0, rel=0.15)


def test_other_load_leaves_out_this_process_own_work(tmp_path):
    stat, tick = tmp_path / "stat", os.sysconf("SC_CLK_TCK")
    _stat(stat, 1000)
    with OtherLoad(str(stat)) as load:
        t0 = time.process_time()
        while time.process_time() - t0 < 0.3:  # the timed work itself keeps a core busy
            pass
        _stat(stat, 1000 + round((time.process_time() - t0) * tick))
    assert load.cores == pytest.approx(0.0, abs=0.1)


@pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="reads Linux's /proc/stat")
def test_other_load_sees_a_busy_process_beside_it():
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)  # started
        with OtherLoad() as load:
            time.sleep(1.0)
    finally:
        spinner.kill()
        spinner.wait()
    assert load.cores >= 0.5


def test_other_load_is_none_where_the_machine_time_cannot_be_read(tmp_path):
    with OtherLoad(str(tmp_path / "missing")) as load:
        pass
    assert load.cores is None
    (tmp_path / "garbled").write_text("cpu  x y\n")
    with OtherLoad(str(tmp_path / "garbled")) as load:
        pass
    assert load.cores is None
