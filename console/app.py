"""The Textual app: the only console module that imports textual.

`ConsoleApp` takes its sampler (anything with `.sample() -> Sample`), its clock and its host
name from the caller, so tests pass fakes. A thread worker samples at the configured interval
and posts one `SampleReady` per tick; the handler appends it to the History and sets the
`sample` reactive; the widgets render only from the Sample they are given.

`run_app` is what `autoglm-console` with no sub-command runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any, ClassVar, Protocol

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container, VerticalScroll
from textual.reactive import reactive
from textual.widgets import Button, Checkbox, ContentSwitcher, Input
from textual.worker import get_current_worker

from console.core.sample import History, Sample
from console.core.units import fmt_bytes
from console.engines.local import EngineClient, EngineDead, OnMessage, guard_settings
from console.host.config import Config
from widgets import log_view as log_view_module
from widgets.confirm_screen import ConfirmScreen
from widgets.dashboard import Dashboard
from widgets.help_screen import HelpScreen
from widgets.key_footer import KeyFooter
from widgets.log_view import LogView
from widgets.messages import BundleWritten, CheckDone, EngineMessage, SampleReady, SamplerFailed
from widgets.model_panel import ModelPanel
from widgets.model_picker import ModelPicker
from widgets.prompt_panel import PromptPanel
from widgets.status_bar import PROBLEM_STATES, StatusBar
from widgets.tab_strip import TabStrip

# How long run_app waits for the sampler thread after the UI has gone (a driver call that
# never returns must not keep the process alive).
SAMPLER_JOIN_S = 2.0
# How long run_app waits for the engine to exit (shutdown, then terminate after 5 s).
ENGINE_CLOSE_JOIN_S = 8.0
# After the terminal went away the process exits within this, whatever Textual's shutdown does
# (it writes to the terminal, and a dead one can make it hang).
TERMINAL_GONE_EXIT_S = 5.0
# A sample is overdue after this many intervals (at least STALE_MIN_S): the status line says so.
STALE_INTERVALS = 3
STALE_MIN_S = 3.0

# While a model is loaded the allocator row is refreshed this often (a memory_report command).
ALLOCATOR_POLL_S = 3.0
# `+` raises the VRAM pause level by this many points (set_thresholds, live).
RAISE_PAUSE_STEP = 2.0
# Engine actions: only on the Model tab, not under a modal screen.
MODEL_ACTIONS = frozenset({
    "load", "load_anyway", "unload", "hard_unload", "abort", "pause", "resume", "gc",
    "empty_cache", "memory_report", "restart_engine", "pick", "raise_pause",
    "toggle_auto_resume", "stop_generation",
})

TABS = (("dashboard", "Dashboard"), ("model", "Model"), ("log", "Log"))

# Keys that work without an app binding, listed in the help screen.
BUILTIN_KEYS = (
    ("tab / shift+tab", "move the focus"),
    ("↑ ↓ pgup pgdn", "move in the process table or GPU list"),
    ("click a header", "sort the process table by it"),
    ("click a tab", "switch to it"),
)


class Sampler(Protocol):
    def sample(self) -> Sample: ...


class ConsoleApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "autoglm-console"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]  # noqa: RUF012 (Textual's API)
    VERTICAL_BREAKPOINTS = [(0, "-short"), (36, "-tall")]  # noqa: RUF012
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", id="app.quit"),
        Binding("question_mark", "help", "Help", key_display="?", id="app.help"),
        Binding("1", "show_tab('dashboard')", "Dashboard tab", show=False, id="app.tab.dashboard"),
        Binding("2", "show_tab('model')", "Model tab", show=False, id="app.tab.model"),
        Binding("3", "show_tab('log')", "Log tab", show=False, id="app.tab.log"),
        Binding("right_square_bracket", "next_tab(1)", "Next tab", show=False, id="app.tab.next"),
        Binding("left_square_bracket", "next_tab(-1)", "Previous tab", show=False,
                id="app.tab.previous"),
        Binding("s", "sort_processes", "Sort", id="dashboard.sort"),
        Binding("S", "reverse_sort", "Reverse sort", show=False, id="dashboard.reverse_sort"),
        Binding("z", "toggle_zoom", "Zoom", id="dashboard.zoom"),
        Binding("L", "load", "Load", id="model.load"),
        Binding("F", "load_anyway", "Load anyway (asks)", show=False, id="model.load_anyway"),
        Binding("U", "unload", "Unload", id="model.unload"),
        Binding("H", "hard_unload", "Hard unload (asks)", show=False, id="model.hard_unload"),
        Binding("A", "abort", "Abort load", show=False, id="model.abort"),
        Binding("P", "pause", "Pause load", show=False, id="model.pause"),
        Binding("R", "resume", "Resume load", show=False, id="model.resume"),
        Binding("G", "gc", "GC", id="model.gc"),
        Binding("E", "empty_cache", "Empty cache", show=False, id="model.empty_cache"),
        Binding("M", "memory_report", "Memory report", show=False, id="model.memory_report"),
        Binding("X", "restart_engine", "Restart engine", show=False, id="model.restart"),
        Binding("O", "pick", "Pick model", id="model.pick"),
        Binding("plus", "raise_pause", "Raise VRAM pause +2", key_display="+", show=False,
                id="guard.raise_pause"),
        Binding("T", "toggle_auto_resume", "Toggle auto-resume", show=False,
                id="guard.auto_resume"),
        Binding("ctrl+s", "stop_generation", "Stop generation", show=False,
                id="model.stop_generation"),
        Binding("escape", "blur", "Leave the text field", show=False, id="app.blur"),
        Binding("D", "doctor", "Doctor", show=False, id="app.doctor"),
        Binding("B", "bundle", "Bundle", show=False, id="app.bundle"),
        Binding("f", "open_log_file", "Follow a log file", show=False, id="log.open_file"),
    ]

    # repaint=False: an App reactive would otherwise repaint the whole screen on every tick;
    # the widgets that change refresh themselves.
    sample: reactive[Sample | None] = reactive(None, always_update=True, init=False, repaint=False)
    zoomed: reactive[bool] = reactive(False, init=False, repaint=False)
    active_tab: reactive[str] = reactive("dashboard", init=False, repaint=False)

    def __init__(
        self,
        config: Config,
        sampler: Sampler,
        *,
        clock: Callable[[], float] = time.time,
        hostname: str | None = None,
        initial_model: str | None = None,
        watch_terminal: bool = False,
        cursor_blink: bool = True,
        engine_factory: Callable[[OnMessage], EngineClient] | None = None,
        freeze_startup_objects: bool = False,
        log_file: str | None = None,
    ) -> None:
        """`watch_terminal`: exit on SIGHUP/SIGTERM and when the terminal or parent goes away
        (run_app turns it on; tests running headless leave it off). `cursor_blink`: False for
        snapshots; text inputs (the prompt, filters) take it from `app.cursor_blink`.
        `engine_factory(on_message)`: makes the EngineClient (default: the real one); the
        engine process starts on the first load, not before. `freeze_startup_objects`: see
        `_freeze_startup_objects` (run_app turns it on; it is process-wide, so tests that run
        many apps in one process leave it off)."""
        super().__init__()
        self.config = config
        self.sampler = sampler
        self.clock = clock
        self.hostname = socket.gethostname() if hostname is None else hostname
        self.initial_model = initial_model
        self.watch_terminal = watch_terminal
        self.cursor_blink = cursor_blink
        self.freeze_startup_objects = freeze_startup_objects
        self.history = History.for_interval(config.interval_s, config.history_s)
        self.samples_received = 0  # samples shown (repeats are dropped)
        self.sampler_running = threading.Event()  # set while the sampler thread loops
        self._notified_problem: tuple[str, str] | None = None
        self._parent_pid = os.getppid()
        self._signals: list[signal.Signals] = []
        self._leaving = False
        self._sigcont_replaced = False
        self.engine_factory = engine_factory or _default_engine
        self.engine: EngineClient | None = None
        self.check_result: Any = None  # CheckResult of the selected model (pre-flight)
        self.check_verdict: str | None = None
        self.checked_model: str | None = None
        self.doctor_report: Any = None
        self.causes_unseen = 0
        self._load_model: str | None = None  # the model the running/last load asked for
        self._load_id: int | None = None
        self.engine_closer: threading.Thread | None = None
        self.log_file = log_file  # a log file to follow in the Log tab (--log FILE)

    # -- layout -------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        """Status line, tab strip, one container per tab (`#dashboard`, `#model`, `#log`:
        the engine and diagnosis widgets mount into theirs), footer."""
        yield StatusBar(self.TITLE, self.hostname, id="status")
        yield TabStrip(TABS, id="tab-strip")
        with ContentSwitcher(id="tabs", initial="dashboard"):
            with Container(id="dashboard"):
                yield Dashboard(self.config.thresholds, id="dash")
            with VerticalScroll(id="model"):
                yield ModelPanel(self.initial_model, self.config.thresholds,
                                 self.config.auto_resume, id="model-panel")
                yield PromptPanel(id="prompt-panel")
            with Container(id="log"):
                yield LogView(context_provider=self._diagnosis_context,
                              doctor_provider=lambda: self.doctor_report,
                              check_provider=lambda: self.check_result, id="log-view")
        yield KeyFooter()

    def on_mount(self) -> None:
        for text_input in self.query("Input, TextArea"):
            text_input.cursor_blink = self.cursor_blink  # type: ignore[attr-defined]
        if self.watch_terminal:
            self._install_signal_handlers()
        self.set_interval(max(1.0, self.config.interval_s), self._housekeeping)
        # Start sampling after the first refresh: the first frame never waits for NVML's
        # initialisation (the panels say "waiting for the first sample" until it comes).
        self.call_after_refresh(self.run_sampler)
        if self.freeze_startup_objects:
            self.call_after_refresh(self._freeze_startup_objects)
        self.set_interval(ALLOCATOR_POLL_S, self._poll_allocator)
        if self.initial_model:
            # Show the model selected with its pre-flight; loading waits for the user (L).
            self.call_after_refresh(self.run_check, self.initial_model)
        if self.log_file:
            self.call_after_refresh(self.follow_log_file, self.log_file)

    # -- any log file, live (widgets/log_file.py) ----------------------------------------

    def follow_log_file(self, path: str | None) -> None:
        """Follow `path` in the Log tab (replacing a file followed before) and show the tab."""
        if not path:
            return
        from widgets.log_file import LogFileFollower

        for old in self.query(LogFileFollower):
            old.remove()
        self.mount(LogFileFollower(self.log_view, path))
        self.action_show_tab("log")

    def action_open_log_file(self) -> None:
        from widgets.log_file import OpenLogScreen

        self.push_screen(OpenLogScreen(), self.follow_log_file)

    @staticmethod
    def _freeze_startup_objects() -> None:
        """Once the first frame is up: collect, then move every object alive now (modules,
        Textual's styles and widgets) out of the cyclic collector's reach. A full collection
        scans them all: in key-latency runs on the 2-core dev box (demo, 100 presses) the
        longest took 52-58 ms, and 35-40 ms with them frozen. They are freed by reference
        counting as before; only cycles among them would stay."""
        gc.collect()
        gc.freeze()

    def on_unmount(self) -> None:
        self.workers.cancel_group(self, "sampler")
        if self.engine is not None:
            # Asks the engine to exit (terminates it after 5 s) off the UI thread: the app's
            # shutdown does not wait on a busy engine. run_app joins this thread.
            self.engine_closer = threading.Thread(target=self.engine.close, name="engine-close",
                                                  daemon=True)
            self.engine_closer.start()
        loop = asyncio.get_running_loop()
        for signum in self._signals:
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(signum)
        if self._sigcont_replaced:  # nothing to resume once the app is gone
            signal.signal(signal.SIGCONT, signal.SIG_DFL)

    # -- sampling -----------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="sampler", exit_on_error=False)
    def run_sampler(self) -> None:
        """Sample now, then every interval (measured start to start) until cancelled."""
        worker = get_current_worker()
        interval = self.config.interval_s
        delay = 0.0
        self.sampler_running.set()
        try:
            while not worker.cancelled_event.wait(delay):
                started = time.monotonic()
                try:
                    sample = self.sampler.sample()
                except Exception as exc:  # the sampler's contract is never to raise; still
                    self.post_message(SamplerFailed(f"{type(exc).__name__}: {exc}"))
                else:
                    if not worker.is_cancelled:
                        self.post_message(SampleReady(sample))
                delay = max(0.0, interval - (time.monotonic() - started))
        finally:
            self.sampler_running.clear()

    def on_sample_ready(self, message: SampleReady) -> None:
        sample = message.sample
        latest = self.history.latest
        if latest is not None and sample.monotonic <= latest.monotonic:
            return  # a repeat (or out of order): the history holds each tick once
        with self.batch_update():
            self.history.append(sample)
            self.samples_received += 1
            self.sample = sample

    def on_sampler_failed(self, message: SamplerFailed) -> None:
        self._notify_problem(("sampler", message.error), f"telemetry failed: {message.error}")

    def watch_sample(self, sample: Sample | None) -> None:
        if sample is None:
            return
        nvml = sample.nvml
        if nvml.state in PROBLEM_STATES:
            self._notify_problem((nvml.state, nvml.message),
                                 f"GPU telemetry: {nvml.state}: {nvml.message or 'no details'}")
        elif nvml.ok:
            self._notified_problem = None
        self._show_status()
        if self.dashboard_active:
            self._show_dashboard()

    def _notify_problem(self, key: tuple[str, str], text: str) -> None:
        """Notify a problem once (again only after it changed or went away)."""
        if key != self._notified_problem:
            self._notified_problem = key
            self.notify(text, title="telemetry", severity="error", timeout=15)

    # -- showing ------------------------------------------------------------------------

    @property
    def dashboard_active(self) -> bool:
        return self.active_tab == "dashboard"

    def stale_for_s(self) -> float | None:
        latest = self.history.latest
        if latest is None:
            return None
        age = self.clock() - latest.timestamp
        return age if age > max(STALE_INTERVALS * self.config.interval_s, STALE_MIN_S) else None

    # A sample or a timer can still arrive while the app tears its widgets down: `query`
    # (not `query_one`) makes that a no-op instead of an exception.
    def _show_status(self) -> None:
        for bar in self.query(StatusBar):
            bar.show(self.sample, self.config.interval_s, self.stale_for_s())

    def _show_dashboard(self) -> None:
        if self.sample is not None:
            window = self.history.maxlen if self.zoomed else None
            for dashboard in self.query(Dashboard):
                dashboard.show(self.sample, self.history, window)

    def watch_zoomed(self) -> None:
        self._show_dashboard()

    def watch_active_tab(self, tab: str) -> None:
        self.query_one("#tabs", ContentSwitcher).current = tab
        self.query_one(TabStrip).active = tab
        self.refresh_bindings()
        if tab == "dashboard":
            self._show_dashboard()  # it skipped samples while hidden
        if tab == "model" and isinstance(self.focused, Input):
            self.set_focus(None)  # the letter keys act on the tab, not in a field
        if tab == "log" and self.causes_unseen:
            self.causes_unseen = 0
            self.query_one(TabStrip).set_badge("log", None)

    def on_tab_strip_selected(self, message: TabStrip.Selected) -> None:
        self.active_tab = message.tab

    def _housekeeping(self) -> None:
        """Cheap main-thread checks: an overdue sample, a terminal that went away."""
        self._show_status()
        if self.watch_terminal and self._terminal_gone():
            self._leave(129)

    # -- terminal going away ------------------------------------------------------------

    def _install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for signum, code in ((signal.SIGHUP, 129), (signal.SIGTERM, 143)):
            try:
                loop.add_signal_handler(signum, self._leave, code)
            except (NotImplementedError, RuntimeError, ValueError):
                continue
            self._signals.append(signum)
        # A hang-up comes with SIGCONT, on which Textual's driver restarts application mode
        # (meant for a return from ctrl+z): in the middle of a shutdown that deadlocks its
        # output thread. Pass SIGCONT on only while the terminal is still there.
        resume = signal.getsignal(signal.SIGCONT)
        if callable(resume):
            def on_sigcont(signum: int, frame: FrameType | None) -> None:
                if not self._terminal_gone():
                    resume(signum, frame)

            signal.signal(signal.SIGCONT, on_sigcont)
            self._sigcont_replaced = True

    def _leave(self, code: int) -> None:
        """Exit because the terminal or the process's owner went away, surely: a watchdog
        ends the process if the orderly shutdown has not within TERMINAL_GONE_EXIT_S."""
        if not self._leaving:
            self._leaving = True
            watchdog = threading.Timer(TERMINAL_GONE_EXIT_S, os._exit, args=(code,))
            watchdog.daemon = True
            watchdog.start()
        self.exit(return_code=code)

    def _terminal_gone(self) -> bool:
        """After an SSH drop stdin stops being a TTY, or the parent (shell, sshd) is gone."""
        if os.getppid() != self._parent_pid:
            return True
        try:
            return not os.isatty(sys.__stdin__.fileno()) if sys.__stdin__ else True
        except (OSError, ValueError):
            return True

    # -- actions ------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("sort_processes", "reverse_sort", "toggle_zoom"):
            # Dashboard keys: only on the dashboard, not under the help screen.
            return self.screen is self.screen_stack[0] and self.dashboard_active
        if action in MODEL_ACTIONS:
            if action == "restart_engine" and not self.engine_dead:
                return False  # shown (footer, button) only when the engine died
            return self.screen is self.screen_stack[0] and self.active_tab == "model"
        return True

    def action_show_tab(self, tab: str) -> None:
        self.active_tab = tab

    def action_blur(self) -> None:
        """Escape leaves a text field, so the letter keys act again."""
        self.set_focus(None)

    def action_next_tab(self, step: int) -> None:
        ids = [tab for tab, _ in TABS]
        self.active_tab = ids[(ids.index(self.active_tab) + step) % len(ids)]

    def action_sort_processes(self) -> None:
        self.query_one(Dashboard).processes.cycle_sort()

    def action_reverse_sort(self) -> None:
        self.query_one(Dashboard).processes.reverse_sort()

    def action_toggle_zoom(self) -> None:
        self.zoomed = not self.zoomed
        minutes = self.history.maxlen * self.config.interval_s / 60
        self.notify(f"sparklines: last {minutes:.0f} min" if self.zoomed
                    else "sparklines: one column per sample", timeout=3)

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            self.screen.dismiss()
        else:
            self.push_screen(HelpScreen(self.help_rows()))

    def help_rows(self) -> list[tuple[str, str]]:
        """(keys, description) for every app binding, keys of one action joined."""
        keys_by_action: dict[str, list[str]] = {}
        descriptions: dict[str, str] = {}
        for bindings in self._bindings.key_to_bindings.values():
            for binding in bindings:
                if binding.description:
                    keys_by_action.setdefault(binding.action, []).append(
                        self.get_key_display(binding))
                    descriptions.setdefault(binding.action, binding.description)
        rows = [(" / ".join(keys), descriptions[action]) for action, keys in keys_by_action.items()]
        return [*rows, *BUILTIN_KEYS, *log_view_module.KEYS]

    # -- the engine ---------------------------------------------------------------------

    @property
    def model_panel(self) -> ModelPanel:
        return self.query_one(ModelPanel)

    @property
    def log_view(self) -> LogView:
        return self.query_one(LogView)

    @property
    def engine_dead(self) -> bool:
        return self.engine is not None and self.engine.state == "dead"

    def ensure_engine(self) -> EngineClient:
        """The engine client, its process started (on first use, or again after it ended)."""
        if self.engine is None:
            self.engine = self.engine_factory(self._deliver_engine_message)
        if not self.engine.alive:
            pid = self.engine.start()
            self.log_view.add_event(f"engine started: pid {pid}")
            watch = getattr(self.sampler, "watch", None)
            if callable(watch):
                watch(pid)  # the dashboard shows the engine's RSS / CPU / VRAM
        return self.engine

    def _deliver_engine_message(self, msg: dict[str, Any]) -> None:
        """Called on the client's reader threads: hand the message to the UI thread."""
        self.post_message(EngineMessage(msg))

    def on_engine_message(self, message: EngineMessage) -> None:
        msg = message.msg
        self.log_view.handle_engine_message(msg)
        event = msg.get("event")
        if event in ("output",):
            return
        self.model_panel.handle_engine_message(msg)
        self.query_one(PromptPanel).handle_engine_message(msg)
        if event == "loaded":
            self._show_estimate_vs_actual(msg)
            self._send_memory_report()  # the client's state says "loaded" only after this event
        elif event == "generated":
            self._show_kv_vs_estimate(msg)
        elif event == "unloaded":
            self.log_view.add_event(f"unload: {msg['message']}")
        elif event in ("gc", "empty_cache"):
            self.log_view.add_event(self.model_panel.last_result)
        elif event == "error" and msg.get("error_type") == "ResumeRefused":
            self.push_screen(ConfirmScreen(f"Resume refused: {msg['message']}\n\nResume anyway "
                                           "(force), although a resource is still at its "
                                           "pause level?"), self._resume_forced)
        elif event == "error" and msg.get("error_type") == "WillNotFit":
            self.notify(f"{msg['message']} (F loads anyway)", title="load refused",
                        severity="warning", timeout=10)
        elif event == "exited":
            if not msg.get("expected"):
                how = (f"killed by {msg['signal']}" if msg.get("signal")
                       else f"exit code {msg.get('returncode')}")
                self.notify(f"the engine died ({how}); X restarts it", title="engine",
                            severity="error", timeout=15)
            unwatch = getattr(self.sampler, "unwatch", None)
            if callable(unwatch) and msg.get("pid"):
                unwatch(int(msg["pid"]))
            self.refresh_bindings()

    def _diagnosis_context(self) -> Any:
        from console.core.diagnose import DiagnosisContext

        engine_pid = self.engine.pid if self.engine is not None else None
        return DiagnosisContext.from_sample(self.sample, engine_pid=engine_pid)

    def _send(self, what: str, command: Callable[[EngineClient], object]) -> bool:
        """Send one command to the running engine; say so when there is none."""
        if self.engine is None or not self.engine.alive:
            self.model_panel.show_result(f"{what}: the engine is not running"
                                         + (" (X restarts it)" if self.engine_dead else
                                            " (it starts on the first load)"), "warning")
            return False
        try:
            command(self.engine)
        except EngineDead as exc:
            self.model_panel.show_result(f"{what}: {exc}", "error")
            return False
        return True

    def default_device(self) -> str:
        """cuda:0 when NVML sees a GPU, else cpu (what `load` does headless)."""
        return "cuda:0" if self.sample is not None and self.sample.gpus else "cpu"

    # -- pre-flight ---------------------------------------------------------------------

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id in ("model-input", "device", "context", "batch"):
            event.stop()
            self.run_check(self.model_panel.model_name)

    def on_select_changed(self, event: Any) -> None:
        if getattr(event.select, "id", None) == "dtype" and self.checked_model:
            self.run_check(self.model_panel.model_name)

    @work(thread=True, exclusive=True, group="check", exit_on_error=False)
    def run_check(self, model: str) -> None:
        """check.assess on the selected model (headers only: fast, no torch); posts CheckDone."""
        if not model:
            return
        panel = self.model_panel
        dtype = panel.option("dtype")
        device = panel.option("device") or None
        context = panel.int_option("context")
        batch = panel.int_option("batch") or 1
        self.post_message(CheckDone(model, None, f"pre-flight: checking {model}...", "unknown"))
        deadline = time.monotonic() + 5.0
        while self.sample is None and time.monotonic() < deadline:
            time.sleep(0.05)  # the pre-flight compares with the memory free now
        sample = self.sample if self.sample is not None else self.sampler.sample()
        try:
            from console.commands.check import assess, format_text, resolve_model
            from console.core.preflight import check_model_dir
            from console.worker import demo

            if model == demo.DEMO_NAME:
                model_dir = demo.demo_dir()
                if not (model_dir / "config.json").is_file():
                    self.post_message(CheckDone(model, None, f"pre-flight: {demo.DEMO_LABEL}; "
                                                "built on the first load (then checked)",
                                                "unknown"))
                    return
            else:
                model_dir = resolve_model(model, self.config)
            report = check_model_dir(model_dir)
            result = assess(model, model_dir, report, sample, self.config, dtype=dtype,
                            context=context, batch=batch, device=device)
        except LookupError as exc:
            self.post_message(CheckDone(model, None, f"pre-flight: {exc}", "broken"))
            return
        except Exception as exc:  # the panel shows it; the app goes on
            self.post_message(CheckDone(model, None, f"pre-flight failed: "
                                        f"{type(exc).__name__}: {exc}", "broken"))
            return
        if not report.ok:
            verdict = "broken"
        else:
            verdict = result.fit.verdict if result.fit is not None else "unknown"
        self.post_message(CheckDone(model, result, format_text(result).rstrip(), verdict))

    def on_check_done(self, message: CheckDone) -> None:
        if message.model != self.model_panel.model_name:
            return  # the user picked another model meanwhile
        self.checked_model = message.model
        self.check_result = message.result
        self.check_verdict = message.verdict
        text = message.text
        if message.verdict == "will_not_fit":
            text = "WILL NOT FIT: Load refuses; F loads anyway (asks first)\n" + text
        self.model_panel.show_check(text, message.verdict)

    # -- model actions ------------------------------------------------------------------

    def action_pick(self) -> None:
        rows: list[tuple[str, str]] = [("demo", "demo: random weights (built on first use)")]
        note = None
        try:
            from console.core.hfcache import list_cached

            cache = Path(self.config.hf_cache).expanduser() if self.config.hf_cache else None
            for cached in list_cached(cache):
                rows.append((cached.repo_id, f"{fmt_bytes(cached.size_bytes)}"
                             + ("" if cached.has_weights else "  (no weights)")))
        except Exception as exc:
            note = f"HF cache not listed: {type(exc).__name__}: {exc}"
        if len(rows) == 1 and note is None:
            note = "the HF cache holds no models (type a path in the model field)"

        def picked(name: str | None) -> None:
            if name:
                self.model_panel.set_model(name)
                self.run_check(name)

        self.push_screen(ModelPicker(rows, note), picked)

    def action_load(self, force: bool = False) -> None:
        panel = self.model_panel
        model = panel.model_name
        if not model:
            panel.show_result("Load: type a model (path, hub id or demo) or pick one (O)",
                              "warning")
            return
        if (not force and self.checked_model == model and self.check_verdict == "will_not_fit"
                and self.check_result is not None):
            reason = self.check_result.fit.reason if self.check_result.fit else "will not fit"
            panel.show_result(f"Load refused: will not fit: {reason}. F loads anyway (asks)",
                              "error")
            self.log_view.add_event(f"load of {model} refused by the pre-flight: {reason}",
                                    "warning")
            return
        if self.checked_model != model:
            self.run_check(model)
        try:
            engine = self.ensure_engine()
            self._load_model = model
            self._load_id = engine.load(
                model, dtype=panel.option("dtype"),
                device=panel.option("device") or self.default_device(),
                attn_implementation=panel.option("attn") or None,
                trust_remote_code=panel.trust_remote_code, loader=panel.option("loader"),
                guard=guard_settings(self.config, auto_resume=panel.auto_resume,
                                     thresholds=panel.thresholds),
                force=force, context=panel.int_option("context"),
                batch=panel.int_option("batch"))
        except (EngineDead, OSError) as exc:
            panel.show_result(f"Load: {exc}", "error")
            return
        panel.show_comparison(())
        self.log_view.add_event(f"load started: {model}" + (" (forced)" if force else ""))
        self.refresh_bindings()

    def action_load_anyway(self) -> None:
        model = self.model_panel.model_name
        self.push_screen(ConfirmScreen(f"Load {model} although the estimate says it will not "
                                       "fit? The guard still pauses it at its thresholds."),
                         lambda yes: self.action_load(force=True) if yes else None)

    def action_unload(self) -> None:
        if self._send("Unload", lambda e: e.unload()):
            self.log_view.add_event("unload requested")

    def action_hard_unload(self) -> None:
        def confirmed(yes: bool | None) -> None:
            if yes:
                self.log_view.add_event("hard unload: terminating the engine process")
                self._hard_unload()

        self.push_screen(ConfirmScreen("Hard unload: terminate the engine process? Every byte "
                                       "it holds returns; the next load starts a fresh one."),
                         confirmed)

    @work(thread=True, exclusive=True, group="engine-control", exit_on_error=False)
    def _hard_unload(self) -> None:
        if self.engine is not None:
            self.engine.hard_unload()  # blocks up to the grace period: off the UI thread

    def action_abort(self) -> None:
        self._send("Abort", lambda e: e.abort())

    def action_pause(self) -> None:
        self._send("Pause", lambda e: e.pause())

    def action_resume(self) -> None:
        self._send("Resume", lambda e: e.resume())

    def _resume_forced(self, yes: bool | None) -> None:
        if yes:
            self._send("Resume", lambda e: e.resume(force=True))

    def action_gc(self) -> None:
        self._send("GC", lambda e: e.gc())

    def action_empty_cache(self) -> None:
        self._send("Empty cache", lambda e: e.empty_cache())

    def action_memory_report(self) -> None:
        self._send("Memory report", lambda e: e.memory_report())

    def action_stop_generation(self) -> None:
        self._send("Stop", lambda e: e.stop_generation())

    def action_restart_engine(self) -> None:
        if self.engine is not None and self.engine.alive:
            return
        self.ensure_engine()
        self.model_panel.show_result("engine restarted")
        self.refresh_bindings()

    def action_raise_pause(self) -> None:
        panel = self.model_panel
        levels = _levels_of(panel.thresholds["vram"])
        new_pause = min(100.0, float(levels["pause"]) + RAISE_PAUSE_STEP)
        levels["pause"] = new_pause
        if levels["abort"] is not None and levels["abort"] < new_pause:
            levels["abort"] = new_pause  # abort stays at or above the pause
        panel.thresholds["vram"] = levels  # the engine's `guard` answer replaces it
        panel.show_guard_levels()
        if self.engine is not None and self.engine.alive:
            self._send("Raise pause", lambda e: e.set_thresholds({"vram": {"pause": new_pause}}))
        self.log_view.add_event(f"guard: VRAM pause level raised to {new_pause:g}%")

    def action_toggle_auto_resume(self) -> None:
        panel = self.model_panel
        panel.auto_resume = not panel.auto_resume
        panel.show_guard_levels()
        if self.engine is not None and self.engine.alive:
            self._send("Auto-resume", lambda e: e.set_thresholds(auto_resume=panel.auto_resume))

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        button_id = event.button.id or ""
        if button_id.startswith("btn-"):
            event.stop()
            await self.run_action(button_id.removeprefix("btn-"))

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        if event.checkbox.id != "trust" or not event.value:
            return

        def confirmed(yes: bool | None) -> None:
            if not yes:
                event.checkbox.value = False
            else:
                self.log_view.add_event("trust_remote_code on: the model's own Python code "
                                        "will run in the engine", "warning")

        self.push_screen(ConfirmScreen("trust_remote_code runs the Python code shipped with "
                                       "the model, with your permissions. Only for a model "
                                       "whose code you trust. Turn it on?"), confirmed)

    # -- generation ---------------------------------------------------------------------

    def on_prompt_panel_submitted(self, message: PromptPanel.Submitted) -> None:
        if self.engine is None or not self.engine.alive or self.engine.state != "loaded":
            self.model_panel.show_result("Generate: load a model first (L)", "warning")
            return
        self.query_one(PromptPanel).start()
        self._send("Generate", lambda e: e.generate(
            message.prompt, max_new_tokens=message.max_new_tokens,
            temperature=message.temperature, top_p=message.top_p))

    # -- estimate vs actual -------------------------------------------------------------

    def _estimate(self) -> Any:
        if self.check_result is None or self.checked_model != self._load_model:
            return None
        return self.check_result.estimate

    def _show_estimate_vs_actual(self, loaded: dict[str, Any]) -> None:
        from console.core.estimate import compare

        if self._load_model == "demo" and self.check_result is None:
            self.run_check("demo")  # built by this load: check it now
        est = self._estimate()
        if est is None:
            return
        memory = loaded.get("memory") or {}
        devices = memory.get("devices") or []
        if devices:
            after = sum(int(d.get("nvml_used_bytes") or 0) for d in devices)
        else:
            after = int(memory.get("rss_bytes") or 0) - int(memory.get("rss_baseline_bytes") or 0)
        self.model_panel.show_comparison(compare(
            est, weights_bytes=loaded.get("param_bytes"), after_load_bytes=after))

    def _show_kv_vs_estimate(self, generated: dict[str, Any]) -> None:
        from console.core.estimate import Comparison

        est = self._estimate()
        kv = generated.get("kv_cache_bytes")
        if est is None or kv is None:
            return
        tokens = int(generated.get("prompt_tokens") or 0) + int(generated["tokens"])
        expected = est.kv_bytes_per_token * tokens
        self.model_panel.show_comparison((Comparison(f"KV cache ({tokens} tokens)", expected,
                                                     int(kv)),))

    def _poll_allocator(self) -> None:
        if (self.engine is not None and self.engine.alive
                and self.engine.state in ("loaded", "generating")):
            self._send_memory_report()

    @work(thread=True, group="allocator", exit_on_error=False)
    def _send_memory_report(self) -> None:
        engine = self.engine
        if engine is not None:
            with contextlib.suppress(EngineDead):
                engine.memory_report()

    # -- log, doctor, bundle ------------------------------------------------------------

    def on_log_view_cause_found(self, message: LogView.CauseFound) -> None:
        cause = message.record.error.causes[0] if message.record.error.causes else None
        if self.active_tab != "log":
            self.causes_unseen += 1
            self.query_one(TabStrip).set_badge("log", f"({self.causes_unseen}!)")
        if cause is not None:
            self.notify(f"{cause.title} (Log tab: 3)", title=f"cause: {cause.id}",
                        severity="error", timeout=10)

    def action_doctor(self) -> None:
        from console.host.doctor import run_doctor
        from widgets.doctor_screen import DoctorScreen

        def doctor() -> Any:
            report = run_doctor(hf_cache=self.config.hf_cache)
            self.doctor_report = report
            return report

        self.push_screen(DoctorScreen(doctor))

    def action_bundle(self) -> None:
        self.notify("writing the diagnostic bundle...", timeout=3)
        self._write_bundle()

    @work(thread=True, exclusive=True, group="bundle", exit_on_error=False)
    def _write_bundle(self) -> None:
        from console.host.bundle import default_bundle_name, write_bundle

        try:
            path = write_bundle(
                Path.cwd() / default_bundle_name(), doctor_report=self.doctor_report,
                sample=self.sample, check_result=self.check_result,
                diagnosed_errors=list(self.log_view.errors),
                session_log_path=self.engine.log_path if self.engine is not None else None,
                doctor_problem=None if self.doctor_report is not None
                else "the doctor has not run in this session (D runs it)")
        except Exception as exc:
            self.post_message(BundleWritten(None, f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(BundleWritten(str(path)))

    def on_bundle_written(self, message: BundleWritten) -> None:
        if message.path:
            self.notify(f"bundle written: {message.path}", title="bundle", timeout=10)
            self.log_view.add_event(f"bundle written: {message.path}")
        else:
            self.notify(f"bundle failed: {message.error}", severity="error", timeout=10)


def _levels_of(levels: Any) -> dict[str, Any]:
    if isinstance(levels, dict):
        return dict(levels)
    return {"warn": levels.warn, "pause": levels.pause, "abort": levels.abort,
            "resume": levels.resume}


def _default_engine(on_message: OnMessage) -> EngineClient:
    return EngineClient(on_message=on_message, use_queue=False)


def run_app(config: Config, model: str | None = None, *, sampler: Sampler | None = None,
            log_file: str | None = None) -> int:
    """Run the dashboard on the real telemetry (or `sampler`); return the exit code."""
    telemetry = None
    if sampler is None:
        from console.host.telemetry import Telemetry

        telemetry = Telemetry()
        sampler = telemetry
    app = ConsoleApp(config, sampler, initial_model=model, watch_terminal=True,
                     freeze_startup_objects=True, log_file=log_file)
    # Our own loop, not asyncio.run: asyncio.run waits for every executor thread, and a
    # sampler stuck in a driver call would then keep the process alive forever.
    loop = asyncio.new_event_loop()
    try:
        app.run(loop=loop)
    finally:
        code = app.return_code if app.return_code is not None else 1
        if app.engine_closer is not None:
            app.engine_closer.join(ENGINE_CLOSE_JOIN_S)  # no engine child left behind
        deadline = time.monotonic() + SAMPLER_JOIN_S
        while app.sampler_running.is_set() and time.monotonic() < deadline:
            time.sleep(0.01)
        if app.sampler_running.is_set():
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        if telemetry is not None:
            telemetry.close()
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()
    return code
