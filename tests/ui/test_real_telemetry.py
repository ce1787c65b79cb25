"""The dashboard on the real Telemetry: this machine's NVML and psutil, and a recorded H100.

The same code path runs on a GPU host, where `--real-nvml` (gpu/run_all.sh) makes the
"machine" case require a working driver and at least one GPU, so a broken NVML there cannot
pass as a CPU-only box.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.core.sample import GpuSample
from console.core.units import GIB, fmt_bytes
from console.host.telemetry import RecordedNvml, Telemetry
from tests.ui.conftest import make_app, wait_until
from tests.ui.test_dashboard import rendered
from widgets.gpu_area import NO_GPU_TEXT, GpuArea
from widgets.gpu_panel import GpuPanel
from widgets.gpu_processes import GpuProcessTable
from widgets.host_panel import HostPanel
from widgets.status_bar import StatusBar

RECORDED_H100 = Path(__file__).parent.parent / "fixtures" / "nvml" / "h100_handmade.json"


@pytest.fixture(params=["machine", "recorded-h100"])
def telemetry(request: pytest.FixtureRequest) -> Iterator[tuple[str, Telemetry]]:
    if request.param == "machine":
        source = Telemetry()
    else:
        source = Telemetry(nvml=RecordedNvml(RECORDED_H100))
    yield request.param, source
    source.close()


def vram_text(gpu: GpuSample) -> str:
    assert gpu.memory_used_bytes is not None and gpu.memory_total_bytes is not None
    return f"{gpu.memory_used_bytes / GIB:.1f} / {gpu.memory_total_bytes / GIB:.1f} GiB"


async def test_dashboard_shows_what_telemetry_reads(
        telemetry: tuple[str, Telemetry], real_nvml: bool) -> None:
    name, source = telemetry
    app = make_app(source, clock=time.time)
    async with app.run_test(size=(160, 48)) as pilot:
        # Two samples: rates (swap, disk) need a previous reading.
        await wait_until(pilot, lambda: app.samples_received >= 2, "two real samples")
        sample = app.sample
        assert sample is not None
        if name == "recorded-h100" or real_nvml:
            assert sample.nvml.ok, sample.nvml
            assert sample.gpus, "NVML is ok but lists no GPU"
        status = rendered(app.query_one(StatusBar))
        if sample.gpus:
            panels = list(app.query(GpuPanel))
            assert [p.gpu_index for p in panels] == [g.index for g in sample.gpus]
            for gpu, panel in zip(sample.gpus, panels, strict=True):
                assert gpu.name and gpu.name in str(panel.border_title)
                if gpu.memory_used_bytes is not None:
                    assert vram_text(gpu) in rendered(panel.vram)
            table = app.query_one(GpuProcessTable)
            processes = [p for gpu in sample.gpus for p in gpu.processes]
            assert table.display and table.row_count == len(processes)
            shown_pids = {table.get_row_at(i)[1] for i in range(table.row_count)}
            assert shown_pids == {str(p.pid) for p in processes}
            if sample.nvml.driver_version:
                assert sample.nvml.driver_version in status
        else:
            assert sample.nvml.state == "no_driver", sample.nvml
            notice = app.query_one(GpuArea).notice
            assert notice.display and NO_GPU_TEXT in str(notice.render())
            assert "CPU-only" in status
        host = sample.host
        assert host.ram_total_bytes and fmt_bytes(host.ram_total_bytes) in rendered(
            app.query_one(HostPanel).ram)
        assert len(app.query_one(HostPanel).cores.per_core_pct) == len(host.cpu_percent_per_core)
