"""Issue 17: the engine selector in the model view. L with a served engine selected starts it
(port and command from the fields) and the prompt talks to it; the in-process engine is left
alone; bad fields are one line. A `ReplayEngine` stands for the server here; the real
`transformers serve` runs in tests/served/test_remote_engine.py and in the last test below."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from textual.widgets import Input, Select

from console.app import ConsoleApp
from console.core.serving import ServeSpec
from console.core.termsafe import safe
from console.engines.base import Engine, OnEvent
from console.engines.replay import HELLO, ReplayEngine
from console.host.config import MIN_INTERVAL_S, Config
from tests.ui.conftest import make_app, wait_until
from tests.ui.fakes import FixedSampler, cpu_only_sequence
from tests.ui.test_engine_states import LOAD_OK, line

SERVED_HELLO = {**HELLO, "pid": 5151, "torch": "served:transformers", "transformers": ""}
SERVED_START = [
    SERVED_HELLO,
    {"event": "state", "state": "loading", "model": "m", "label": "transformers serve: m"},
    {"event": "output", "text": "INFO:     Uvicorn running on http://127.0.0.1:8123"},
    {"event": "loaded", "model": "m", "path": "m", "label": "transformers serve: m",
     "model_type": "served", "model_class": "transformers", "load_s": 4.5,
     "memory": {"devices": [], "rss_bytes": 400 * 2**20, "rss_baseline_bytes": 0}},
    {"event": "state", "state": "loaded", "label": "transformers serve: m"},
]
SERVED_GENERATE = [
    {"event": "state", "state": "generating"},
    {"event": "token", "text": "Hel", "token_ids": [], "index": 0},
    {"event": "token", "text": "lo", "token_ids": [], "index": 1},
    {"event": "generated", "tokens": 2, "ttft_s": 0.05, "tokens_per_s": 40.0,
     "kv_cache_bytes": None, "stopped": "eos", "text": "Hello"},
    {"event": "state", "state": "loaded"},
]


def selector_app(config: Config | None = None
                 ) -> tuple[ConsoleApp, list[ReplayEngine], list[tuple[ServeSpec, ReplayEngine]]]:
    local: list[ReplayEngine] = []
    served: list[tuple[ServeSpec, ReplayEngine]] = []

    def factory(on_event: OnEvent) -> ReplayEngine:
        engine = ReplayEngine({"memory_report": [], "load": LOAD_OK}, on_event)
        local.append(engine)
        return engine

    def served_factory(spec: ServeSpec, on_event: OnEvent) -> Engine:
        engine = ReplayEngine({"start": SERVED_START, "generate": SERVED_GENERATE}, on_event,
                              pid=5151)
        served.append((spec, engine))
        return engine

    app = make_app(FixedSampler(cpu_only_sequence()), config, initial_model="m",
                   engine_factory=factory, served_factory=served_factory, cursor_blink=False)
    return app, local, served


async def choose_engine(app: ConsoleApp, pilot: Any, presses: int) -> None:
    """Pick an engine with the keyboard: focus the selector, open it, move, choose."""
    await pilot.press("2")
    app.query_one("#engine", Select).focus()
    await pilot.press("enter")
    await pilot.pause()
    for _ in range(presses):
        await pilot.press("down")
    await pilot.press("enter")
    await pilot.pause()


async def test_selector_starts_the_served_engine_and_the_prompt_talks_to_it() -> None:
    app, local, served = selector_app()
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.query_one("#served-row").display is False
        await choose_engine(app, pilot, 3)  # in-process, vllm, sglang, tf serve
        assert app.model_panel.engine_kind == "transformers"
        # The served fields take the place of the in-process options (they do not apply).
        assert app.query_one("#served-row").display is True
        assert app.query_one("#inprocess-row").display is False
        assert app.query_one("#inprocess-row2").display is False
        app.query_one("#port", Input).value = "8123"
        app.query_one("#engine-cmd", Input).value = "/opt/tf/bin/transformers serve"
        app.set_focus(None)
        await pilot.press("L")
        await wait_until(pilot, lambda: app.session.engine == "loaded", "the server ready")
        assert local == []  # the in-process engine was never started
        assert len(served) == 1
        spec, engine = served[0]
        assert spec == ServeSpec("transformers", "m", port=8123,
                                 engine_cmd=("/opt/tf/bin/transformers", "serve"))
        assert app.engine_kind == "transformers"
        assert "state: loaded  [transformers serve: m]" in line(app, "state-line")
        assert "loaded m (transformers)" in line(app, "results")
        await pilot.press("i")
        app.query_one("#prompt", Input).value = "hi"
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.session.generation.done is not None, "generated")
        assert app.session.generation.text == "Hello"
        assert "Hello" in line(app, "output")
        # No allocator polls nor guard commands go to a server: only what it was asked.
        assert [c.NAME for c in engine.sent] == ["generate"]


async def test_bad_port_and_command_are_one_line_each_and_nothing_starts() -> None:
    app, local, served = selector_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await choose_engine(app, pilot, 1)
        assert app.model_panel.engine_kind == "vllm"
        app.query_one("#port", Input).value = "70000"
        app.set_focus(None)
        await pilot.press("L")
        await pilot.pause()
        assert line(app, "results") == ("port: '70000' is not a TCP port; give one from 1 to "
                                        "65535")
        app.query_one("#port", Input).value = "8000"
        app.query_one("#engine-cmd", Input).value = "python -m 'vllm"
        await pilot.press("L")
        await pilot.pause()
        assert line(app, "results").startswith("command: cannot split ")
        assert served == [] and local == []


async def test_config_command_is_used_and_switching_back_stops_the_server() -> None:
    config = Config(interval_s=MIN_INTERVAL_S,
                    serve_cmds={"sglang": "/opt/sg/bin/python -m sglang.launch_server"})
    app, local, served = selector_app(config)
    async with app.run_test(size=(80, 24)) as pilot:
        await choose_engine(app, pilot, 2)
        app.set_focus(None)
        await pilot.press("L")
        await wait_until(pilot, lambda: app.session.engine == "loaded", "the server ready")
        spec, engine = served[0]
        assert spec.engine == "sglang" and spec.port == 8000
        assert spec.engine_cmd == ("/opt/sg/bin/python", "-m", "sglang.launch_server")
        # Back to in-process while the server holds the model: refused, said where.
        await choose_engine(app, pilot, 0)
        app.query_one("#engine", Select).value = "in-process"
        app.set_focus(None)
        await pilot.press("L")
        await pilot.pause()
        assert "U unloads it first" in line(app, "results")
        assert local == [] and engine.alive
        # After the server ended, L starts the in-process engine and loads there.
        engine.stop()
        await wait_until(pilot, lambda: app.session.engine == "stopped", "server ended")
        await pilot.press("L")
        await wait_until(pilot, lambda: app.session.engine == "loaded" and bool(local),
                         "in-process load")
        assert app.engine_kind == "in-process"
        assert local[0].sent[0].NAME == "load"


async def test_the_real_transformers_serve_from_the_selector(tmp_path: Path) -> None:
    """L with "tf serve" starts a real `transformers serve` on the demo model; the prompt
    streams its answer into the output; U stops it with the memory proof."""
    from console.host import procs
    from console.worker import demo

    demo_dir = demo.ensure()
    app = make_app(FixedSampler(cpu_only_sequence()), initial_model=str(demo_dir),
                   cursor_blink=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await choose_engine(app, pilot, 3)
        app.query_one("#port", Input).value = str(procs.free_port())
        app.query_one("#engine-cmd", Input).value = (
            f"{Path(sys.executable).parent / 'transformers'} serve")
        app.set_focus(None)
        await pilot.press("L")
        await wait_until(pilot, lambda: app.session.engine in ("loaded", "dead"),
                         "the server ready", timeout_s=180)
        assert app.session.engine == "loaded", line(app, "results")
        await pilot.press("i")
        # The prompt and length that give text on the demo's random weights (greedy).
        app.query_one("#prompt", Input).value = "Hello there"
        app.query_one("#max-new-tokens", Input).value = "8"
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.session.generation.done is not None, "generated",
                         timeout_s=60)
        done = app.session.generation.done
        assert done is not None and done.tokens >= 1 and done.ttft_s is not None
        assert app.session.generation.text == done.text != ""
        # The model's text is shown made safe (random weights emit control characters).
        assert safe(done.text).strip() in line(app, "output")
        await pilot.press("escape")
        await pilot.press("U")
        await wait_until(pilot, lambda: app.session.engine == "stopped", "stopped",
                         timeout_s=60)
        assert line(app, "results").endswith("now 0 B")


async def test_a_taken_port_is_one_line_naming_its_owner_and_l_works_again() -> None:
    """The real RemoteEngine refuses a port another process listens on, before it starts."""
    import os
    import socket

    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    held.listen()
    port = held.getsockname()[1]
    app = make_app(FixedSampler(cpu_only_sequence()), initial_model="/models/m",
                   cursor_blink=False)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await choose_engine(app, pilot, 1)
            app.query_one("#port", Input).value = str(port)
            app.set_focus(None)
            await pilot.press("L")
            await pilot.pause()
            result = line(app, "results")
            assert result.startswith("Load: ") and str(port) in result
            assert str(os.getpid()) in result
            assert not app.session.load_pending and app.session.engine == "stopped"
            assert app.engine is not None and not app.engine.alive
            # Not stuck: L tries again (and says the same while the port is held).
            await pilot.press("L")
            await pilot.pause()
            assert line(app, "results") == result
    finally:
        held.close()


async def test_the_prompt_attaches_images_when_the_engine_is_served() -> None:
    """demo-vl served: the model's processor limits come from its directory as for the
    in-process engine, images attach with their tokens, and the Generate the served engine
    gets carries them (RemoteEngine sends them as image_url parts: tests/served/
    test_remote_images.py, against a real server)."""
    from console.core import protocol, vision
    from console.worker import demo_vl
    from widgets.prompt_panel import PromptPanel

    model_dir = str(demo_vl.ensure())
    icon = str(next(p for p in demo_vl.probe_images() if p.name == "icon.png"))
    start = [{**e, "model": "demo-vl", "path": model_dir} if e["event"] == "loaded" else e
             for e in SERVED_START]
    generate = [
        {"event": "state", "state": "generating"},
        {"event": "token", "text": "ok", "token_ids": [], "index": 0},
        {"event": "generated", "tokens": 1, "ttft_s": 0.05, "tokens_per_s": None,
         "kv_cache_bytes": None, "stopped": "eos", "text": "ok", "image_tokens": 16,
         "images": [{"path": icon, "width": 96, "height": 96, "file_bytes": 1}]},
        {"event": "state", "state": "loaded"},
    ]
    served: list[tuple[ServeSpec, ReplayEngine]] = []

    def served_factory(spec: ServeSpec, on_event: OnEvent) -> Engine:
        engine = ReplayEngine({"start": start, "generate": generate}, on_event, pid=5151)
        served.append((spec, engine))
        return engine

    app = make_app(FixedSampler(cpu_only_sequence()), initial_model="demo-vl",
                   served_factory=served_factory, cursor_blink=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await choose_engine(app, pilot, 3)
        app.set_focus(None)
        await pilot.press("L")
        await wait_until(pilot, lambda: app.session.engine == "loaded", "the server ready")
        spec, engine = served[0]
        assert spec.model == model_dir  # demo-vl is served from its built directory
        panel = app.query_one(PromptPanel)
        assert isinstance(panel.vision_limits, vision.ProcessorLimits)
        await pilot.press("i")
        await pilot.press("ctrl+o")
        app.query_one("#image-path", Input).value = icon
        await pilot.press("enter")
        assert "1. icon.png  96x96 PNG" in str(app.query_one("#images").render())
        app.query_one("#prompt", Input).value = "open settings"
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.session.generation.done is not None, "generated")
        sent = [c for c in engine.sent if isinstance(c, protocol.Generate)]
        assert len(sent) == 1 and sent[0].images == [icon]
        assert sent[0].prompt == "open settings"
        assert "1 image, image tokens 16" in line(app, "gen-stats")
