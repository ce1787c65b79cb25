"""The whole log file, paged (`w` in the Log tab, widgets/file_pager.py): a real file of 300,000
lines opens on its last lines before the index is complete, then every line is reachable (Home,
a line number, a text, the next error and its causes), at most MAX_PAGES pages of it held
whatever was shown;
a separate writer process's appends are followed at the end, and truncation starts it again;
escape sequences in the file are shown, never emitted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from rich.cells import cell_len
from textual.widgets import Input

from tests.ui.conftest import make_app, wait_until
from tests.ui.fakes import FeedSampler, h100_at
from widgets.file_pager import MAX_PAGES, FilePager, FilePagerScreen
from widgets.log_file import OpenLogScreen

LINES = 300_000
ERROR_AT = (123_456, 250_000)  # 0-based lines that start a traceback


def _big_log(path: Path) -> None:
    with path.open("w") as f:
        for i in range(LINES):
            if i in ERROR_AT:
                f.write("Traceback (most recent call last):\n")
                continue
            if i - 1 == ERROR_AT[0]:
                f.write("RuntimeError: CUDA error: an illegal memory access was encountered\n")
                continue
            if i - 1 == ERROR_AT[1]:
                f.write("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. "
                        "GPU 0 has a total capacity of 23.65 GiB of which 1.02 GiB is free.\n")
                continue
            if i == 77_777:
                f.write("step 77777 \x1b]0;pwned\x07 the needle-in-a-haystack line\n")
                continue
            f.write(f"2026-12-06 10:00:00,000 INFO step {i} loss 1.234 tokens/s 1234.5\n")


def _append(path: Path, text: str, *, truncate: bool = False) -> None:
    """Another process writes (as a training run or a server does)."""
    code = (
        "import sys\nmode = 'w' if sys.argv[3] == '1' else 'a'\n"
        "with open(sys.argv[1], mode) as f:\n    f.write(sys.argv[2])\n"
    )
    subprocess.run([sys.executable, "-c", code, str(path), text, "1" if truncate else "0"],
                   check=True, timeout=30)


def _shown(pager: FilePager) -> list[str]:
    """The text of the rows on screen now."""
    height = pager.scrollable_content_region.height
    return ["".join(s.text for s in pager.render_line(y)) for y in range(height)]


async def test_w_pages_the_whole_file_in_bounded_memory(
    tmp_path: Path, feed_samplers: list[FeedSampler]
) -> None:
    log = tmp_path / "train.log"
    _big_log(log)
    sampler = FeedSampler(h100_at(10))
    feed_samplers.append(sampler)
    app = make_app(sampler, log_file=str(log))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: bool(app.log_view.pane.entries), "the follower")
        await pilot.press("w")
        await wait_until(pilot, lambda: isinstance(app.screen, FilePagerScreen), "the pager")
        screen = app.screen
        assert isinstance(screen, FilePagerScreen)
        pager = screen.pager
        # The first screen is the file's end, whether or not the index is done.
        await wait_until(pilot, lambda: any(f"step {LINES - 1} " in t for t in _shown(pager)),
                         "the last line on the first screen")
        await wait_until(pilot, lambda: pager.indexed, "the index", timeout_s=30)
        assert pager.line_count == LINES
        assert f"lines {LINES - pager.size.height + 3:,}" in str(pager.border_title) or (
            f"of {LINES:,}" in str(pager.border_title))
        await pilot.press("home")
        await wait_until(pilot, lambda: pager.top_line == 0, "the first line")
        assert "step 0 " in _shown(pager)[0] and _shown(pager)[0].lstrip().startswith("1 ")
        # Page through a stretch and jump about: the pages held stay bounded.
        for _ in range(40):
            await pilot.press("pagedown")
        for target in ("150000", "3", "299999", "42,000"):
            await pilot.press("colon")
            field = screen.query_one("#pager-ask", Input)
            assert field.has_focus
            field.value = target
            await pilot.press("enter")
            number = int(target.replace(",", ""))
            await wait_until(pilot, lambda n=number: pager.mark == n - 1, f"line {target}")
            assert any(f"step {number - 1} " in t for t in _shown(pager))
            assert pager.pages_held <= MAX_PAGES
        # A line number the file does not have: one line saying what to type, nothing moves.
        await pilot.press("colon")
        screen.query_one("#pager-ask", Input).value = "400000"
        await pilot.press("enter")
        assert "type a number from 1 to 300,000" in screen.status
        await pilot.press("escape")
        assert not screen.query_one("#pager-ask", Input).has_focus
        # n: the next error below (the traceback's first line), N: back up.
        pager.go_to(100)
        await pilot.press("n")
        await wait_until(pilot, lambda: pager.mark == ERROR_AT[0], "the first error")
        await pilot.press("n")
        await wait_until(pilot, lambda: pager.mark == ERROR_AT[1], "the second error")
        # An error found is diagnosed from the lines around it: its causes under the file.
        # (the first diagnosis in a process reads the rules first: a generous deadline)
        await wait_until(pilot, lambda: screen.diagnosed_line == ERROR_AT[1], "its diagnosis",
                         timeout_s=30)
        assert screen.causes and screen.causes[0].id == "cuda_oom"
        assert "GPU out of memory" in str(screen.query_one("#pager-causes").render())
        await pilot.press("N")
        await wait_until(pilot, lambda: pager.mark == ERROR_AT[0], "back to the first")
        # / finds text below (any case), and an escape sequence in it is shown, not emitted.
        await pilot.press("slash")
        screen.query_one("#pager-ask", Input).value = "NEEDLE-in"
        await pilot.press("enter")
        await wait_until(pilot, lambda: "no “NEEDLE-in” below" in screen.status, "none below")
        assert pager.mark == ERROR_AT[0]
        pager.go_to(0)
        await pilot.press("n")
        await wait_until(pilot, lambda: pager.mark == 77_777, "the text found")
        row = next(t for t in _shown(pager) if "needle" in t)
        assert "\x1b" not in row and "\x07" not in row and "pwned" in row
        await pilot.press("N")
        await wait_until(pilot, lambda: "no “NEEDLE-in” above" in screen.status, "none above")
        assert pager.pages_held <= MAX_PAGES
        # d on a line of no error: it says so, in one line.
        pager.go_to(10)
        await pilot.press("d")
        await wait_until(pilot, lambda: screen.diagnosed_line == 10, "the plain line diagnosed")
        assert not screen.causes
        assert "no known cause in lines 1-210" in str(screen.query_one("#pager-causes").render())
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, FilePagerScreen), "back")


async def test_the_pager_follows_appends_and_truncation_and_names_a_bad_path(
    tmp_path: Path, feed_samplers: list[FeedSampler]
) -> None:
    log = tmp_path / "serve.log"
    log.write_text("".join(f"INFO request {i}\n" for i in range(499)) + "模型加载失败：显存不足\n")
    sampler = FeedSampler(h100_at(10))
    feed_samplers.append(sampler)
    app = make_app(sampler)
    async with app.run_test(size=(80, 24)) as pilot:
        # A path that cannot be paged: one line naming it, Esc goes back.
        app.push_screen(FilePagerScreen(tmp_path / "gone.log"))
        await wait_until(pilot, lambda: isinstance(app.screen, FilePagerScreen), "the screen")
        gone = app.screen
        assert isinstance(gone, FilePagerScreen)
        assert gone.problem == f"{tmp_path / 'gone.log'}: no such file"
        assert "no such file" in str(gone.query_one("#pager-problem").render())
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, FilePagerScreen), "back")
        # No file followed yet: w asks for a path, then follows and pages it.
        await pilot.press("w")
        await wait_until(pilot, lambda: isinstance(app.screen, OpenLogScreen), "the path prompt")
        app.screen.query_one(Input).value = str(log)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, FilePagerScreen), "the pager")
        screen = app.screen
        assert isinstance(screen, FilePagerScreen)
        pager = screen.pager
        await wait_until(pilot, lambda: pager.indexed and pager.line_count == 500, "the index")
        # Wide (CJK) characters take two cells: the row still fits the pager exactly.
        row = next(y for y in range(pager.size.height) if "显存" in
                   "".join(seg.text for seg in pager.render_line(y)))
        cells = sum(cell_len(seg.text) for seg in pager.render_line(row))
        assert cells == pager.scrollable_content_region.width
        _append(log, "INFO request 500\nERROR: engine died\n")
        await wait_until(pilot, lambda: pager.line_count == 502, "the appended lines")
        await wait_until(pilot, lambda: any("ERROR: engine died" in t for t in _shown(pager)),
                         "the end kept in view")
        _append(log, "INFO fresh start\n", truncate=True)
        await wait_until(pilot, lambda: "truncated" in screen.status, "the truncation")
        await wait_until(pilot, lambda: pager.indexed and pager.line_count == 1, "re-indexed")
        assert any("INFO fresh start" in t for t in _shown(pager))


async def test_brackets_in_the_name_or_the_text_found_are_text_not_markup(tmp_path: Path) -> None:
    """The pager's border shows the file's name and the text being found: "[rank0]" (every
    distributed log has it) stays "[rank0]", and "[/]" does not end the app with a MarkupError.
    Titles are set only when they change (setting one repaints the pager)."""
    from textual.app import App
    from textual.content import Content

    log = tmp_path / "run[b]x.log"
    log.write_text("".join(f"[rank0]: step {i}\n" for i in range(50)) + "[/] done\n")
    app: App[None] = App()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = FilePagerScreen(log)
        app.push_screen(screen)
        await pilot.pause()
        await wait_until(pilot, lambda: screen.pager.indexed, "the index")
        pager = screen.pager
        await pilot.pause(0.3)
        assert "run[b]x.log" in Content.from_markup(str(pager.border_title)).plain
        for text in ("[rank0]", "[/]"):
            await pilot.press("slash")
            screen.query_one("#pager-ask", Input).value = text
            await pilot.press("enter")
            await wait_until(pilot, lambda t=text: f"“{t}” at line" in screen.status, text)
            # The titles are set again on the pager's next tick (later on a loaded machine: a
            # fixed 0.3 s pause failed a fresh-clone run in session 30).
            await wait_until(pilot, lambda t=text: f"n N “{t}”" in Content.from_markup(
                str(pager.border_subtitle)).plain, f"the subtitle naming {text}")
        assert app.is_running
