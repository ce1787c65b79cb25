"""End to end in tmux (issue 16): demo-vl, attach an image with ctrl+o, generate, unload."""

from __future__ import annotations

import time

from console.worker import demo_vl
from tests.e2e.test_tmux import (
    ENGINE_DEADLINE_S,
    Tmux,
    engine_children,
    installed_console,
    tmux,
    wait_for,
    wait_for_screen,
)

__all__ = ["tmux"]  # the fixture, used by name below


def test_demo_vl_attach_image_and_generate(tmux: Tmux) -> None:
    phone = str(next(p for p in demo_vl.probe_images() if p.name == "phone_screen.png"))
    tmux.start([installed_console(), "--model", "demo-vl"])  # 80x24
    tmux.wait_for_text("q quit")  # the footer: the whole frame is drawn
    tmux.keys("2")
    tmux.wait_for_text("pre-flight")
    tmux.keys("L")
    wait_for_screen(tmux, "state: loaded", ENGINE_DEADLINE_S)
    assert "demo-vl: random weights" in tmux.screen()
    time.sleep(0.2)
    tmux.keys("i")  # into the prompt; its keys offer ctrl+o
    wait_for_screen(tmux, "ctrl+o image", 10)
    time.sleep(0.2)
    tmux.keys("C-o")  # the path field opens and takes the focus
    time.sleep(0.3)
    tmux.keys("-l", phone)
    time.sleep(0.2)
    tmux.keys("Enter")
    wait_for_screen(tmux, "1. phone_screen.png  540x1200 PNG", 20)
    assert "230 vision tokens" in tmux.screen()
    tmux.keys("-l", "open settings")
    tmux.wait_for_text("open settings")
    tmux.keys("Enter")
    wait_for_screen(tmux, "image tokens 230", ENGINE_DEADLINE_S)
    # AutoGLM's reading, scrolled into view under the output
    wait_for(lambda: "answer malformed:" in tmux.screen() or "action:" in tmux.screen(),
             f"the parsed answer; screen:\n{tmux.screen()}", 10)
    tmux.keys("C-r")  # removes the image
    wait_for_screen(tmux, "removed phone_screen.png", 20)
    tmux.keys("Escape")
    time.sleep(0.2)
    tmux.keys("U")
    wait_for_screen(tmux, "freed", ENGINE_DEADLINE_S)
    tmux.keys("q")
    assert tmux.exit_status(timeout_s=30) == "0"
    wait_for(lambda: not tmux.processes(), "no console and no engine process left")
    assert not engine_children(tmux)
