import os
import stat
import subprocess
import sys
import textwrap

import pytest

from numpy_bert.utils import atomic_write


def test_atomic_write_replaces_whole_file_and_uses_normal_permissions(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with atomic_write(target, "w", encoding="utf-8") as f:
        f.write("new")
    assert target.read_text() == "new"
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_atomic_write_failure_keeps_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write(target, "w", encoding="utf-8") as f:
            f.write("half")
            raise RuntimeError("killed mid-write")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
def test_keep_freed_memory_removes_the_page_faults_of_a_repeated_allocation():
    # in a fresh process: allocate, touch and free three 10 MB arrays 10 times; count the
    # minor page faults of the last 9 rounds, without and with keep_freed_memory()
    code = textwrap.dedent("""
        import resource, sys
        import numpy as np
        from numpy_bert.utils import keep_freed_memory
        if sys.argv[1] == "keep":
            assert keep_freed_memory()
        def round_():  # three 10 MB arrays, like a step's activations, then all freed
            arrays = [np.empty(2_500_000, np.float32) for _ in range(3)]
            for a in arrays:
                a.fill(1.0)
        round_()
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(9):
            round_()
        print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    """)
    # glibc's defaults are what "default" measures: the allocator's variables of the
    # environment (MALLOC_TRIM_THRESHOLD_, MALLOC_MMAP_THRESHOLD_, GLIBC_TUNABLES, ...)
    # are left out of the child's
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "GLIBC_TUNABLES"))}
    faults = {}
    for mode in ("default", "keep"):
        out = subprocess.run([sys.executable, "-c", code, mode], capture_output=True, text=True, check=True,
                             env=env)
        faults[mode] = int(out.stdout)
    # 30 MB is 7,324 pages: by default glibc trims the freed heap top and each round faults
    # part of them in again (here ~1,600 a round); kept, there are none
    assert faults["default"] > 9 * 1000, faults
    assert faults["keep"] < 500
