"""cnnlab.threads: the BLAS and torch thread settings apply inside the block, are restored after it (also after an
exception, also when nested), ``None`` leaves them alone, and the report says what is in effect."""

from __future__ import annotations

import os

import numpy  # noqa: F401 - loads NumPy's BLAS, so that threadpoolctl sees it
import pytest
import torch
from threadpoolctl import threadpool_info

from cnnlab import threads
from cnnlab.threads import blas_threads, thread_report, thread_summary, torch_threads


def _blas_counts() -> list[int]:
    return [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]


def test_numpy_blas_is_visible():
    assert _blas_counts(), "threadpoolctl found no BLAS library behind NumPy"


def test_blas_threads_sets_and_restores():
    before = _blas_counts()
    with blas_threads(1):
        assert _blas_counts() == [1] * len(before)
        with blas_threads(2):
            assert _blas_counts() == [2] * len(before)
        assert _blas_counts() == [1] * len(before)  # the inner block restored the outer setting
    assert _blas_counts() == before


def test_blas_threads_restores_after_an_exception():
    before = _blas_counts()
    with pytest.raises(RuntimeError, match="boom"), blas_threads(1):
        raise RuntimeError("boom")
    assert _blas_counts() == before


def test_torch_threads_sets_and_restores():
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
        with pytest.raises(RuntimeError, match="boom"), torch_threads(2):
            assert torch.get_num_threads() == 2
            raise RuntimeError("boom")
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_none_leaves_the_settings_alone():
    with blas_threads(1), torch_threads(1), blas_threads(None), torch_threads(None):
        assert _blas_counts() == [1] * len(_blas_counts()) and torch.get_num_threads() == 1


@pytest.mark.parametrize("bad", [0, -2, 1.5, True, "4"])
def test_bad_thread_counts_are_value_errors(bad):
    message = "{}: the number of threads must be a positive int or None"
    with pytest.raises(ValueError, match=message.format("blas_threads")), blas_threads(bad):
        pass
    with pytest.raises(ValueError, match=message.format("torch_threads")), torch_threads(bad):
        pass


def test_thread_report_says_what_is_in_effect():
    with blas_threads(1), torch_threads(1):
        report = thread_report()
        line = thread_summary(report)
    assert report["torch_threads"] == 1
    assert report["blas"] and all(entry["threads"] == 1 and entry["library"] for entry in report["blas"])
    assert report["cpu_count"] is None or report["cpu_count"] >= 1
    load = report["load_average"]
    assert load is None or (len(load) == 3 and all(v >= 0 for v in load))
    assert line.startswith("torch 1 thread; BLAS ") and ": 1 thread;" in line and "CPUs" in line


def test_the_fast_convolution_gives_the_same_bits_on_any_number_of_workers(monkeypatch):
    import numpy as np

    from cnnlab.numpy_nn.kernels import conv_fast
    from cnnlab.threads import engine_workers

    monkeypatch.setattr(conv_fast, "CHUNK_BYTES", 20_000)  # several chunks for a small batch
    rng = np.random.default_rng(0)
    xp = rng.standard_normal((12, 3, 14, 14)).astype(np.float32)
    weight = rng.standard_normal((6, 3, 3, 3)).astype(np.float32)
    grad = rng.standard_normal((12, 6, 12, 12)).astype(np.float32)
    outputs = []
    for workers in (1, 2, 3):
        with engine_workers(workers):
            y, cache = conv_fast.conv2d_fast(xp, weight, np.ones(6, np.float32))
            outputs.append((y, *conv_fast.conv2d_fast_backward(grad, cache)))
    assert len(conv_fast._chunks(12, 3 * 9 * 12 * 14 * 4)) > 3
    for other in outputs[1:]:
        for a, b in zip(outputs[0], other, strict=True):
            np.testing.assert_array_equal(a, b)


def test_parallel_map_keeps_the_order_and_runs_on_the_workers():
    import threading

    from cnnlab.threads import engine_workers, parallel_map

    with engine_workers(2):
        names = parallel_map(lambda i: (i, threading.current_thread().name), list(range(8)))
    assert [i for i, _ in names] == list(range(8))
    assert all(name.startswith("cnnlab-engine") for _, name in names)
    assert parallel_map(lambda i: threading.current_thread().name, [1, 2]) == [threading.main_thread().name] * 2


def test_all_threads_sets_every_pool_and_restores_them():
    import threading

    from cnnlab.threads import all_threads, parallel_map

    def thread_names() -> list[str]:
        return parallel_map(lambda _: threading.current_thread().name, [1, 2])

    with torch_threads(3), blas_threads(3):
        with all_threads(2):
            assert torch.get_num_threads() == 2 and set(_blas_counts()) == {2}
            assert all(name.startswith("cnnlab-engine") for name in thread_names())
        assert torch.get_num_threads() == 3 and set(_blas_counts()) == {3}
        assert thread_names() == [threading.current_thread().name] * 2


def test_the_cli_holds_its_thread_setting_for_one_command_only(monkeypatch):
    """``cnnlab --threads N`` applies inside the command; called in-process (a notebook, a test), ``main`` leaves the
    settings as it found them -- a leak made a later test of :func:`parallel_map` run on workers at random."""
    import threading

    import click
    from click.testing import CliRunner

    from cnnlab.cli import main
    from cnnlab.threads import parallel_map

    seen: dict[str, object] = {}

    @click.command("probe")
    def probe() -> None:
        seen["torch"], seen["blas"] = torch.get_num_threads(), set(_blas_counts())
        seen["workers"] = parallel_map(lambda _: threading.current_thread().name.startswith("cnnlab-engine"), [1, 2])

    monkeypatch.setitem(main.commands, "probe", probe)
    with torch_threads(3), blas_threads(3):
        result = CliRunner().invoke(main, ["--threads", "2", "probe"], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert seen == {"torch": 2, "blas": {2}, "workers": [True, True]}
        assert torch.get_num_threads() == 3 and set(_blas_counts()) == {3}
        assert parallel_map(lambda _: threading.current_thread().name, [1, 2]) == [threading.current_thread().name] * 2


def _stat_line(user: int, system: int, idle: int) -> str:
    return f"cpu  {user} 0 {system} {idle} 0 0 0 0 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n"


def test_busy_cores_reads_the_share_of_non_idle_time_between_two_looks(tmp_path, monkeypatch):
    """Between the two reads the machine spent 150 of 200 ticks busy: on 2 CPUs that is 1.5 busy cores."""
    stat = tmp_path / "stat"
    stat.write_text(_stat_line(1000, 500, 8000))
    monkeypatch.setattr(threads.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(threads.os, "times", lambda: (0.0, 0.0, 0.0, 0.0, 0.0))  # this process: no CPU time
    monkeypatch.setattr(threads.time, "sleep", lambda seconds: stat.write_text(_stat_line(1100, 550, 8050)))
    assert threads.busy_cores(0.2, stat) == pytest.approx(1.5)


def test_busy_cores_leaves_out_this_process_and_missing_counters(tmp_path, monkeypatch):
    stat = tmp_path / "stat"
    stat.write_text(_stat_line(1000, 0, 1000))
    own = iter([(1.0, 0.0, 0, 0, 0), (1.1, 0.1, 0, 0, 0)])  # 0.2 s of our own CPU time in 0.2 s: one core
    monkeypatch.setattr(threads.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(threads.os, "times", lambda: next(own))
    monkeypatch.setattr(threads.time, "sleep", lambda seconds: stat.write_text(_stat_line(1100, 0, 1100)))
    assert threads.busy_cores(0.2, stat) == pytest.approx(0.0)  # half of 2 CPUs busy, all of it ours
    assert threads.busy_cores(0.2, tmp_path / "missing") is None


@pytest.mark.parametrize(("cpus", "load", "expected"), [(2, 0.0, 2), (2, 0.4, 2), (2, 1.0, 1), (2, 1.6, 1),
                                                        (2, 7.0, 1), (8, 2.2, 6), (1, 0.0, 1)])
def test_auto_threads_takes_the_cores_others_leave_free(cpus, load, expected):
    assert threads.auto_threads(cpus, load) == expected


def test_auto_threads_looks_at_the_machine_now():
    n = threads.auto_threads()
    assert 1 <= n <= (os.cpu_count() or 1)
