"""The model view's left column, top part: state and load progress first (they stay in view at
80x24), then the model selector, load options, buttons (wide screens only: every action is a
key and in the command palette), the pre-flight folded into one line (W expands it), the
result block (fresh on each load, unload and model change) and estimate vs actual. The
engine's live memory, allocator row and guard are the engine box's (widgets/engine_box.py).

The panel keeps no engine state: the app calls `show_session(session)` (on the UI thread)
whenever its `session` (console/core/session.py) changes, and the panel renders every engine
line it shows from it: state, progress, pre-flight, result, estimate vs actual. The buttons
carry the ids of the app's actions (`btn-<action>`); the app maps a press to the same action
as the key, so buttons and keys do one thing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Checkbox, Input, Label, ProgressBar, Select, Static

from console.core.levels import Levels
from console.core.session import Session, exit_how, figures_text
from console.core.termsafe import safe
from console.core.trust import ModelKey, TrustGrant
from console.core.units import fmt_bytes, fmt_rate
from widgets.wrapped import IndentedStatic

__all__ = ["ModelPanel", "allocator_text", "figures_text", "guard_levels_text", "progress_text"]

DTYPES = ("auto", "bf16", "fp16", "fp32")
LOADERS = ("auto", "fast", "stock")
# The engine selector: (label, value). "in-process" is our own engine process (LocalEngine);
# the others start a server (console/engines/remote.py) with the port and engine command given.
ENGINES = (("in-process", "in-process"), ("vllm", "vllm"), ("sglang", "sglang"),
           ("tf serve", "transformers"))
DEFAULT_PORT = 8000
# (action, button label, key): the app binds the same actions to the same keys.
BUTTONS = (
    ("load", "Load", "L"), ("unload", "Unload", "U"), ("hard_unload", "Hard", "H"),
    ("abort", "Abort", "A"), ("pause", "Pause", "P"), ("resume", "Resume", "R"),
    ("gc", "GC", "G"), ("empty_cache", "Empty", "E"), ("memory_report", "Mem", "M"),
    ("pick", "Pick", "O"), ("restart_engine", "Restart", "X"),
)
GUARD_UNITS = {"vram": "%", "ram": "%", "swap": "%", "swap_in": " MiB/s"}


def _level(value: float | None, unit: str) -> str:
    return "-" if value is None else f"{value:g}{unit}"


def guard_levels_text(thresholds: Mapping[str, Levels], auto_resume: bool) -> str:
    """'vram 80/90/95 r85%  ram ...' (warn/pause/abort, resume)."""
    parts = []
    for name, unit in GUARD_UNITS.items():
        levels = thresholds.get(name)
        if levels is None:
            continue
        parts.append(f"{name} {_level(levels.warn, '')}/{_level(levels.pause, '')}/"
                     f"{_level(levels.abort, '')} r{_level(levels.resume, unit)}")
    return ("guard w/p/a: " + "  ".join(parts)
            + f"  auto-resume {'on' if auto_resume else 'off'}")


def allocator_text(report: Mapping[str, Any]) -> str:
    """The live allocator row from a `memory_report` event."""
    devices = report.get("devices") or []
    if not devices:
        return (f"allocator: no CUDA device in use; engine RSS {fmt_bytes(report.get('rss_bytes'))}"
                f" (baseline {fmt_bytes(report.get('rss_baseline_bytes'))})")
    return "allocator: " + "; ".join(
        f"{d['device']} alloc {fmt_bytes(d.get('allocated_bytes'))} "
        f"res {fmt_bytes(d.get('reserved_bytes'))} "
        f"res-unalloc {fmt_bytes(d.get('reserved_unallocated_bytes'))} "
        f"retries {d.get('alloc_retries', 0)} OOMs {d.get('ooms', 0)}"
        for d in devices)


def progress_text(msg: Mapping[str, Any]) -> str:
    eta = msg.get("eta_s")
    loader = msg.get("loader")
    why = msg.get("fallback_reason")
    loader_text = f"  loader {loader}" + (f" ({why})" if why else "") if loader else ""
    return (f"tensors {msg['tensors_done']}/{msg['tensors_total']}  "
            f"{fmt_bytes(msg['bytes_done'])}/{fmt_bytes(msg['bytes_total'])}  "
            f"{fmt_rate(msg.get('rate_bytes_per_s'))}  "
            f"ETA {'N/A' if eta is None else f'{eta:.1f} s'}  "
            f"{msg.get('current_file') or ''}{loader_text}")


def preflight_text(text: str, verdict: str, expanded: bool) -> str:
    """The pre-flight report: its first line and a key to see the rest, or all of it."""
    if verdict == "will_not_fit":
        text = "WILL NOT FIT: Load refuses; F loads anyway (asks first)\n" + text
    lines = text.splitlines() or [""]
    if expanded or len(lines) <= 1:
        return text + ("\n(W folds)" if len(lines) > 1 else "")
    # Folded: the first line and the verdict's line ("fit  fits: needs ..."), if there is one.
    fit = next((line.strip() for line in lines[1:] if line.strip().startswith("fit ")), "")
    verdict_text = f" · {' '.join(fit.split())}" if fit else ""
    return f"{lines[0]}{verdict_text}  (W: {len(lines) - 1} more lines)"


class ModelPanel(Vertical):
    DEFAULT_CSS = """
    ModelPanel { height: auto; }
    ModelPanel Horizontal { height: auto; }
    ModelPanel Label { padding: 0 1 0 0; }
    ModelPanel #model-input { width: 1fr; }
    ModelPanel .opt { width: 10; }
    ModelPanel #device { width: 9; }
    ModelPanel #attn { width: 9; }
    ModelPanel #context, ModelPanel #batch { width: 7; }
    ModelPanel #port { width: 7; }
    ModelPanel #engine { width: 15; }
    ModelPanel #engine-cmd { width: 1fr; }
    ModelPanel Select { width: 12; }
    ModelPanel Button { min-width: 6; margin: 0 1 0 0; }
    ModelPanel #state-line { text-style: bold; }
    ModelPanel .-problem { color: $error; }
    ModelPanel .-warning { color: $warning; }
    ModelPanel #load-progress { height: 1; }
    ModelPanel #preflight { max-height: 12; color: $text; }
    ModelPanel .line { height: auto; }
    ModelPanel #buttons { layout: grid; grid-size: 6; grid-rows: 1; grid-gutter: 0 1;
                          height: auto; }
    ModelPanel #buttons Button { width: 1fr; margin: 0; }
    """

    def __init__(self, model: str | None, session: Session, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.initial_model = model or ""
        self._first = session
        self._shown_run = -1
        self.preflight_open = False
        self._session = session

    def compose(self) -> ComposeResult:
        # Engine text (paths, messages) goes in these lines: never parsed as markup.
        yield Static("engine: not started (it starts on the first load)", id="state-line",
                     classes="line", markup=False)
        yield ProgressBar(total=None, show_eta=False, id="load-progress")
        yield Static("", id="progress-text", classes="line", markup=False)
        with Horizontal():
            yield Label("model")
            yield Input(self.initial_model, placeholder="path, hub id (org/name) or demo",
                        id="model-input", compact=True)
            yield Label(" engine")
            yield Select(ENGINES, value="in-process", allow_blank=False, id="engine",
                         compact=True)
        # A served engine's fields take the in-process load options' rows (they do not apply).
        with Horizontal(id="served-row"):
            yield Label("port")
            yield Input(str(DEFAULT_PORT), id="port", compact=True, type="integer",
                        valid_empty=False)
            yield Label(" command")
            yield Input("", placeholder="default (or the config's [serve] <engine>_cmd)",
                        id="engine-cmd", compact=True)
        with Horizontal(id="inprocess-row"):
            yield Label("dtype")
            yield Select([(d, d) for d in DTYPES], value="auto", allow_blank=False, id="dtype",
                         compact=True)
            yield Label(" device")
            yield Input("", placeholder="default", id="device", compact=True)
            yield Label(" attn")
            yield Input("", placeholder="default", id="attn", compact=True)
            yield Label(" loader")
            yield Select([(x, x) for x in LOADERS], value="auto", allow_blank=False, id="loader",
                         compact=True)
        with Horizontal(id="inprocess-row2"):
            yield Label("context")
            yield Input("", placeholder="auto", id="context", compact=True, type="integer",
                        valid_empty=True)
            yield Label(" batch")
            yield Input("1", id="batch", compact=True, type="integer", valid_empty=True)
            yield Checkbox("trust_remote_code", False, id="trust", compact=True)
        with Horizontal(id="buttons"):
            for action, text, key in BUTTONS:
                yield Button(f"{text} {key}", id=f"btn-{action}", compact=True)
        yield IndentedStatic("pre-flight: pick a model (O) to see whether it is whole and fits",
                             id="preflight", classes="line")
        # The result block and estimate vs actual wrap keeping their indentation.
        yield IndentedStatic("", id="results", classes="line")
        yield IndentedStatic("", id="compare", classes="line")

    def on_mount(self) -> None:
        self.query_one("#load-progress").display = False
        self.query_one("#btn-restart_engine").display = False
        self.query_one("#served-row").display = False

    # -- the load options -----------------------------------------------------------------

    @property
    def model_name(self) -> str:
        return self.query_one("#model-input", Input).value.strip()

    def set_model(self, name: str) -> None:
        self.query_one("#model-input", Input).value = name

    def option(self, widget_id: str) -> str:
        widget = self.query_one(f"#{widget_id}")
        if isinstance(widget, Select):
            return str(widget.value)
        assert isinstance(widget, Input)
        return widget.value.strip()

    def int_option(self, widget_id: str) -> int | None:
        text = self.option(widget_id)
        return int(text) if text.lstrip("-").isdigit() else None

    @property
    def trust_remote_code(self) -> bool:
        """The box alone (what is shown); a load asks `trust_for(key)`."""
        return self.query_one("#trust", Checkbox).value

    # trust_remote_code is bound to one exact model (console.core.trust): the confirmation
    # records its key, any change of the model clears it, a load passes it only for that key.
    trust_grant: TrustGrant | None = None

    def grant_trust(self, key: ModelKey) -> None:
        self.trust_grant = TrustGrant(key)

    def trust_for(self, key: ModelKey) -> bool:
        """True only when the box is ticked and was confirmed for exactly `key`; otherwise the
        box is cleared (a new confirmation is needed)."""
        box = self.query_one("#trust", Checkbox)
        if box.value and self.trust_grant is not None and self.trust_grant.allows(key):
            return True
        self.clear_trust()
        return False

    def clear_trust(self) -> None:
        self.trust_grant = None
        box = self.query_one("#trust", Checkbox)
        if box.value:
            box.value = False

    @property
    def engine_kind(self) -> str:
        """in-process, vllm, sglang or transformers (serve)."""
        return self.option("engine")

    @on(Select.Changed, "#engine")
    def _engine_changed(self, event: Select.Changed) -> None:
        served = str(event.value) != "in-process"
        self.query_one("#served-row").display = served
        self.query_one("#inprocess-row").display = not served
        self.query_one("#inprocess-row2").display = not served

    @on(Input.Changed, "#model-input")
    def _model_changed(self, event: Input.Changed) -> None:
        if self.trust_grant is not None or self.query_one("#trust", Checkbox).value:
            self.clear_trust()

    # -- showing --------------------------------------------------------------------------

    def _line(self, widget_id: str, text: str, level: str | None = None) -> None:
        widget = self.query_one(f"#{widget_id}", Static)
        widget.update(safe(text))  # model names and engine messages never reach the terminal raw
        widget.set_class(level == "error", "-problem")
        widget.set_class(level == "warning", "-warning")
        widget.display = bool(text)

    def toggle_preflight(self) -> None:
        """W: the pre-flight report, folded to one line or whole."""
        self.preflight_open = not self.preflight_open
        self.show_session(self._session)

    def show_session(self, session: Session) -> None:
        """Render every engine line from `session` (the one engine state)."""
        self._session = session
        self._show_state(session)
        self._show_progress(session)
        check = session.check
        if check is not None:
            self._line("preflight", preflight_text(check.text, check.verdict,
                                                   self.preflight_open),
                       "error" if check.verdict in ("will_not_fit", "broken") else (
                           "warning" if check.verdict == "tight" else None))
        result = session.result
        self._line("results", result.text if result else "", result.level if result else None)
        self._show_comparison(session)

    def _show_state(self, session: Session) -> None:
        state = session.shown_state
        detail = ""
        if session.engine == "stopped" and session.exited is None and session.hello is None:
            text = "engine: not started (it starts on the first load)"
            self._line("state-line", text)
            self.query_one("#btn-restart_engine").display = False
            return
        if state == "starting":
            detail = (f"engine pid {session.pid}: importing torch and transformers"
                      + ("; the load follows" if session.load_pending else ""))
        elif state == "idle" and session.hello is not None:
            detail = f"engine pid {session.hello.pid}, torch {session.hello.torch}"
        elif session.exited is not None and state in ("stopped", "dead"):
            how = exit_how(session.exited)
            detail = (f"engine ended ({how})" if session.exited.expected
                      else f"engine {how}; X restarts it")
        label = (f"  [{session.label}]" if session.label and state in ("loaded", "generating")
                 else "")
        self._line("state-line", f"state: {state}{label}{('  ' + detail) if detail else ''}",
                   "error" if state in ("dead", "error") else
                   "warning" if state in ("paused", "stalled") else None)
        self.query_one("#btn-restart_engine").display = state == "dead"

    def _show_progress(self, session: Session) -> None:
        bar = self.query_one("#load-progress", ProgressBar)
        if session.run != self._shown_run:  # a fresh result block per run
            self._shown_run = session.run
            bar.update(total=None, progress=0)
            self._line("progress-text", "")
        # A bar only while a load runs (none after an abort, an unload or a load's end).
        bar.display = session.engine == "loading"
        if session.engine == "loading" and session.progress is not None:
            bar.update(total=max(1, session.progress.bytes_total),
                       progress=session.progress.bytes_done)
        if session.engine == "loading" and session.guard_mode == "paused":
            # The ETA does not run while paused.
            self._line("progress-text", "paused by you — R resumes, A aborts"
                       if session.guard_by_user else session.guard_line.text,
                       None if session.guard_by_user else "warning")
        elif session.progress is not None and session.engine in ("loading", "loaded",
                                                                  "generating"):
            self._line("progress-text", progress_text(session.progress.wire))
        else:
            self._line("progress-text", "")

    def _show_comparison(self, session: Session) -> None:
        rows = session.comparison

        def pct(row: Any) -> str:
            p = row.difference_pct
            return "N/A" if p is None else f"{p:+.1f}%"
        self._line("compare", "estimate vs actual: " + "; ".join(
            f"{row.what} {fmt_bytes(row.estimated_bytes)} vs {fmt_bytes(row.actual_bytes)} "
            f"({pct(row)})" for row in rows) if rows else "")
