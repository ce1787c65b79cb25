"""Pilot tests of the dashboard: samples reach the panels, thresholds colour them, keys work,
a stuck sampler never blocks the keyboard, and the CPU-only / NVML-problem states."""

from __future__ import annotations

from dataclasses import replace

import pytest
from textual.widget import Widget
from textual.widgets import ContentSwitcher, Input

from console.core.sample import NvmlStatus
from console.host.config import Config, Levels
from tests.ui.conftest import make_app, wait_until
from tests.ui.fakes import (
    MIB,
    FeedSampler,
    FixedSampler,
    FrozenClock,
    cpu_only_at,
    h100_at,
    multi_gpu_at,
)
from widgets.dashboard import Dashboard
from widgets.gpu_area import NO_GPU_TEXT, GpuArea
from widgets.gpu_panel import GpuPanel
from widgets.gpu_processes import GpuProcessTable
from widgets.help_screen import HelpScreen
from widgets.host_panel import HostPanel
from widgets.key_footer import KeyFooter
from widgets.levels import level_of
from widgets.status_bar import StatusBar
from widgets.tab_strip import TabStrip


def rendered(widget: Widget) -> str:
    """What a line-API widget shows, as text."""
    return "\n".join(widget.render_line(y).text for y in range(widget.size.height))


def gpu_panel(app: object) -> GpuPanel:
    return app.query_one(GpuPanel)  # type: ignore[attr-defined,no-any-return]


async def test_panels_update_when_a_sample_arrives(feed_samplers: list[FeedSampler]) -> None:
    sampler = FeedSampler(h100_at(10))
    feed_samplers.append(sampler)
    app = make_app(sampler)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.samples_received == 1, "the first sample")
        panel = gpu_panel(app)
        assert "11.0 / 80.0 GiB" in rendered(panel.vram)
        assert rendered(panel.power) == "power 170 / 700 W"
        host = app.query_one(HostPanel)
        assert "66.0 GiB / 256.0 GiB" in rendered(host.ram)
        table = app.query_one(GpuProcessTable)
        assert table.row_count == 2
        assert table.get_row_at(0)[1] == "48213"
        assert table.get_row_at(0)[4].plain == "10.0 GiB"

        sampler.feed(h100_at(50))
        await wait_until(pilot, lambda: app.samples_received == 2, "the second sample")
        assert "51.0 / 80.0 GiB" in rendered(panel.vram)
        assert rendered(panel.power) == "power 370 / 700 W"
        assert "106.0 GiB / 256.0 GiB" in rendered(host.ram)
        assert table.get_row_at(0)[4].plain == "50.0 GiB"
        assert len(app.history) == 2
        # The VRAM sparkline got both samples (percent of 80 GiB).
        values, maximum, _ = panel.vram_spark.data
        assert values == pytest.approx((100 * 11 / 80, 100 * 51 / 80))
        assert maximum == 100.0
        sampler.release()


@pytest.mark.parametrize(
    ("used_pct", "level"),
    [(79.9, "ok"), (80.0, "warn"), (91.9, "warn"), (92.0, "critical"), (99.0, "critical")],
)
async def test_vram_colour_follows_default_thresholds(used_pct: float, level: str) -> None:
    # A total of 1000 MiB makes every percentage an exact number of bytes.
    step = h100_at(5)
    gpu = replace(step.gpus[0], memory_total_bytes=1000 * MIB,
                  memory_used_bytes=round(used_pct * 10) * MIB)
    sample = replace(step, gpus=(gpu,))
    app = make_app(FixedSampler([sample]))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.samples_received >= 1, "a sample")
        meter = gpu_panel(app).vram
        assert level_of(meter) == level
        # The rendered bar (after the 5-cell label) carries that level's colour, and the
        # levels' colours differ.
        label, bar = list(meter.render_line(0))[:2]
        assert label.text == "VRAM " and bar.text.startswith("█")
        assert bar.style is not None
        assert bar.style.color == meter.get_component_rich_style(f"meter--{level}").color
        colours = {meter.get_component_rich_style(f"meter--{name}").color
                   for name in ("ok", "warn", "critical")}
        assert len(colours) == 3


async def test_thresholds_come_from_the_configuration() -> None:
    thresholds = dict(Config().thresholds)
    thresholds["vram"] = Levels(warn=10.0, pause=20.0, abort=30.0, resume=15.0)
    thresholds["temperature"] = Levels(warn=50.0, pause=60.0, abort=None, resume=55.0)
    thresholds["ram"] = Levels(warn=5.0, pause=10.0, abort=None, resume=8.0)
    config = Config(interval_s=0.25, thresholds=thresholds)
    # 11 GiB of 80 = 13.75 %: ok with the defaults, warn with these; 64 C is critical here.
    app = make_app(FixedSampler([h100_at(10)]), config)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.samples_received >= 1, "a sample")
        panel = gpu_panel(app)
        assert level_of(panel.vram) == "warn"
        assert level_of(panel.temperature) == "critical"
        assert level_of(app.query_one(HostPanel).ram) == "critical"  # 21 % used


async def test_host_levels_swap_in_and_cpu(feed_samplers: list[FeedSampler]) -> None:
    sampler = FeedSampler(h100_at(10))
    feed_samplers.append(sampler)
    app = make_app(sampler)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.samples_received == 1, "a sample")
        host = app.query_one(HostPanel)
        assert level_of(host.swap_in) == "ok"
        # Thrashing: 64 MiB/s swapped in is past the default pause level (50 MiB/s).
        sampler.feed(h100_at(41))
        await wait_until(pilot, lambda: app.samples_received == 2, "a second sample")
        assert level_of(host.swap_in) == "critical"
        assert rendered(host.swap_in) == "swap in 64.0 MiB/s"
        busy = replace(h100_at(42), host=replace(h100_at(42).host, cpu_percent=90.0))
        sampler.feed(busy)
        await wait_until(pilot, lambda: app.samples_received == 3, "a third sample")
        assert level_of(host.cpu) == "warn"
        sampler.release()


async def test_help_opens_and_closes() -> None:
    app = make_app(FixedSampler([h100_at(1)]))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        # Grouped by where the keys work; every key the app binds is listed.
        headings = [keys for keys, what in app.screen.rows if not what]
        assert "global (every tab)" in headings and "dashboard (tab 1)" in headings
        listed = " ".join(keys for keys, what in app.screen.rows if what).lower().split()
        for binding in app.BINDINGS:
            shown = binding.key_display or binding.key  # type: ignore[union-attr]
            shown = {"question_mark": "?", "right_square_bracket": "]", "escape": "esc",
                     "left_square_bracket": "[", "plus": "+", "minus": "-"}.get(shown, shown)
            assert shown.lower() in listed, shown
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("question_mark")
        assert not isinstance(app.screen, HelpScreen)


async def test_number_keys_switch_tabs() -> None:
    app = make_app(FixedSampler([h100_at(1)]), initial_model="demo")
    async with app.run_test(size=(80, 24)) as pilot:
        switcher = app.query_one("#tabs", ContentSwitcher)
        strip = app.query_one(TabStrip)

        def shown() -> tuple[str, str | None, str]:
            return app.active_tab, switcher.current, strip.active

        assert shown() == ("dashboard", "dashboard", "dashboard")
        await pilot.press("2")
        assert shown() == ("model", "model", "model")
        assert app.query_one("#model").display and not app.query_one("#dashboard").display
        assert app.query_one("#model-input", Input).value == "demo"
        assert app.initial_model == "demo"
        await pilot.press("3")
        assert shown() == ("log", "log", "log")
        await pilot.press("1")
        assert shown() == ("dashboard", "dashboard", "dashboard")
        await pilot.press("right_square_bracket", "right_square_bracket")
        assert app.active_tab == "log"
        await pilot.press("right_square_bracket")
        assert app.active_tab == "dashboard"
        await pilot.press("left_square_bracket")
        assert app.active_tab == "log"
        # A click on a label switches too: " 1 Dashboard " then " 2 Model " from x = 14.
        await pilot.click(TabStrip, offset=(16, 0))
        assert app.active_tab == "model"


async def test_sort_keys_reorder_the_process_table() -> None:
    app = make_app(FixedSampler([h100_at(20)]))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.samples_received >= 1, "a sample")
        table = app.query_one(GpuProcessTable)

        def pids() -> list[str]:
            return [table.get_row_at(i)[1] for i in range(table.row_count)]

        assert (table.sort_column, table.sort_descending) == ("memory", True)
        assert pids() == ["48213", "2210"]  # the biggest GPU user first
        await pilot.press("s")  # -> gpu
        await pilot.press("s")  # -> pid
        assert table.sort_column == "pid"
        assert pids() == ["2210", "48213"]
        await pilot.press("S")  # reverse
        assert pids() == ["48213", "2210"]
        assert "PID ▼" in [str(c.label).strip() for c in table.ordered_columns]
        # Sort keys only act on the dashboard.
        await pilot.press("2", "s")
        assert table.sort_column == "pid"


async def test_clicking_a_header_sorts_by_it() -> None:
    app = make_app(FixedSampler([h100_at(20)]))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.samples_received >= 1, "a sample")
        table = app.query_one(GpuProcessTable)
        # The header row is the first content row; "User" is the third column.
        inset_x = table.content_region.x - table.region.x
        header_y = table.content_region.y - table.region.y
        user_x = inset_x + sum(c.get_render_width(table) for c in table.ordered_columns[:2]) + 1
        await pilot.click(GpuProcessTable, offset=(user_x, header_y))
        assert table.sort_column == "user"
        assert [table.get_row_at(i)[2] for i in range(2)] == ["alice", "root"]
        await pilot.click(GpuProcessTable, offset=(user_x, header_y))
        assert table.sort_descending
        assert [table.get_row_at(i)[2] for i in range(2)] == ["root", "alice"]


async def test_q_quits_with_status_zero() -> None:
    app = make_app(FixedSampler([h100_at(1)]))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.samples_received >= 1, "a sample")
        await pilot.press("q")
    assert app.return_code == 0
    await app.workers.wait_for_complete()
    assert not app.sampler_running.is_set()


async def test_a_stuck_sampler_does_not_block_keys(feed_samplers: list[FeedSampler]) -> None:
    sampler = FeedSampler(h100_at(10))
    feed_samplers.append(sampler)
    clock = FrozenClock(h100_at(10).timestamp)
    app = make_app(sampler, clock=clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.samples_received == 1, "the first sample")
        # The sampler thread is now inside sample() and will not come back (a hung NVML call).
        await wait_until(pilot, sampler.blocked.is_set, "the sampler to block")
        await pilot.press("2")
        assert app.active_tab == "model"
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape", "1", "s")
        assert app.query_one(GpuProcessTable).sort_column == "gpu"
        # All of that happened while the sampler thread was still inside sample().
        assert sampler.blocked.is_set()
        status = app.query_one(StatusBar)
        assert not status.has_class("-problem")
        # Time passes with no sample: the status line says the sampler is busy.
        clock.now += 30
        await wait_until(pilot, lambda: status.has_class("-problem"), "the stale warning")
        assert "no sample for 30 s (sampler busy)" in rendered(status)
        clock.now = h100_at(11).timestamp
        sampler.feed(h100_at(11))  # the driver call returns
        await wait_until(pilot, lambda: app.samples_received == 2, "sampling to resume")
        assert not status.has_class("-problem")
        sampler.release()


async def test_no_driver_shows_cpu_only() -> None:
    app = make_app(FixedSampler([cpu_only_at(3)]), clock=FrozenClock(cpu_only_at(3).timestamp))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.samples_received >= 1, "a sample")
        area = app.query_one(GpuArea)
        assert not area.query(GpuPanel)
        assert area.notice.display and not area.notice.has_class("-hidden")
        assert NO_GPU_TEXT in str(area.notice.render())
        assert not app.query_one(GpuProcessTable).display
        host = app.query_one(HostPanel)
        assert "24.0 GiB" in rendered(host.ram)
        assert "no swap configured" in rendered(host.swap)
        assert "CPU-only" in rendered(app.query_one(StatusBar))
        assert not app.query_one(StatusBar).has_class("-problem")
        assert not app._notifications  # a normal mode, not an error


async def test_nvml_problems_are_reported_once(feed_samplers: list[FeedSampler]) -> None:
    mismatch = NvmlStatus("version_mismatch", message="driver/NVML version mismatch: "
                          "nvmlDeviceGetMemoryInfo_v2 is missing", driver_version="470.01")
    bad = replace(h100_at(5), nvml=mismatch)
    sampler = FeedSampler(bad)
    feed_samplers.append(sampler)
    app = make_app(sampler)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.samples_received == 1, "a sample")
        for n in (2, 3):
            sampler.feed(replace(bad, timestamp=bad.timestamp + n, monotonic=bad.monotonic + n))
            await wait_until(pilot, lambda n=n: app.samples_received == n, "more samples")
        notes = list(app._notifications)
        assert len(notes) == 1
        assert "version_mismatch" in notes[0].message and "MemoryInfo_v2" in notes[0].message
        status = app.query_one(StatusBar)
        assert status.has_class("-problem")
        assert "NVML version mismatch" in rendered(status)

        lost_gpu = replace(h100_at(10).gpus[0], memory_used_bytes=None, temperature_c=None,
                           power_draw_w=None, processes=())
        lost = replace(h100_at(10), gpus=(lost_gpu,), nvml=NvmlStatus(
            "gpu_lost", message="GPU 0 is lost (NVML_ERROR_GPU_IS_LOST)"))
        sampler.feed(lost)
        sampler.feed(replace(lost, timestamp=lost.timestamp + 1, monotonic=lost.monotonic + 1))
        await wait_until(pilot, lambda: app.samples_received == 5, "the lost-GPU samples")
        notes = list(app._notifications)
        assert len(notes) == 2 and "GPU 0 is lost" in notes[1].message
        panel = gpu_panel(app)
        assert "N/A" in rendered(panel.vram) and level_of(panel.vram) == "na"
        assert rendered(panel.temperature) == "temp N/A"
        sampler.release()


async def test_a_raising_sampler_is_reported_and_sampling_goes_on() -> None:
    class Flaky:
        calls = 0

        def sample(self) -> object:
            self.calls += 1
            if self.calls == 1:
                raise RuntimeError("boom")
            return h100_at(1)

    flaky = Flaky()
    app = make_app(flaky, Config(interval_s=0.25))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.samples_received >= 1, "a sample after the failure")
        assert any("RuntimeError: boom" in n.message for n in app._notifications)


@pytest.mark.parametrize("size", [(80, 24), (100, 30), (160, 48)])
async def test_layout_fits_the_terminal(size: tuple[int, int]) -> None:
    """Nothing important is cut: every panel line is on screen, breakpoints apply."""
    app = make_app(FixedSampler([h100_at(30)]))
    async with app.run_test(size=size) as pilot:
        await wait_until(pilot, lambda: app.samples_received >= 1, "a sample")
        width, height = size
        assert app.screen.has_class("-wide" if width >= 120 else "-narrow")
        panel = gpu_panel(app)
        host = app.query_one(HostPanel)
        for widget in (panel.vram, panel.temperature, panel.power, host.cpu, host.ram, host.swap,
                       host.swap_in, host.disk_read, app.query_one(StatusBar)):
            region = widget.region
            assert region.height >= 1, widget
            assert region.right <= width and region.bottom <= height - 1, widget
        table = app.query_one(GpuProcessTable)
        assert table.region.height >= 4  # the header and both processes
        assert "80.0 GiB" in rendered(panel.vram)  # the meter's numbers are not cut


async def test_zoom_key_switches_sparklines_to_the_whole_history() -> None:
    app = make_app(FixedSampler([h100_at(1)]))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.samples_received >= 1, "a sample")
        spark = gpu_panel(app).vram_spark
        assert spark.data[2] is None
        await pilot.press("z")
        assert app.zoomed and spark.data[2] == app.history.maxlen
        await pilot.press("z")
        assert spark.data[2] is None


async def test_dashboard_catches_up_after_another_tab(feed_samplers: list[FeedSampler]) -> None:
    sampler = FeedSampler(h100_at(10))
    feed_samplers.append(sampler)
    app = make_app(sampler)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.samples_received == 1, "a sample")
        await pilot.press("3")
        sampler.feed(h100_at(40))
        await wait_until(pilot, lambda: app.samples_received == 2, "a sample while hidden")
        await pilot.press("1")
        assert "41.0 / 80.0 GiB" in rendered(gpu_panel(app).vram)
        assert app.query_one(Dashboard).display
        sampler.release()


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
async def test_eight_gpus_fit_one_line_each(size: tuple[int, int]) -> None:
    app = make_app(FixedSampler([multi_gpu_at(5)]))
    async with app.run_test(size=size) as pilot:
        await wait_until(pilot, lambda: app.samples_received >= 1, "a sample")
        panels = list(app.query(GpuPanel))
        assert len(panels) == 8
        screen_height = size[1]
        for n, panel in enumerate(panels):
            assert panel.has_class("-compact") and panel.region.height == 1
            assert panel.region.bottom <= screen_height - 1
            assert rendered(panel.vram).startswith(f"GPU{n} ")
        assert "64.0 / 80.0 GiB  80% · 10% · 64°C" in rendered(panels[7].vram)
        assert level_of(panels[7].vram) == "warn"
        assert str(app.query_one(GpuArea).border_title) == "GPUs (8)"
        host = app.query_one(HostPanel)
        assert host.swap.region.height == 1 and host.swap.region.bottom <= screen_height - 1
        table = app.query_one(GpuProcessTable)
        assert table.row_count == 8 and table.region.height >= 4


@pytest.mark.parametrize("freeze", [False, True])
async def test_startup_objects_are_frozen_only_when_asked(feed_samplers: list[FeedSampler],
                                                          freeze: bool) -> None:
    """run_app freezes what is alive after the first frame (gc.freeze: full collections stop
    scanning it); apps made by tests in one process leave the collector alone."""
    import gc

    sampler = FeedSampler(h100_at(10))
    feed_samplers.append(sampler)
    gc.unfreeze()
    app = make_app(sampler, freeze_startup_objects=freeze)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_until(pilot, lambda: app.samples_received == 1, "the first sample")
            await pilot.pause(0.1)
            frozen = gc.get_freeze_count()
    finally:
        gc.unfreeze()
    assert (frozen > 10_000) if freeze else (frozen == 0)


def footer_text(app: object) -> str:
    return app.query_one(KeyFooter).render().plain  # type: ignore[attr-defined,no-any-return]


async def test_footer_shows_the_keys_of_the_tab_and_a_click_presses_one() -> None:
    app = make_app(FixedSampler([h100_at(1)]), initial_model="demo")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        text = footer_text(app)
        # The keys that apply in this state (no engine: load, pick), then the tab's, then help.
        assert text.startswith(" L load  O pick  s sort  z zoom  ? help  q quit")
        assert text.endswith("^p palette") and len(text) == 80
        await pilot.press("2")
        await pilot.pause()
        text = footer_text(app)
        assert text.startswith(" L load  O pick  W pre-flight  ? help") and "sort" not in text
        # A click on " ? help" opens the help screen.
        footer = app.query_one(KeyFooter)
        start, _end, _key, enabled = next(s for s in footer.spans if s[2] == "question_mark")
        assert enabled and start == len(" L load  O pick  W pre-flight ")
        await pilot.click(KeyFooter, offset=(start + 2, 0))
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        # A click between two keys does nothing.
        await pilot.click(KeyFooter, offset=(start - 1, 0))
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen) and app.active_tab == "model"


async def test_switching_tabs_leaves_no_widgets_behind() -> None:
    """Textual's Footer rebuilt a widget per key on every tab switch and leaked the old ones
    (data_bind kept their watchers); the app's footer makes no widgets."""
    import gc

    from textual.widget import Widget

    app = make_app(FixedSampler([h100_at(1)]), initial_model="demo")

    def widgets_alive() -> int:
        gc.collect()
        return sum(issubclass(type(o), Widget) for o in gc.get_objects())

    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(3):
            await pilot.press("1", "2")
        await pilot.pause()
        before = widgets_alive()
        for _ in range(20):
            await pilot.press("1", "2", "3")
        await pilot.pause()
        assert widgets_alive() - before <= 0


async def test_a_sample_that_arrives_once_the_screens_are_gone_is_ignored(
    feed_samplers: list[FeedSampler],
) -> None:
    # A sample can be handled between the last screen's removal and the app's end (CI saw
    # ScreenStackError from the engine strip asking which widget has the focus): it is dropped.
    sampler = FeedSampler(h100_at(10))
    feed_samplers.append(sampler)
    app = make_app(sampler)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.samples_received == 1, "the first sample")
        sample = app.sample
    assert sample is not None and not app.screen_stack
    app.watch_sample(replace(sample, monotonic=sample.monotonic + 1))  # must not raise
