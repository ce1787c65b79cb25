"""The engine strip: one line under the tabs, on every tab, saying what the engine is doing.

`● loading demo 48% 12.0/25.0 MiB 3.1 GiB/s ETA 2 s │ VRAM 1.2 GiB RSS 300 MiB ▁▂▄ │ guard
running │ A abort · P pause`. It renders from what the app gives it (the session, the latest
sample, the sample history) and keeps nothing of the engine's; `strip_text` builds the line
without a widget so tests and the CLI can read it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from textual.content import Content
from textual.widgets import Static

from console.core.keys import state_keys
from console.core.sample import ProcSample, Sample
from console.core.session import Session, exit_how
from console.core.units import fmt_bytes, fmt_rate

SPARK = "▁▂▃▄▅▆▇█"
SPARK_WIDTH = 8
COMPACT_BELOW = 120
STATE_STYLE = {
    "loading": "bold $accent", "loaded": "bold $success", "generating": "bold $success",
    "dead": "bold $error", "error": "bold $error", "paused": "bold $warning",
    "stalled": "bold $warning", "starting": "bold $accent",
}


def engine_proc(sample: Sample | None, pid: int | None) -> ProcSample | None:
    if sample is None or pid is None:
        return None
    return next((p for p in sample.watched if p.pid == pid and p.alive), None)


def spark(values: list[float], width: int = SPARK_WIDTH) -> str:
    """A tiny trend line between the values' own minimum and maximum (newest at the right);
    a flat series is a flat low line."""
    values = values[-width:]
    if not values:
        return ""
    low, high = min(values), max(values)
    if high <= low:
        return SPARK[0] * len(values)
    top = len(SPARK) - 1
    return "".join(SPARK[min(top, int((v - low) / (high - low) * top))] for v in values)


def progress_pct(session: Session) -> float | None:
    p = session.progress
    if p is None or p.bytes_total <= 0:
        return None
    return 100.0 * p.bytes_done / p.bytes_total


def state_word(session: Session) -> str:
    state = session.shown_state
    if session.engine == "stopped" and session.hello is None and session.exited is None:
        return "no engine"
    return state


def tab_badge(session: Session) -> str | None:
    """The Model tab's mark: '● 48%' while loading, '● paused', '● loaded', '✖ dead'."""
    state = session.shown_state
    if session.engine == "loading":
        if session.guard_mode == "paused":
            return "● paused"
        pct = progress_pct(session)
        return "● " + (f"{pct:.0f}%" if pct is not None else "loading")
    if state in ("loaded", "generating", "starting", "unloading"):
        return f"● {state}"
    if state in ("dead", "error"):
        return f"✖ {state}"
    return None


def strip_parts(session: Session, sample: Sample | None, rss_history: Iterable[float] = (),
                *, in_prompt: bool = False, width: int = 200) -> list[tuple[str, str]]:
    """(text, style) parts of the line; styles are Textual variables or ''. Narrower than
    COMPACT_BELOW columns the load's bytes and rate and the guard word are left out (the
    model view has them), so the keys still fit."""
    compact = width < COMPACT_BELOW
    state = state_word(session)
    parts: list[tuple[str, str]] = [("● ", STATE_STYLE.get(state.split()[0], "$text-muted")),
                                    (state, STATE_STYLE.get(state.split()[0], "bold"))]
    model = session.label or session.model
    if model and compact and len(model) > 20:
        model = model[:19] + "…"
    model_part = (f" {model}", "")
    if model and session.engine in ("loading", "loaded", "generating", "unloading"):
        parts.append(model_part)
    if session.engine == "loading":
        p = session.progress
        if session.guard_mode == "paused" and session.guard_by_user:
            parts.append((" — R resumes", "$warning"))
        elif session.guard_mode == "paused":
            parts.append((f" — {session.guard_line.text}", "$warning"))
        elif p is not None:
            pct = progress_pct(session)
            eta = "" if p.eta_s is None or compact else f" ETA {p.eta_s:.0f} s"
            sizes = ("" if compact else f" {fmt_bytes(p.bytes_done)}/{fmt_bytes(p.bytes_total)}"
                     f" {fmt_rate(p.rate_bytes_per_s)}")
            parts.append((f" {pct or 0:.0f}%{sizes}{eta}", ""))
        else:
            parts.append((" (reading the checkpoint)", "$text-muted"))
    elif session.engine == "starting":
        parts.append((" (importing torch; L waits for it)", "$text-muted"))
    elif session.engine == "dead" and session.exited is not None:
        parts.append((f" ({exit_how(session.exited)})", "$error"))
    proc = engine_proc(sample, session.pid)
    memory_part = ("", "")
    if proc is not None:
        vram = f"VRAM {fmt_bytes(proc.gpu_memory_bytes)} " if proc.gpu_memory_bytes else ""
        memory_part = (f" │ {vram}RSS {fmt_bytes(proc.rss_bytes)} ", "")
        parts.append(memory_part)
        parts.append((spark(list(rss_history)), "$accent"))
    if session.engine == "loading" and session.guard_mode == "running" and not compact:
        parts.append((" │ guard running", "$text-muted"))
    keys = state_keys(session, in_prompt=in_prompt)
    if keys:
        parts.append((" │ ", ""))
        for n, (key, what) in enumerate(keys):
            parts.append(((" · " if n else ""), "$text-muted"))
            parts.append((key, "bold $footer-key-foreground"))
            parts.append((f" {what}", ""))
    # Too long for the line: the model name goes first (the tab and the view show it), then
    # the VRAM figure (the RSS and its trend stay), so the keys stay in view.
    room = width - 2
    if sum(len(t) for t, _ in parts) > room and model_part in parts:
        parts.remove(model_part)
    if sum(len(t) for t, _ in parts) > room and proc is not None and memory_part in parts:
        parts[parts.index(memory_part)] = (f" │ RSS {fmt_bytes(proc.rss_bytes)} ", "")
    return parts


def strip_text(session: Session, sample: Sample | None, rss_history: Iterable[float] = (),
               *, in_prompt: bool = False, width: int = 200) -> str:
    return "".join(text for text, _ in strip_parts(session, sample, rss_history,
                                                   in_prompt=in_prompt, width=width))


class EngineStrip(Static):
    DEFAULT_CSS = """
    EngineStrip { height: 1; background: $boost; padding: 0 1; text-wrap: nowrap;
                  text-overflow: ellipsis; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("● no engine", markup=False, **kwargs)
        self.text = "● no engine"

    def show(self, session: Session, sample: Sample | None, rss_history: Iterable[float] = (),
             *, in_prompt: bool = False) -> None:
        parts = strip_parts(session, sample, rss_history, in_prompt=in_prompt,
                            width=self.app.size.width)
        text = "".join(t for t, _ in parts)
        if text == self.text:
            return
        self.text = text
        # One line whatever it says: no layout pass (the RSS and its trend change every tick).
        self.update(Content.assemble(*((t, style) for t, style in parts if t)), layout=False)
