"""The Log tab: the log pane, a text filter, and a root-cause card beside each error.

Wiring (the app mounts one `LogView` in its "Log" tab):

    log_view = LogView(context_provider=..., doctor_provider=..., check_provider=...)

    # Engine events and output lines. EngineClient calls on_message on its reader threads:
    client = EngineClient(on_message=lambda msg: (log_view.post_engine_message(msg), ...))
    # or, on the UI thread (from the app's own Message handler), with the same dicts:
    log_view.handle_engine_message(msg)

`handle_engine_message` takes every dict the client delivers: `output` lines (with `cr`:
progress-bar updates collapse onto one line) go to the pane and to the diagnosis; `exited`
(the engine's death: `returncode`, `signal`, `expected`) is shown and closes the diagnosis
with the exit facts, so a death without a traceback (SIGKILL under memory pressure) gets a
card too; `error`, `log`, `state`, `hello`, `loaded`, `unloaded`, `generated` become console
events; the others (`progress`, `token`, ...) are left to the panels that show them.
`post_engine_message` is the same, callable from any thread (lines are handled in batches).
`engine_exited(returncode, signal=..., expected=..., pid=...)` and `add_engine_output(text,
cr=...)` are the same steps one at a time; `add_event(text, level)` shows one of the console's
own events ("info" | "warning" | "error" | "debug"); `flush_diagnosis()` closes open
tracebacks now (the view does it by itself after `idle_flush_s` of quiet output).

Hooks (all optional; called on the diagnosis thread, so they must only read what the app
already holds, e.g. the last Sample, never block):
- `context_provider() -> DiagnosisContext`: live facts (`DiagnosisContext.from_sample(app.sample,
  engine_pid=..., phase=..., weights_bytes=..., kv_bytes_per_token=..., context_tokens=...)`);
- `doctor_provider() -> console.host.doctor.Report | None`: the last doctor report;
- `check_provider() -> CheckResult | None`: the current model's pre-flight and estimate.

Messages it posts (bubbling to the app): `LogView.CauseFound(record, first_seq, last_seq)`
once per diagnosed error (`record.error.causes[0]` is the best cause; `record.facts` the live
facts then). `errors` holds the diagnosed errors (oldest first) for the bundle key:
`console.host.bundle.write_bundle(path, ..., diagnosed_errors=log_view.errors, ...)`.

Keys: in the pane `l` level (L is Load on every tab), End follow, `v` select, `y`/`c` copy,
`n`/`N` errors; `/` opens the text filter (typing filters live, Enter keeps it, Escape clears
it); Tab reaches the cards (Enter expands, `c` copies, `g` shows the error in the log). `KEYS`
lists them for a help screen.
"""

from __future__ import annotations

import contextlib
import dataclasses
import queue
import signal as signal_module
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.events import Resize
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Input, Static
from textual.worker import get_current_worker

from console.core.causetext import ErrorRecord, live_facts
from console.core.diagnose import DiagnosedError, DiagnosisContext, StreamingDiagnoser
from console.core.engine_causes import CardDeduper, EngineCauses
from console.core.hints import HintLedger, with_hint
from widgets.cause_card import CauseCard
from widgets.log_pane import LogEntry, LogPane

KEYS: tuple[tuple[str, str], ...] = (
    ("l", "log: cycle the minimum level (L loads, on every tab)"),
    ("/", "log: filter by text (Esc clears)"),
    ("End", "log: follow the tail again"),
    ("v, ↑↓, shift+↑↓", "log: select lines"),
    ("y / c, Y", "log: copy the selection (or the screen), Y with timestamps"),
    ("n / N", "log: next / previous error"),
    ("Enter, c, g", "cause card: expand, copy, show in the log"),
)
STACK_BELOW_WIDTH = 110  # narrower than this, the cards go under the log
MAX_ERRORS = 50

Provider = Callable[[], Any]


class LogView(Vertical):
    DEFAULT_CSS = """
    LogView { height: 1fr; }
    LogView > #log-filter { display: none; margin: 0; }
    LogView > #log-filter.-open { display: block; }
    LogView > #log-body { height: 1fr; }
    LogView #log-pane { width: 1fr; height: 1fr; }
    LogView #cause-cards {
        width: 52; height: 1fr;
        border: round $error 40%; border-title-color: $text;
        scrollbar-size-vertical: 1;
    }
    LogView #cause-cards:focus-within { border: round $error; }
    LogView #cause-cards > #no-causes { color: $text-muted; padding: 0 1; }
    LogView.-stacked > #log-body { layout: vertical; }
    LogView.-stacked #cause-cards { width: 1fr; height: 40%; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "open_filter", "Filter", key_display="/", id="log.filter"),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="log.clear_filter"),
    ]

    class CauseFound(Message):
        """An error was diagnosed: a card is shown for it."""

        def __init__(self, record: ErrorRecord, first_seq: int | None,
                     last_seq: int | None) -> None:
            super().__init__()
            self.record = record
            self.first_seq = first_seq
            self.last_seq = last_seq

    class _Diagnosed(Message):
        """From the diagnosis thread: errors and the pane entries they span."""

        def __init__(self, found: list[tuple[ErrorRecord, list[int], bool]]) -> None:
            super().__init__()
            self.found = found

    class _Drain(Message):
        """Engine messages are waiting in the inbox (posted from the client's threads)."""

    def __init__(
        self,
        *,
        context_provider: Provider | None = None,
        doctor_provider: Provider | None = None,
        check_provider: Provider | None = None,
        max_lines: int = 10_000,
        max_cards: int = 30,
        idle_flush_s: float = 0.4,
        clock: Callable[[], float] = time.time,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.context_provider = context_provider
        self.doctor_provider = doctor_provider
        self.check_provider = check_provider
        self.max_cards = max_cards
        self.idle_flush_s = idle_flush_s
        self.clock = clock
        self.pane = LogPane(max_lines=max_lines, clock=clock, id="log-pane")
        self.errors: list[ErrorRecord] = []
        self._diagnosis_queue: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._inbox: deque[Mapping[str, Any]] = deque()
        self._drain_pending = threading.Event()
        self._cards = 0
        self._engine_causes = EngineCauses()  # used on the UI thread only
        # The hints of the current run (one load and what follows): each shown once.
        self.hints = HintLedger()
        self._run_seq = 0  # the first log entry of the current run

    def compose(self) -> ComposeResult:
        yield Input(placeholder="filter: lines containing this text (Esc clears)", id="log-filter")
        with Horizontal(id="log-body"):
            yield self.pane
            with VerticalScroll(id="cause-cards") as cards:
                cards.border_title = "root causes"
                cards.can_focus = False
                yield Static("No error diagnosed yet. When the engine prints one, its most "
                             "likely cause appears here.", id="no-causes")

    def on_mount(self) -> None:
        self._diagnose_loop()

    def on_resize(self, event: Resize) -> None:
        self.set_class(event.size.width < STACK_BELOW_WIDTH, "-stacked")

    # ------------------------------------------------------------------ input

    def new_run(self) -> None:
        """A new load starts: the hints of the last one may be said again."""
        self.hints.new_run()
        self._run_seq = self.pane.next_seq

    def learn_hints(self, hints: list[str]) -> None:
        """Hints (fixes) of this run: from now on each is shown once in the log."""
        hints = [h for h in hints if h]
        if hints:
            shown = [e.text for e in self.pane.entries if e.seq >= self._run_seq]
            self.hints.learn(hints, already_shown_in=shown)

    def add_event(self, text: str, level: str | int = "info", *,
                  ts: float | None = None) -> LogEntry:
        """One of the console's own events (shown, not diagnosed)."""
        return self.pane.add_event(self.hints.once(text), level, ts=ts)

    def add_engine_output(self, text: str, *, cr: bool = False,
                          ts: float | None = None) -> LogEntry:
        """A raw line the engine printed; `cr`: a progress-bar update (replaced by the next).
        A hint of this run already shown is cut from the line on screen; the diagnosis (and the
        session log) read it whole."""
        entry = self.pane.add_output(self.hints.once(text) if not cr else text, cr=cr, ts=ts)
        if not cr:  # a bar's intermediate states say nothing the final line does not
            self._diagnosis_queue.put(("line", text, entry.seq, entry.ts))
        return entry

    def engine_exited(self, returncode: int | None, *, signal: str | None = None,
                      expected: bool = False, pid: int | None = None,
                      ts: float | None = None) -> LogEntry:
        """The engine process ended: show it, and close the diagnosis with the exit facts."""
        how = f"killed by {signal}" if signal else f"exit code {returncode}"
        who = f" (pid {pid})" if pid else ""
        failed = not expected and (signal is not None or returncode not in (0, None))
        entry = self.add_event(f"engine{who} ended: {how}{'' if expected else ', unexpectedly'}",
                               "error" if failed else "info", ts=ts)
        signal_number = None
        if signal:
            with contextlib.suppress(KeyError):
                signal_number = int(signal_module.Signals[signal])
        self._diagnosis_queue.put(("exit", returncode, signal_number, expected, failed, pid,
                                   entry.seq))
        return entry

    def diagnosis_mark(self) -> threading.Event:
        """An Event the diagnosis worker sets once it has handled everything queued before it
        (what it found has been posted by then): await it instead of sleeping."""
        done = threading.Event()
        self._diagnosis_queue.put(("mark", done))
        return done

    def flush_diagnosis(self) -> None:
        """Close open tracebacks now (the output paused: nothing more is coming for them)."""
        self._diagnosis_queue.put(("flush",))

    def post_engine_message(self, msg: Mapping[str, Any]) -> None:
        """`handle_engine_message` from any thread: queued, handled in batches on the UI thread."""
        self._inbox.append(msg)
        if not self._drain_pending.is_set():
            self._drain_pending.set()
            self.post_message(self._Drain())

    def on_log_view__drain(self, message: _Drain) -> None:
        self._drain_pending.clear()
        while self._inbox:
            self.handle_engine_message(self._inbox.popleft())

    def handle_engine_message(self, msg: Mapping[str, Any]) -> None:
        """One dict from the engine client (an event, an `output` line or `exited`)."""
        event = msg.get("event")
        ts = msg.get("ts") if isinstance(msg.get("ts"), (int, float)) else None
        if event == "output":
            self.add_engine_output(str(msg.get("text", "")), cr=bool(msg.get("cr")), ts=ts)
        elif event == "exited":
            self.engine_exited(msg.get("returncode"), signal=msg.get("signal"),
                               expected=bool(msg.get("expected")), pid=msg.get("pid"), ts=ts)
        elif event in _EVENT_TEXT:
            if event == "error":
                self.learn_hints([str(msg.get("hint") or "")])
            elif event == "preflight":
                self.learn_hints([str(f.get("fix") or "") for f in msg.get("findings") or []
                                  if isinstance(f, Mapping)])
            text, level = _EVENT_TEXT[event](msg)
            entry = self.add_event(text, level, ts=ts)
            stated = self._engine_causes.feed(msg)
            if stated is not None:
                self._diagnosis_queue.put(("stated", stated, entry.seq, entry.ts))

    # ------------------------------------------------------------------ the filter

    def action_open_filter(self) -> None:
        field = self.query_one("#log-filter", Input)
        field.add_class("-open")
        field.focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "clear_filter":  # Escape falls through to the app when there is no filter
            fields = self.query("#log-filter")
            is_open = bool(fields) and fields.first().has_class("-open")
            return is_open or bool(self.pane.filter_text)
        return True

    def action_clear_filter(self) -> None:
        field = self.query_one("#log-filter", Input)
        field.value = ""
        field.remove_class("-open")
        self.pane.set_filter("")
        self.pane.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "log-filter":
            event.stop()
            self.pane.set_filter(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "log-filter":
            event.stop()
            if not event.value:
                event.input.remove_class("-open")
            self.pane.focus()

    # ------------------------------------------------------------------ diagnosis (a thread)

    def _live_context(self) -> DiagnosisContext:
        if self.context_provider is None:
            return DiagnosisContext()
        try:
            context = self.context_provider()
        except Exception:  # a provider must not stop the diagnosis
            return DiagnosisContext()
        return context if isinstance(context, DiagnosisContext) else DiagnosisContext()

    def _provided(self, provider: Provider | None) -> Any:
        if provider is None:
            return None
        try:
            return provider()
        except Exception:
            return None

    @work(thread=True, exclusive=True, group="log-diagnosis", exit_on_error=False)
    def _diagnose_loop(self) -> None:
        """Feeds the engine's lines to a StreamingDiagnoser off the UI thread and posts what it
        finds. Open tracebacks are closed after `idle_flush_s` without a new line."""
        worker = get_current_worker()
        diagnoser = StreamingDiagnoser()
        deduper = CardDeduper()
        lines: deque[tuple[int, float]] = deque(maxlen=self.pane.max_lines)  # (seq, ts)
        first_line = 0  # the diagnoser's number for lines[0]
        unflushed = False

        def span(error: DiagnosedError) -> tuple[list[int], float]:
            """The pane entries an error covers, and when its first line was printed."""
            numbers = list(error.block.line_numbers) if error.block is not None else (
                [error.first_line] if error.kind == "line" else [])
            seqs = [lines[n - first_line][0] for n in numbers if 0 <= n - first_line < len(lines)]
            offset = error.first_line - first_line
            inside = error.kind != "exit" and 0 <= offset < len(lines)
            when = lines[offset][1] if inside else self.clock()
            return seqs, when

        def streamed(errors: list[DiagnosedError], context: DiagnosisContext,
                     exit_seq: int | None = None) -> None:
            found = []
            for error in errors:
                seqs, when = span(error)
                if error.kind == "exit" and exit_seq is not None:
                    seqs = [exit_seq]
                verdict = deduper.classify("stream", error, when)
                if verdict != "drop":
                    found.append((error, seqs, when, verdict))
            self._post_found(found, context)

        while not worker.is_cancelled:
            try:
                item = self._diagnosis_queue.get(timeout=self.idle_flush_s if unflushed else 0.25)
            except queue.Empty:
                if unflushed:
                    unflushed = False
                    context = self._live_context()
                    streamed(diagnoser.flush(context), context)
                continue
            batch = [item]
            with contextlib.suppress(queue.Empty):
                while len(batch) < 5000:
                    batch.append(self._diagnosis_queue.get_nowait())
            context = self._live_context()
            for kind, *fields in batch:
                if kind == "line":
                    text, seq, ts = fields
                    if len(lines) == lines.maxlen:
                        first_line += 1
                    lines.append((seq, ts))
                    streamed(diagnoser.feed(text, context), context)
                    unflushed = True
                elif kind == "flush":
                    streamed(diagnoser.flush(context), context)
                    unflushed = False
                elif kind == "mark":
                    fields[0].set()
                elif kind == "stated":
                    error, seq, ts = fields
                    verdict = deduper.classify("stated", error, ts)
                    if verdict != "drop":
                        self._post_found([(error, [seq], ts, verdict)], context)
                elif kind == "exit":
                    returncode, signal_number, expected, failed, pid, event_seq = fields
                    exit_context = context
                    if failed:
                        exit_context = dataclasses.replace(
                            context, exit_code=returncode, exit_signal=signal_number,
                            killed_by_console=expected, engine_pid=pid or context.engine_pid)
                    streamed(diagnoser.flush(exit_context), exit_context, event_seq)
                    unflushed = False

    def _post_found(self, found: list[tuple[DiagnosedError, list[int], float, str]],
                    context: DiagnosisContext) -> None:
        """Records with the live facts of this moment, posted to the UI thread."""
        if not found:
            return
        doctor_report = self._provided(self.doctor_provider)
        check_result = self._provided(self.check_provider)
        records = []
        for error, seqs, when, verdict in found:
            top = error.causes[0].id if error.causes else None
            facts = live_facts(top, context, doctor_report, check_result)
            records.append((ErrorRecord(error, when, facts), seqs, verdict == "merge"))
        self.post_message(self._Diagnosed(records))

    def on_log_view__diagnosed(self, message: _Diagnosed) -> None:
        message.stop()
        cards = self.query_one("#cause-cards", VerticalScroll)
        for placeholder in cards.query("#no-causes"):
            placeholder.remove()
        for record, seqs, merge in message.found:
            self.pane.mark(seqs)
            cause_id = record.top.id if record.top is not None else None
            same = next((c for c in cards.query_children(CauseCard) if c.cause_id == cause_id),
                        None)
            if merge and same is not None:
                # The same incident again (its report line, then its traceback): one card.
                self.errors = [record if e is same.record else e for e in self.errors]
                same.merge(record, seqs)
                self.post_message(self.CauseFound(record, same.first_seq, same.last_seq))
                continue
            self.errors.append(record)
            del self.errors[:-MAX_ERRORS]
            for card in cards.query_children(CauseCard):
                if not card.has_focus:
                    card.expanded = False
            self._cards += 1
            card = CauseCard(record, first_seq=min(seqs) if seqs else None,
                             last_seq=max(seqs) if seqs else None, expanded=True,
                             id=f"cause-card-{self._cards}")
            cards.mount(card, before=0)
            for stale in list(cards.query_children(CauseCard))[self.max_cards:]:
                stale.remove()
            cards.scroll_home(animate=False)
            self.post_message(self.CauseFound(record, card.first_seq, card.last_seq))
        cards.border_title = f"root causes · {len(self.errors)}"

    def add_card(self, card: Widget) -> None:
        """A card of the console's own (a migration verdict) at the top of the cards column."""
        cards = self.query_one("#cause-cards", VerticalScroll)
        for placeholder in cards.query("#no-causes"):
            placeholder.remove()
        cards.mount(card, before=0)
        cards.scroll_home(animate=False)

    def on_cause_card_show_in_log(self, message: CauseCard.ShowInLog) -> None:
        card = message.card
        if card.first_seq is None:
            self.notify("this error's lines are no longer in memory (the session log has them)",
                        severity="warning")
            return
        self.pane.select_range(card.first_seq, card.last_seq if card.last_seq is not None
                               else card.first_seq)
        self.pane.focus()

    @property
    def cards(self) -> list[CauseCard]:
        """The cards shown, newest first."""
        return list(self.query_one("#cause-cards", VerticalScroll).query_children(CauseCard))


# -- engine events as console lines ---------------------------------------------------------

def _error_text(msg: Mapping[str, Any]) -> tuple[str, str]:
    return (with_hint(f"{msg.get('command') or 'engine'} failed: {msg.get('error_type')}: "
                      f"{msg.get('message')}", str(msg.get("hint") or "")), "error")


def _state_text(msg: Mapping[str, Any]) -> tuple[str, str]:
    what = msg.get("label") or msg.get("model")
    state = msg.get("state")
    level = "warning" if state == "error" else "info"
    return f"engine {state}" + (f": {what}" if what else ""), level


def _hello_text(msg: Mapping[str, Any]) -> tuple[str, str]:
    cuda = f"CUDA {msg.get('cuda')}" if msg.get("cuda_available") else "no CUDA"
    return (f"engine started: pid {msg.get('pid')}, torch {msg.get('torch')}, transformers "
            f"{msg.get('transformers')}, {cuda}", "info")


def _loaded_text(msg: Mapping[str, Any]) -> tuple[str, str]:
    load_s = msg.get("load_s")
    took = f" in {load_s:.1f} s" if isinstance(load_s, (int, float)) else ""
    return (f"loaded {msg.get('label') or msg.get('model')}{took} ({msg.get('model_class')}, "
            f"{msg.get('dtype')} on {msg.get('device')})", "info")


def _generated_text(msg: Mapping[str, Any]) -> tuple[str, str]:
    rate = msg.get("tokens_per_s")
    speed = f", {rate:.1f} tokens/s" if isinstance(rate, (int, float)) else ""
    return f"generated {msg.get('tokens')} tokens{speed} (stopped: {msg.get('stopped')})", "info"


def _preflight_text(msg: Mapping[str, Any]) -> tuple[str, str]:
    if msg.get("ok"):
        verdict = msg.get("verdict")
        return "pre-flight passed" + (f": {verdict.replace('_', ' ')}" if verdict else ""), "info"
    return f"pre-flight refused the load: {msg.get('refusal') or msg.get('reason')}", "error"


_EVENT_TEXT: dict[str, Callable[[Mapping[str, Any]], tuple[str, str]]] = {
    "preflight": _preflight_text,
    "paused": lambda m: (f"load paused by the guard: {m.get('why')}", "warning"),
    "resumed": lambda m: (f"load resumed: {m.get('why')}", "info"),
    "aborted": lambda m: (f"load aborted by the guard: {m.get('why')}", "warning"),
    "stalled": lambda m: (f"load stalled: {m.get('text')}", "warning"),
    "error": _error_text,
    "log": lambda m: (str(m.get("message")), str(m.get("level") or "info")),
    "state": _state_text,
    "hello": _hello_text,
    "loaded": _loaded_text,
    "unloaded": lambda m: (str(m.get("message") or "unloaded"), "info"),
    "generated": _generated_text,
    "gc": lambda m: (f"gc: {m.get('collected')} objects collected", "debug"),
    "empty_cache": lambda m: ("empty_cache done", "debug"),
    "bye": lambda m: ("engine shutting down", "info"),
}
