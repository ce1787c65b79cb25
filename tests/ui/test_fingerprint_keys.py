"""The migration check in the TUI (issue 18): `V` records a fingerprint of the loaded model
with the REAL engine process on the demo model (the probe set runs in the engine, the hashes
on a thread here), `C` compares it with a saved one and shows the verdict as a card in the
Log tab.

Record twice, compare: identical. A copy of the demo with one tensor's bytes flipped,
fingerprinted by `autoglm-console fingerprint`, compared: different weights, the tensor named.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import struct
import subprocess
import sys
from pathlib import Path

from textual.binding import Binding
from textual.widgets import Input, OptionList

from console.app import ConsoleApp
from console.commands.fingerprint import fingerprint_dir
from tests.ui.conftest import wait_until
from tests.ui.test_model_panel import ENGINE_S, load_demo, make_engine_app
from widgets.compare_screen import CompareScreen
from widgets.help_screen import HelpScreen
from widgets.verdict_card import VerdictCard

REPO = Path(__file__).resolve().parents[2]
TENSOR = "model.layers.0.mlp.down_proj.weight"


def _perturb(model_dir: Path, tensor: str) -> None:
    path = next(model_dir.glob("*.safetensors"))
    data = bytearray(path.read_bytes())
    n = struct.unpack("<Q", data[:8])[0]
    begin, end = json.loads(data[8:8 + n])[tensor]["data_offsets"]
    start = 8 + n + begin
    for i in range(start, min(start + 64, 8 + n + end)):
        data[i] ^= 0x40
    path.write_bytes(bytes(data))


def _fingerprint_cli(model: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "console.cli", "fingerprint", str(model),
                           "--out", str(out), "--device", "cpu"], cwd=REPO,
                          capture_output=True, text=True, timeout=600, check=False)


def _cards(app: ConsoleApp) -> list[VerdictCard]:
    return list(app.query(VerdictCard))


async def _record(app: ConsoleApp, pilot: object) -> Path:
    before = app.last_fingerprint
    await pilot.press("V")  # type: ignore[attr-defined]
    await wait_until(pilot, lambda: app.fingerprint_job is None  # type: ignore[arg-type]
                     and app.last_fingerprint != before, "a fingerprint written", ENGINE_S)
    path = app.last_fingerprint
    assert path is not None and path.parent == fingerprint_dir() and path.is_file()
    return path


async def test_record_then_compare_identical_and_a_perturbed_copy(tmp_path: Path) -> None:
    app = make_engine_app()
    async with app.run_test(size=(160, 48)) as pilot:
        # Before a load: V says why it cannot act; C asks for a fingerprint first.
        app.set_focus(None)
        await pilot.press("V")
        await pilot.press("C")
        assert app.fingerprint_job is None and not isinstance(app.screen, CompareScreen)

        await load_demo(app, pilot)
        first = await _record(app, pilot)
        doc = json.loads(first.read_text())
        assert doc["schema"] == "autoglm-console/fingerprint/1"
        assert len(doc["behaviour"]["probes"]) >= 5 and doc["behaviour"]["noise"] == 0.0
        assert any(TENSOR in f["tensors"] for f in doc["model"]["files"])
        # The path is shown in the Log tab.
        assert any(str(first) in e.text for e in app.log_view.pane.entries)
        second = await _record(app, pilot)
        assert second != first

        # C offers the fingerprints recorded before; the first one is the reference.
        await pilot.press("C")
        await wait_until(pilot, lambda: isinstance(app.screen, CompareScreen), "the prompt")
        screen = app.screen
        assert isinstance(screen, CompareScreen) and screen.recent[0] == first
        screen.query_one(OptionList).focus()
        await pilot.pause()
        await pilot.press("enter")
        await wait_until(pilot, lambda: len(_cards(app)) == 1, "the verdict card", 30)
        card = _cards(app)[0]
        assert card.verdict.verdict == "identical" and card.verdict.equivalent
        assert (card.reference, card.recorded) == (first, second)
        assert app.active_tab == "log"
        assert "migration check: identical" in str(card.render())

        # A damaged copy of the checkpoint, fingerprinted by the CLI, typed in as the reference.
        loaded = app.session.loaded
        assert loaded is not None
        damaged = tmp_path / "damaged"
        shutil.copytree(loaded.path, damaged)
        _perturb(damaged, TENSOR)
        other = tmp_path / "damaged.json"
        done = await asyncio.to_thread(_fingerprint_cli, damaged, other)
        assert done.returncode == 0, done.stderr
        app.set_focus(None)
        await pilot.press("C")
        await wait_until(pilot, lambda: isinstance(app.screen, CompareScreen), "the prompt")
        field = app.screen.query_one("#compare-path", Input)
        field.focus()
        field.value = str(tmp_path / "nothing.json")
        await pilot.press("enter")  # a path that is not there: said, the prompt stays
        assert isinstance(app.screen, CompareScreen)
        assert "no such file" in str(app.screen.query_one("#compare-problem").render())
        field.value = str(other)
        await pilot.press("enter")
        await wait_until(pilot, lambda: len(_cards(app)) == 2, "the second verdict card", 30)
        card = _cards(app)[0]  # newest first
        assert card.verdict.verdict == "different_weights" and not card.verdict.equivalent
        assert card.verdict.changed_tensors == (TENSOR,)
        assert f"changed tensor: {TENSOR}" in str(card.render())
        assert f"changed tensor: {TENSOR}" in card.card_text()


async def test_the_keys_are_in_the_palette_and_the_help() -> None:
    app = make_engine_app(model=None)
    async with app.run_test(size=(120, 40)) as pilot:
        titles = {command.title for command in app.get_system_commands(app.screen)}
        assert {"Record a fingerprint (V)", "Compare fingerprints (C)"} <= titles
        keys = {k.key: k.action for k in app.BINDINGS if isinstance(k, Binding)}
        assert keys["V"] == "fingerprint" and keys["C"] == "compare_fingerprint"
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), "help")
        assert isinstance(app.screen, HelpScreen)
        rows = dict(app.screen.rows)
        assert "fingerprint" in rows["V"] and "compare" in rows["C"]
