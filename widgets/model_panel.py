"""The Model tab's upper part: model selector, load options, buttons, state, load progress,
pre-flight report, results (gc / empty_cache / unload), estimate vs actual, the allocator row
and a compact guard panel.

The panel owns no engine: the app drives the engine and calls `handle_engine_message(msg)`
(on the UI thread) with every dict the EngineClient delivers; `show_check(...)` with the
pre-flight of the selected model; `show_comparison(...)` with estimate-vs-actual rows. The
buttons carry the ids of the app's actions (`btn-<action>`); the app maps a press to the same
action as the key, so buttons and keys do one thing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Checkbox, Input, Label, ProgressBar, Select, Static

from console.core.termsafe import safe
from console.core.trust import ModelKey, TrustGrant
from console.core.units import fmt_bytes, fmt_rate

DTYPES = ("auto", "bf16", "fp16", "fp32")
LOADERS = ("auto", "fast", "stock")
# (action, button label, key): the app binds the same actions to the same keys.
BUTTONS = (
    ("load", "Load", "L"), ("unload", "Unload", "U"), ("hard_unload", "Hard", "H"),
    ("abort", "Abort", "A"), ("pause", "Pause", "P"), ("resume", "Resume", "R"),
    ("gc", "GC", "G"), ("empty_cache", "Empty", "E"), ("memory_report", "Mem", "M"),
    ("pick", "Pick", "O"), ("restart_engine", "Restart", "X"),
)
GUARD_UNITS = {"vram": "%", "ram": "%", "swap": "%", "swap_in": " MiB/s"}


def _level(value: Any, unit: str) -> str:
    return "-" if value is None else f"{value:g}{unit}"


def guard_levels_text(thresholds: Mapping[str, Any], auto_resume: bool) -> str:
    """'vram 80/90/95 r85%  ram ...' (warn/pause/abort, resume) from Levels or level dicts."""
    parts = []
    for name, unit in GUARD_UNITS.items():
        levels = thresholds.get(name)
        if levels is None:
            continue
        get = levels.get if isinstance(levels, Mapping) else lambda k, lv=levels: getattr(lv, k)
        parts.append(f"{name} {_level(get('warn'), '')}/{_level(get('pause'), '')}/"
                     f"{_level(get('abort'), '')} r{_level(get('resume'), unit)}")
    return ("guard w/p/a: " + "  ".join(parts)
            + f"  auto-resume {'on' if auto_resume else 'off'}")


def figures_text(figures: Mapping[str, Any]) -> str:
    """One device's allocator figures (or host RSS on the CPU) from a gc/empty_cache side."""
    devices = figures.get("devices") or []
    if not devices:
        return f"RSS {fmt_bytes(figures.get('rss_bytes'))}"
    return "; ".join(
        f"{d['device']} alloc {fmt_bytes(d.get('allocated_bytes'))} "
        f"res {fmt_bytes(d.get('reserved_bytes'))} NVML {fmt_bytes(d.get('nvml_used_bytes'))}"
        for d in devices)


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
    ModelPanel Select { width: 12; }
    ModelPanel Button { min-width: 6; margin: 0 1 0 0; }
    ModelPanel #state-line { text-style: bold; }
    ModelPanel .-problem { color: $error; }
    ModelPanel .-warning { color: $warning; }
    ModelPanel #load-progress { height: 1; }
    ModelPanel #preflight { max-height: 8; color: $text; }
    ModelPanel #death { color: $error; }
    ModelPanel .line { height: auto; }
    """

    def __init__(self, model: str | None, thresholds: Mapping[str, Any], auto_resume: bool,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.initial_model = model or ""
        self.thresholds: dict[str, Any] = dict(thresholds)
        self.auto_resume = auto_resume
        self.engine_state = "stopped"
        self.label: str | None = None
        self.loaded_event: dict[str, Any] | None = None
        self.last_result = ""
        self.guard_events: list[str] = []  # paused / resumed / aborted / stalled, in order

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Label("model")
            yield Input(self.initial_model, placeholder="path, hub id (org/name) or demo",
                        id="model-input", compact=True)
        with Horizontal():
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
        with Horizontal():
            yield Label("context")
            yield Input("", placeholder="auto", id="context", compact=True, type="integer")
            yield Label(" batch")
            yield Input("1", id="batch", compact=True, type="integer")
            yield Checkbox("trust_remote_code", False, id="trust", compact=True)
        with Horizontal(id="buttons"):
            for action, text, key in BUTTONS:
                yield Button(f"{text} {key}", id=f"btn-{action}", compact=True)
        # Engine text (paths, messages) goes in these lines: never parsed as markup.
        yield Static("engine: not started (it starts on the first load)", id="state-line",
                     classes="line", markup=False)
        yield ProgressBar(total=None, show_eta=False, id="load-progress")
        yield Static("", id="progress-text", classes="line", markup=False)
        yield Static("pre-flight: pick a model (O) to see whether it is whole and fits",
                     id="preflight", classes="line", markup=False)
        yield Static("", id="results", classes="line", markup=False)
        yield Static("", id="compare", classes="line", markup=False)
        yield Static("allocator: N/A (no model loaded)", id="allocator", classes="line",
                     markup=False)
        yield Static(guard_levels_text(self.thresholds, self.auto_resume), id="guard-levels",
                     classes="line", markup=False)
        yield Static("guard: running", id="guard-state", classes="line", markup=False)
        yield Static("", id="death", classes="line", markup=False)

    def on_mount(self) -> None:
        self.query_one("#load-progress").display = False
        self.query_one("#btn-restart_engine").display = False

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

    def show_state(self, state: str, detail: str = "") -> None:
        self.engine_state = state
        label = f"  [{self.label}]" if self.label and state in ("loaded", "generating") else ""
        self._line("state-line", f"state: {state}{label}{('  ' + detail) if detail else ''}",
                   "error" if state in ("dead", "error") else
                   "warning" if state in ("paused", "stalled") else None)
        self.query_one("#btn-restart_engine").display = state == "dead"

    def show_check(self, text: str, verdict: str | None) -> None:
        level = "error" if verdict in ("will_not_fit", "broken") else (
            "warning" if verdict == "tight" else None)
        self._line("preflight", text, level)

    def show_result(self, text: str, level: str | None = None) -> None:
        self.last_result = text
        self._line("results", text, level)

    def show_comparison(self, rows: Sequence[Any]) -> None:
        def pct(row: Any) -> str:
            p = row.difference_pct
            return "N/A" if p is None else f"{p:+.1f}%"
        self._line("compare", "estimate vs actual: " + "; ".join(
            f"{row.what} {fmt_bytes(row.estimated_bytes)} vs {fmt_bytes(row.actual_bytes)} "
            f"({pct(row)})" for row in rows) if rows else "")

    def show_guard_levels(self) -> None:
        self._line("guard-levels", guard_levels_text(self.thresholds, self.auto_resume))

    def show_progress(self, msg: Mapping[str, Any]) -> None:
        bar = self.query_one("#load-progress", ProgressBar)
        bar.display = True
        bar.update(total=max(1, msg["bytes_total"]), progress=msg["bytes_done"])
        self._line("progress-text", progress_text(msg))

    # -- engine events --------------------------------------------------------------------

    def handle_engine_message(self, msg: Mapping[str, Any]) -> None:
        """Show what one engine message changes (called on the UI thread)."""
        event = msg.get("event")
        if event in ("paused", "resumed", "aborted", "stalled"):
            self.guard_events.append(str(event))
        if event == "state":
            state = str(msg["state"])
            if state == "loading":
                self.label = None
                bar = self.query_one("#load-progress", ProgressBar)
                bar.display = True
                bar.update(total=None, progress=0)
                self._line("guard-state", "guard: running")
            if msg.get("label"):
                self.label = str(msg["label"])
            self.show_state(state)
        elif event == "hello":
            self._line("death", "")
            self.show_state("idle", f"engine pid {msg['pid']}, torch {msg['torch']}")
        elif event == "progress":
            self.show_progress(msg)
        elif event == "loaded":
            self.loaded_event = dict(msg)
            self.label = str(msg.get("label") or msg.get("model"))
            total = int(msg.get("bytes") or 1)
            self.query_one("#load-progress", ProgressBar).update(total=max(1, total),
                                                                 progress=max(1, total))
            loader = msg.get("loader")
            why = msg.get("fallback_reason")
            self.show_result(
                f"loaded {msg['model']} ({msg['model_class']}) in {msg['load_s']:.2f} s"
                + (f"; loader {loader}" if loader else "") + (f" ({why})" if why else ""))
        elif event == "unloaded":
            self.loaded_event = None
            self.show_result(str(msg["message"]),
                             "warning" if msg.get("held_bytes", 0) > 0 and msg.get("held_by")
                             else None)
            self._line("allocator", "allocator: N/A (no model loaded)")
        elif event in ("gc", "empty_cache"):
            extra = f" (collected {msg['collected']})" if event == "gc" else ""
            self.show_result(f"{event}{extra}: before {figures_text(msg['before'])} -> "
                             f"after {figures_text(msg['after'])}")
        elif event == "memory_report":
            self._line("allocator", allocator_text(msg))
        elif event == "paused":
            self._line("guard-state", f"paused: {msg['why']}", "warning")
            self.show_state("paused")
        elif event == "resumed":
            self._line("guard-state", f"resumed: {msg['why']}")
            self.show_state("loading")
        elif event == "aborted":
            self._line("guard-state", f"aborted: {msg['why']}", "error")
        elif event == "stalled":
            self._line("guard-state", f"stalled {msg['seconds']:.0f} s: {msg['text']}",
                       "warning")
            self.show_state("stalled")
        elif event == "guard":
            self.thresholds.update(msg.get("thresholds") or {})
            if msg.get("auto_resume") is not None:
                self.auto_resume = bool(msg["auto_resume"])
            self.show_guard_levels()
        elif event == "error":
            hint = f" ({msg['hint']})" if msg.get("hint") else ""
            self.show_result(f"error {msg['error_type']}: {msg['message']}{hint}", "error")
        elif event == "exited":
            self.loaded_event = None
            how = (f"killed by {msg['signal']}" if msg.get("signal")
                   else f"exit code {msg.get('returncode')}")
            if msg.get("expected"):
                self.show_state("stopped", f"engine ended ({how})")
                return
            last = [line for line in msg.get("last_lines") or [] if line.strip()][-3:]
            self.show_state("dead", f"engine {how}; X restarts it")
            self._line("death", "last output: " + (" | ".join(last) if last else "(none)"))
