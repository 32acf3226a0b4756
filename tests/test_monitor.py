"""The monitor against known allocations: host memory on the CPU, GPU memory on the GPU machine (marked gpu)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from harness.monitor import MIB, Monitor
from harness.nvml import nvml_index


def _touch(mib: int) -> np.ndarray:
    a = np.empty(mib * MIB, dtype=np.uint8)
    a.fill(1)  # touch every page, so it is resident
    return a


def test_known_host_allocation_is_recovered() -> None:
    mon = Monitor(gpu_index=None).start()
    try:
        base = mon.snapshot().host_rss_peak_mib
        with mon.phase("alloc", announce=False) as ph:
            a = _touch(400)
            time.sleep(0.05)
            del a
    finally:
        mon.stop()
    grown = ph.stats.host_rss_peak_mib - base
    assert 400 * 0.97 <= grown <= 400 * 1.05, grown


def test_short_host_spike_is_caught() -> None:
    mon = Monitor(gpu_index=None, interval_s=0.005).start()
    try:
        base = mon.snapshot().host_rss_peak_mib
        with mon.phase("spike", announce=False) as ph:
            time.sleep(0.05)
            a = _touch(200)
            time.sleep(0.05)  # 50 ms, then gone before the phase ends
            del a
            time.sleep(0.1)
    finally:
        mon.stop()
    assert ph.stats.host_rss_peak_mib - base >= 190
    assert ph.stats.samples >= 10  # about every 5 ms over 0.2 s


def test_cpu_machine_reports_null_gpu_fields_never_zero() -> None:
    mon = Monitor(gpu_index=None).start()
    with mon.phase("x", announce=False) as ph:
        pass
    mon.stop()
    s = ph.stats
    assert s.nvml_device_used_peak_mib is None and s.nvml_process_peak_mib is None
    assert s.torch_max_allocated_mib is None and s.torch_max_reserved_mib is None and s.energy_j is None
    assert s.host_rss_peak_mib is not None and s.samples >= 1


def test_phase_announces_itself_for_the_sweep(capsys: pytest.CaptureFixture[str]) -> None:
    mon = Monitor(gpu_index=None)
    with mon.phase("train"):
        pass
    assert "HARNESS_PHASE train" in capsys.readouterr().out


def test_sampling_interval_is_at_most_10ms() -> None:
    with pytest.raises(ValueError):
        Monitor(gpu_index=None, interval_s=0.05)


def test_cuda_visible_devices_maps_to_nvml_index(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    assert nvml_index(0) == 3
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1,0")
    assert nvml_index(1) == 0
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert nvml_index(2) == 2


# ---------------------------------------------------------------- GPU machine only


@pytest.mark.gpu
def test_known_gpu_allocation_recovered_within_1_percent() -> None:
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    torch.cuda.init()
    torch.zeros(1, device="cuda")  # context first: its memory is not the allocation's
    torch.cuda.synchronize()
    mon = Monitor(gpu_index=0).start()
    try:
        before = mon.snapshot()
        with mon.phase("alloc", announce=False) as ph:
            x = torch.empty(1000 * MIB, dtype=torch.uint8, device="cuda")
            x.fill_(1)
            torch.cuda.synchronize()
            time.sleep(0.1)
            del x
    finally:
        mon.stop()
    s = ph.stats
    assert abs(s.torch_max_allocated_mib - 1000) / 1000 <= 0.01, s.torch_max_allocated_mib
    grown = s.nvml_process_peak_mib - before.nvml_process_peak_mib
    assert abs(grown - 1000) / 1000 <= 0.01, grown


@pytest.mark.gpu
def test_50ms_gpu_spike_is_caught() -> None:
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    torch.zeros(1, device="cuda")
    torch.cuda.synchronize()
    torch.cuda.empty_cache()  # the spike must be fresh memory, not blocks the allocator kept from earlier tests
    mon = Monitor(gpu_index=0, interval_s=0.005).start()
    try:
        before = mon.snapshot()
        with mon.phase("spike", announce=False) as ph:
            time.sleep(0.05)
            x = torch.empty(512 * MIB, dtype=torch.uint8, device="cuda")
            torch.cuda.synchronize()
            time.sleep(0.05)
            del x
            torch.cuda.empty_cache()  # give it back to the driver so only the sampler could see it
            time.sleep(0.1)
    finally:
        mon.stop()
    assert ph.stats.nvml_process_peak_mib - before.nvml_process_peak_mib >= 500
