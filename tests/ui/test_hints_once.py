"""A hint is said once per run: a real truncated-shard load (the real engine process on CPU)
at 80x24. Sixteen tensors run past the end of the cut file, and each pre-flight finding
carries the same fix; the log pane, the cause card, the model view's result line and the
engine's own error event each say it once."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.core import protocol
from console.core.hints import normalize
from console.engines.base import Engine, OnEvent
from tests.ui.conftest import wait_until
from tests.ui.test_model_panel import ENGINE_S, make_engine_app, shows, text_of
from widgets.log_view import LogView
from widgets.model_panel import ModelPanel

FIX = "download it again"


@pytest.fixture(scope="module")
def truncated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real tiny Llama whose one safetensors shard is cut in half."""
    from console.worker import tinymodels

    model = tinymodels.build("llama", tmp_path_factory.mktemp("hints") / "truncated")
    weights = model / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    return model


def times(text: str) -> int:
    return normalize(text).count(FIX)


async def test_a_truncated_shard_says_its_fix_once_on_every_surface(truncated: Path) -> None:
    app = make_engine_app(model=None)
    errors: list[protocol.Error] = []
    factory = app.engine_factory

    def recording(on_message: OnEvent) -> Engine:
        def seen(event: protocol.AnyEvent) -> None:
            if isinstance(event, protocol.Error):
                errors.append(event)
            on_message(event)
        return factory(seen)

    app.engine_factory = recording
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(LogView)
        await pilot.press("2")
        app.query_one(ModelPanel).set_model(str(truncated))
        app.set_focus(None)
        app.run_check(str(truncated))
        await wait_until(pilot, lambda: app.session.check is not None
                         and app.session.check.verdict == "broken", "the pre-flight", 30)
        # Sixteen findings share the fix: the pre-flight report says it once, with a count.
        await pilot.press("W")  # unfold it
        report = app.query_one("#preflight").raw  # type: ignore[attr-defined]
        assert times(report) == 1 and "(x16)" in report, report
        await pilot.press("W")
        await pilot.press("L")
        await wait_until(pilot, shows(app, "#results", "error"), "the load error", ENGINE_S)
        await wait_until(pilot, lambda: len(view.cards) == 1, "the cause card", 30)
        view.flush_diagnosis()
        await pilot.pause(0.5)
        # The engine's error event: the problems in the message, the fix once, in the hint.
        assert len(errors) == 1
        assert errors[0].error_type == "PreflightFailed"
        assert times(errors[0].message) == 0 and times(errors[0].hint) == 1
        assert "(and 13 more)" in errors[0].message
        # The log pane: the refusal, the engine's stderr line and the error line; the fix once.
        log = "\n".join(view.pane.visible_texts())
        assert "pre-flight refused the load" in log and "PreflightFailed" in log
        assert times(log) == 1, log
        # The card: collapsed, its fix line; expanded (and copied), its fixes list only.
        card = view.cards[0]
        assert card.cause_id == "corrupt_checkpoint"
        assert times(str(card.render())) == 1
        card.expanded = True
        assert times(str(card.render())) == 1
        assert times(card.card_text()) == 1
        # The model view's result line.
        assert times(text_of(app, "#results")) == 1
