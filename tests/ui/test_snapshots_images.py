"""Snapshots (80x24, 160x48) of the Model tab with a prompt and two images attached (issue 16).

Same frozen set-up as test_snapshots.py; no model is selected (so no pre-flight text that
depends on what this test session built), demo-vl's processor limits are set as a load of it
would set them, and the two probe images it ships are attached through the path field.
Regenerate with `pytest tests/ui/test_snapshots_images.py --snapshot-update`.
"""

from __future__ import annotations

from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from console.app import ConsoleApp
from console.core.session import VisionRead
from console.host.config import Config
from tests.ui.conftest import wait_until
from tests.ui.fakes import FixedSampler, FrozenClock, h100_sequence
from tests.ui.test_prompt_images import PROBES, demo_vl_limits
from tests.ui.test_snapshots import SIZES, SnapCompare


def images_app() -> ConsoleApp:
    samples = h100_sequence()
    app = ConsoleApp(Config(), FixedSampler(samples[-1:]), clock=FrozenClock(samples[-1].timestamp),
                     hostname="gpu-box", initial_model=None, cursor_blink=False)
    for sample in samples[:-1]:
        app.history.append(sample)
    return app


async def attach_two(pilot: Pilot[Any]) -> None:
    app = pilot.app
    assert isinstance(app, ConsoleApp)
    await wait_until(pilot, lambda: app.samples_received >= 1, "the sample")
    await pilot.press("2")
    app.fold(VisionRead(demo_vl_limits()))  # as a load of demo-vl sets them
    prompt = app.query_one("#prompt", Input)
    prompt.focus()
    for name in ("phone_screen.png", "banner.png"):
        await pilot.press("ctrl+o")
        app.query_one("#image-path", Input).value = str(PROBES[name])
        await pilot.press("enter")
    prompt.value = "Open the settings app"
    prompt.cursor_position = len(prompt.value)
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES)
def test_prompt_with_two_images(snap_compare: SnapCompare, size: str) -> None:
    assert snap_compare(images_app(), terminal_size=SIZES[size], run_before=attach_two)
