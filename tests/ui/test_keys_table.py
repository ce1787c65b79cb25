"""The one table of keys (console/core/keys.py `KEYS`): every key declared there is bound, in
the command palette and on the `?` screen, and an engine command declared with a `KEY` on its
protocol class is all of that and sent by its key without a line of the app changing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from textual.binding import Binding

from console.app import ConsoleApp
from console.core import keys, protocol
from tests.paths import REPO
from tests.ui.conftest import make_app, wait_until
from tests.ui.fakes import FixedSampler, cpu_only_sequence


async def test_every_keyed_engine_command_is_bound_in_the_palette_and_in_the_help() -> None:
    keyed = [name for name, cls in protocol.COMMAND_TYPES.items() if cls.KEY is not None]
    assert {"abort", "gc", "stop_generation"} <= set(keyed)
    bindings = [b for b in ConsoleApp.BINDINGS if isinstance(b, Binding)]
    assert len(bindings) == len(ConsoleApp.BINDINGS)
    bound = {binding.action: binding for binding in bindings}
    app = make_app(FixedSampler(cpu_only_sequence()))
    async with app.run_test(size=(80, 24)):
        titles = {command.title for command in app.get_system_commands(app.screen)}
        assert app.help_rows() == keys.help_rows()
    help_lines = dict(keys.help_rows())
    for name in keyed:
        spec = protocol.COMMAND_TYPES[name].KEY
        assert spec is not None
        binding = bound[f"command({name!r})"]
        assert binding.key == spec.key_name
        assert f"{spec.title} ({spec.key})" in titles, name
        shown = next(k for k, what in help_lines.items() if what == spec.help)
        assert spec.key in shown.split(" / "), (name, shown)
    # One binding per key and per id (an id lets users remap it).
    keys_bound = [b.key for b in bindings]
    assert len(keys_bound) == len(set(keys_bound))
    ids = [b.id for b in bindings]
    assert len(ids) == len(set(ids))


# A command added the way docs/layout.md says (a class with a KEY, in COMMAND_TYPES), in a
# fresh process so the tables are made with it; the app module is not touched.
NEW_COMMAND = textwrap.dedent('''
    import asyncio
    from dataclasses import dataclass
    from typing import ClassVar

    from console.core import protocol
    from console.core.keyspec import KeySpec


    @dataclass(frozen=True, kw_only=True, repr=False, eq=False)
    class Echo(protocol.Command):
        NAME: ClassVar[str] = "echo"
        OPTIONAL: ClassVar[protocol.Spec] = {"text": (str,)}
        KEY: ClassVar[KeySpec | None] = KeySpec(
            "J", "Echo text", "echo a text back", palette="the engine says it back",
            needs="running", fields=lambda: {"text": "hi"})
        text: str = ""


    protocol.COMMAND_TYPES["echo"] = Echo

    from console.app import ConsoleApp
    from console.core.keys import help_rows
    from console.engines.replay import ReplayEngine
    from tests.ui.conftest import make_app
    from tests.ui.fakes import FixedSampler, cpu_only_sequence

    LOADED = [{"event": "state", "state": "loading", "model": "m"},
              {"event": "state", "state": "loaded", "model": "m"}]
    made = []


    def factory(on_event):
        made.append(ReplayEngine({"load": LOADED, "memory_report": []}, on_event))
        return made[-1]


    async def main():
        app = make_app(FixedSampler(cpu_only_sequence()), initial_model="m",
                       engine_factory=factory)
        async with app.run_test(size=(120, 40)) as pilot:
            print("binding", [(b.key, b.action) for b in ConsoleApp.BINDINGS if b.key == "J"])
            print("palette", [c.title for c in app.get_system_commands(app.screen)
                              if "Echo" in c.title])
            print("help", [row for row in help_rows() if row[0] == "J"])
            await pilot.press("J")
            await pilot.pause()
            print("refused", [n.message for n in app._notifications if n.message[0] == "J"])
            await pilot.press("L")
            for _ in range(500):
                if app.session.engine == "loaded":
                    break
                await pilot.pause(0.01)
            await pilot.press("J")
            await pilot.pause()
            print("sent", [(type(c).__name__, getattr(c, "text", None)) for c in made[0].sent
                           if c.NAME == "echo"])

    asyncio.run(main())
''')


def test_a_command_declared_with_a_key_is_bound_offered_listed_and_sent() -> None:
    done = subprocess.run([sys.executable, "-c", NEW_COMMAND], check=False, cwd=REPO,
                          capture_output=True,
                          text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO), "TZ": "UTC"})
    assert done.returncode == 0, done.stderr[-2000:]
    out = dict(line.split(" ", 1) for line in done.stdout.splitlines())
    assert out["binding"] == "[('J', \"command('echo')\")]"
    assert out["palette"] == "['Echo text (J)']"
    assert out["help"] == "[('J', 'echo a text back')]"
    # Its `needs` refuses it with one line while no engine runs; once one runs it is sent.
    assert out["refused"] == "['J: the engine is not running (L starts it with a load)']"
    assert out["sent"] == "[('Echo', 'hi')]"


async def test_a_keyed_command_is_refused_with_one_line_while_no_engine_runs() -> None:
    app = make_app(FixedSampler(cpu_only_sequence()))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("G")
        await wait_until(pilot, lambda: bool(app._notifications), "a notice")
        assert [n.message for n in app._notifications] == [
            "G: the engine is not running (L starts it with a load)"]
        assert app.engine is None  # a refused key starts nothing
