"""Image prompts in the TUI (issue 16): attach with completion, the list with sizes and tokens,
remove, the parsed AutoGLM action under the output; one test with the REAL engine on demo-vl."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input

from console.core import protocol, vision
from console.core.session import GenerationStarted, VisionRead
from console.worker import demo_vl
from tests.ui.conftest import wait_until
from tests.ui.test_model_panel import ENGINE_S, make_engine_app, shows, text_of
from widgets.prompt_panel import PromptPanel

PROBES = {p.name: p for p in demo_vl.probe_images()}


def demo_vl_limits() -> vision.ProcessorLimits:
    """demo-vl's processor limits from its constants (no build, no torch)."""
    cfg = {"model_type": "glm4v", "vision_config": dict(demo_vl.VISION_OVERRIDES)}
    return vision.processor_limits(cfg, {"size": {"shortest_edge": demo_vl.MIN_PIXELS,
                                                  "longest_edge": demo_vl.MAX_PIXELS}})


async def test_attach_complete_list_remove(tmp_path: Path) -> None:
    app = make_engine_app("demo-vl")
    sent: list[PromptPanel.Submitted] = []

    def hook(message: object) -> None:
        if isinstance(message, PromptPanel.Submitted):
            sent.append(message)

    async with app.run_test(size=(160, 48), message_hook=hook) as pilot:
        await pilot.press("2")
        panel = app.query_one(PromptPanel)
        app.query_one("#prompt", Input).focus()
        await pilot.press("ctrl+o")
        field = app.query_one("#image-path", Input)
        assert field.display and app.focused is field
        # completion: a unique prefix completes to the file name; right arrow accepts it
        field.value = str(PROBES["phone_screen.png"].parent / "pho")
        field.cursor_position = len(field.value)
        await wait_until(pilot, lambda: field._suggestion != "", "the completion")
        await pilot.press("right")
        assert field.value == str(PROBES["phone_screen.png"])
        await pilot.press("enter")
        assert not field.display and app.focused is app.query_one("#prompt", Input)
        listing = text_of(app, "#images")
        assert "1. phone_screen.png  540x1200 PNG" in listing and "? tokens" in listing
        # a vision model is loaded: every attached image shows its tokens
        app.fold(VisionRead(demo_vl_limits()))  # as a load of demo-vl sets them
        assert "230 vision tokens" in text_of(app, "#images")
        await pilot.press("ctrl+o")
        field.value = str(PROBES["icon.png"])
        await pilot.press("enter")
        listing = text_of(app, "#images")
        assert "2 attached, 239 vision tokens" in listing and "2. icon.png  96x96" in listing
        # bad paths: one line, nothing attached, the field stays open
        await pilot.press("ctrl+o")
        field.value = str(tmp_path / "missing.png")
        await pilot.press("enter")
        assert "no such file" in text_of(app, "#images") and len(panel.images) == 2
        not_image = tmp_path / "notes.txt"
        not_image.write_text("hello")
        field.value = str(not_image)
        await pilot.press("enter")
        assert "not a PNG, JPEG" in text_of(app, "#images")
        await pilot.press("escape")
        assert not field.display
        await pilot.press("ctrl+r")
        assert len(panel.images) == 1 and "removed icon.png" in text_of(app, "#images")
        # the prompt carries the images
        prompt = app.query_one("#prompt", Input)
        prompt.value = "open settings"
        await pilot.press("enter")
        await pilot.pause()
        assert sent and sent[0].images == (str(PROBES["phone_screen.png"]),)
        # a text-only model refuses to take images, in one line
        app.fold(VisionRead(None))
        assert not panel.attach(str(PROBES["banner.png"]))
        assert "text-only" in text_of(app, "#images")


async def test_parsed_action_under_the_output() -> None:
    app = make_engine_app("demo-vl")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2")
        app.fold(VisionRead(demo_vl_limits()))
        app.fold(GenerationStarted(images=(str(PROBES["phone_screen.png"]),)))
        await pilot.pause()
        assert text_of(app, "#answer") == ""
        app.fold(protocol.make_event(
            protocol.Generated, tokens=20, ttft_s=0.1, tokens_per_s=9.0,
            kv_cache_bytes=1024, stopped="eos", image_tokens=230,
            text='<think>Settings is top right.</think><answer>do(action="Tap", '
                 'element=[912, 88])</answer>'))
        await pilot.pause()
        assert text_of(app, "#answer") == "action: Tap at (912, 88)"
        assert "image tokens 230" in text_of(app, "#gen-stats")
        app.fold(GenerationStarted())
        app.fold(protocol.make_event(protocol.Generated, tokens=1, ttft_s=0.1,
                                     tokens_per_s=9.0, kv_cache_bytes=1024, stopped="eos",
                                     text=""))
        await pilot.pause()
        assert text_of(app, "#answer").startswith("answer malformed: immediate end of sequence")


async def test_real_engine_attach_and_generate() -> None:
    app = make_engine_app("demo-vl")
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("2")
        app.set_focus(None)
        await pilot.press("L")
        await wait_until(pilot, shows(app, "#state-line", "state: loaded"), "loaded", ENGINE_S)
        assert "demo-vl: random weights" in text_of(app, "#state-line")
        panel = app.query_one(PromptPanel)
        assert isinstance(app.session.vision_limits, vision.ProcessorLimits)
        assert panel.vision_limits is app.session.vision_limits
        for name in ("phone_screen.png", "banner.png"):
            assert panel.attach(str(PROBES[name]))
        listing = text_of(app, "#images")
        assert "2 attached" in listing and "? tokens" not in listing
        expected = sum(img.tokens or 0 for img in panel.images)
        prompt = app.query_one("#prompt", Input)
        prompt.focus()
        prompt.value = "open settings"
        await pilot.press("enter")
        await wait_until(pilot, shows(app, "#gen-stats", "TTFT"), "generated", ENGINE_S)
        assert f"image tokens {expected}" in text_of(app, "#gen-stats")
        assert text_of(app, "#answer").startswith("answer malformed:")  # random weights
        app.set_focus(None)
        await pilot.press("U")
        await wait_until(pilot, shows(app, "#results", "freed"), "unloaded", ENGINE_S)
