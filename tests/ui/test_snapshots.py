"""Snapshot tests (pytest-textual-snapshot) at 80x24 and 160x48.

A frozen clock, a fixed host name, UTC, and a fixed sample sequence: the history is filled
with steps 0..58 and the sampler yields step 59 (repeats are dropped by the app), so every run
draws the same screen. Regenerate after a deliberate change with
`pytest tests/ui/test_snapshots.py --snapshot-update`, then look at the SVGs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from textual.pilot import Pilot

from console.app import ConsoleApp
from console.core.sample import Sample
from console.host.config import Config
from tests.ui.conftest import wait_until
from tests.ui.fakes import (
    STEPS,
    FixedSampler,
    FrozenClock,
    cpu_only_sequence,
    h100_sequence,
    multi_gpu_at,
)

SIZES = {"80x24": (80, 24), "160x48": (160, 48)}
SnapCompare = Callable[..., bool]


def snapshot_app(samples: list[Sample]) -> ConsoleApp:
    app = ConsoleApp(Config(), FixedSampler(samples[-1:]), clock=FrozenClock(samples[-1].timestamp),
                     hostname="gpu-box", initial_model="demo", cursor_blink=False)
    for sample in samples[:-1]:
        app.history.append(sample)
    return app


def after_first_sample(then: Callable[[Pilot[Any]], Awaitable[None]] | None = None
                       ) -> Callable[[Pilot[Any]], Awaitable[None]]:
    async def run_before(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, ConsoleApp)
        await wait_until(pilot, lambda: app.samples_received >= 1, "the sample")
        if then is not None:
            await then(pilot)
    return run_before


@pytest.mark.parametrize("size", SIZES)
def test_dashboard_h100(snap_compare: SnapCompare, size: str) -> None:
    assert snap_compare(snapshot_app(h100_sequence()), terminal_size=SIZES[size],
                        run_before=after_first_sample())


@pytest.mark.parametrize("size", SIZES)
def test_dashboard_cpu_only(snap_compare: SnapCompare, size: str) -> None:
    assert snap_compare(snapshot_app(cpu_only_sequence()), terminal_size=SIZES[size],
                        run_before=after_first_sample())


def test_dashboard_eight_gpus_80x24(snap_compare: SnapCompare) -> None:
    assert snap_compare(snapshot_app([multi_gpu_at(step) for step in range(STEPS)]),
                        terminal_size=(80, 24), run_before=after_first_sample())


def test_help_80x24(snap_compare: SnapCompare) -> None:
    async def open_help(pilot: Pilot[Any]) -> None:
        await pilot.press("question_mark")

    assert snap_compare(snapshot_app(h100_sequence()), terminal_size=(80, 24),
                        run_before=after_first_sample(open_help))
