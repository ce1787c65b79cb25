"""Any log file, live, in the Log tab: `--log FILE` (the app's `log_file`) and the `f` key's path
prompt open a file; lines a real writer process appends arrive in the pane, and errors in them
get cause cards as they arrive; rotation is followed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from textual.widgets import ContentSwitcher, Input

from tests.ui.conftest import make_app, wait_until
from tests.ui.fakes import FeedSampler, h100_at
from widgets.log_file import LogFileFollower, OpenLogScreen

OOM = (
    "Traceback (most recent call last):\n"
    '  File "/srv/run.py", line 3, in <module>\n'
    "    model.to('cuda')\n"
    "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total "
    "capacity of 23.65 GiB of which 1.02 GiB is free.\n"
    "INFO back to the prompt\n"
)


def _write(path: Path, text: str, *, rotate: bool = False) -> None:
    """A separate writer process appends (or rotates the file first, as logrotate does)."""
    code = (
        "import os, sys\np = sys.argv[1]\n"
        "if sys.argv[3] == '1':\n    os.replace(p, p + '.1')\n"
        "with open(p, 'a') as f:\n    f.write(sys.argv[2])\n"
    )
    subprocess.run(
        [sys.executable, "-c", code, str(path), text, "1" if rotate else "0"],
        check=True,
        timeout=30,
    )


async def test_log_option_follows_a_file_and_cards_appear(
    tmp_path: Path, feed_samplers: list[FeedSampler]
) -> None:
    log = tmp_path / "server.log"
    log.write_text("INFO old line 1\nINFO old line 2\n")
    sampler = FeedSampler(h100_at(10))
    feed_samplers.append(sampler)
    app = make_app(sampler, log_file=str(log))
    async with app.run_test(size=(140, 40)) as pilot:
        view = app.log_view
        await wait_until(
            pilot, lambda: app.query_one("#tabs", ContentSwitcher).current == "log", "the Log tab"
        )
        await wait_until(
            pilot,
            lambda: any(e.text == "INFO old line 2" for e in view.pane.entries),
            "the lines already in the file",
        )
        _write(log, OOM)
        await wait_until(pilot, lambda: bool(view.cards), "a cause card", timeout_s=20)
        assert view.cards[0].cause_id == "cuda_oom"
        _write(
            log,
            "ERROR: [Errno 98] error while attempting to bind on address ('0.0.0.0', 8000): "
            "address already in use\n",
            rotate=True,
        )
        await wait_until(
            pilot,
            lambda: any("rotated" in e.text for e in view.pane.entries),
            "the rotation",
            timeout_s=20,
        )
        await wait_until(
            pilot,
            lambda: any(c.cause_id == "port_in_use" for c in view.cards),
            "a second card",
            timeout_s=20,
        )


async def test_f_asks_for_a_path_and_follows_it(
    tmp_path: Path, feed_samplers: list[FeedSampler]
) -> None:
    log = tmp_path / "any.log"
    log.write_text("hello from a file\n")
    sampler = FeedSampler(h100_at(10))
    feed_samplers.append(sampler)
    app = make_app(sampler)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press("f")
        await wait_until(pilot, lambda: isinstance(app.screen, OpenLogScreen), "the path prompt")
        field = app.screen.query_one(Input)
        field.value = str(tmp_path / "nope.log")
        await pilot.press("enter")
        assert isinstance(app.screen, OpenLogScreen)  # a wrong path: one line, the prompt stays
        assert "no such file" in str(app.screen.query_one("#open-log-problem").render())
        field.value = str(log)
        await pilot.press("enter")
        await wait_until(pilot, lambda: bool(app.query(LogFileFollower)), "the follower")
        await wait_until(
            pilot,
            lambda: any(e.text == "hello from a file" for e in app.log_view.pane.entries),
            "the file's lines",
        )
