"""The Textual app: the only console module that imports textual.

`ConsoleApp` takes its sampler (anything with `.sample() -> Sample`), its clock and its host
name from the caller, so tests pass fakes. A thread worker samples at the configured interval
and posts one `SampleReady` per tick; the handler appends it to the History and sets the
`sample` reactive; the widgets render only from the Sample they are given.

Engine side the same way: an engine client (`console.engines.base.Engine`, made by the
`engine_factory`) delivers typed events on its threads; the app posts each as an
`EngineMessage`, folds it into the one `session` reactive (`console.core.session.apply`) on
the UI thread, and the panels render from (sample, session). Thread workers never touch a
widget: what they need is read on the UI thread first and passed in; results come back as
messages.

`run_app` is what `autoglm-console` with no sub-command runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
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
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from textual import work
from textual.app import App, ComposeResult, ScreenStackError, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Container, Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Button, Checkbox, ContentSwitcher, Input
from textual.worker import get_current_worker

from console.core import protocol
from console.core.keys import (
    BY_ACTION,
    DASHBOARD_ACTIONS,
    ENGINE_ACTIONS,
    KEYED_COMMANDS,
    KEYS,
    command_for,
    help_rows,
    refusal,
    state_keys,
)
from console.core.keyspec import KEY_NAMES, KeySpec
from console.core.levels import GUARD_RESOURCES, Levels
from console.core.sample import History, Sample
from console.core.session import (
    AutoResumeSet,
    Check,
    EngineStarted,
    GenerationStarted,
    LevelsSet,
    LoadRequested,
    Notice,
    Session,
    SessionEvent,
    VisionRead,
    apply,
    exit_how,
)
from console.core.session import (
    CheckDone as SessionCheckDone,
)
from console.core.trust import model_key
from console.core.units import fmt_bytes
from console.core.vision import ProcessorLimits
from console.engines.base import Engine, EngineDead, OnEvent, guard_settings
from console.host import oomkill
from console.host.config import Config
from console.host.demo import DEMO_LABEL, DEMO_NAME, demo_dir
from console.host.demo_vl import DEMO_VL_LABEL, DEMO_VL_NAME, demo_vl_dir
from widgets.confirm_screen import ConfirmScreen
from widgets.dashboard import Dashboard
from widgets.engine_box import EngineBox, default_device
from widgets.engine_strip import EngineStrip, engine_proc, tab_badge
from widgets.help_screen import HelpScreen
from widgets.key_footer import KeyFooter
from widgets.log_pane import LogPane
from widgets.log_view import LogView
from widgets.messages import (
    BundleWritten,
    CheckDone,
    EngineMessage,
    FingerprintRecorded,
    SampleReady,
    SamplerFailed,
    VerdictReady,
)
from widgets.model_panel import ModelPanel
from widgets.model_picker import ModelPicker
from widgets.prompt_panel import PromptPanel
from widgets.status_bar import PROBLEM_STATES, StatusBar
from widgets.tab_strip import TabStrip

if TYPE_CHECKING:  # imported when a served engine is selected (startup time)
    from console.core.serving import ServeSpec
    from console.host.kernellog import KernelOom  # read when the engine dies by SIGKILL

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
# `+` / `-` raise / lower the VRAM pause level by this many points (set_thresholds, live).
RAISE_PAUSE_STEP = 2.0
LOWEST_PAUSE = 10.0
# A first `q` with a model loaded or loading arms the quit for this long.
QUIT_ARMED_S = 5.0
# How long a "this key cannot act here" line stays.
REFUSAL_S = 3.0
# The RSS sparkline in the engine strip: this many samples.
STRIP_HISTORY = 8

TABS = (("dashboard", "Dashboard"), ("model", "Model"), ("log", "Log"))


def action_of(spec: KeySpec) -> str:
    """The app action a key runs: an engine command's key runs `command('<name>')` (one
    generic action sends every keyed command), any other key its own action."""
    return f"command({spec.action!r})" if spec.action in KEYED_COMMANDS else spec.action


def bindings() -> list[BindingType]:
    """The app's bindings, one per key of `console.core.keys.KEYS` that the app runs."""
    made: list[BindingType] = []
    for spec in KEYS:
        if spec.scope == "widget":
            continue
        slug = "_".join("".join(c if c.isalnum() else " " for c in spec.title).lower().split())
        made.append(Binding(spec.key_name, action_of(spec), spec.title, show=spec.show,
                            key_display=spec.key if spec.key != spec.key_name else None,
                            id=f"{spec.scope}.{slug}"))
    return made


class Sampler(Protocol):
    def sample(self) -> Sample: ...


def vision_limits_of(path: str | None) -> ProcessorLimits | str | None:
    """The image processor's limits of the model directory `path` (console.core.vision), None
    for a text-only model, "unknown" when they cannot be read (issue 16). JSON only."""
    from console.core import vision

    return vision.limits_of_model_dir(path)


class ConsoleApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "autoglm-console"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]  # noqa: RUF012 (Textual's API)
    VERTICAL_BREAKPOINTS = [(0, "-short"), (36, "-tall")]  # noqa: RUF012
    # Every key, from the one table (console/core/keys.py); engine commands declare theirs.
    BINDINGS: ClassVar[list[BindingType]] = bindings()

    # repaint=False: an App reactive would otherwise repaint the whole screen on every tick;
    # the widgets that change refresh themselves.
    sample: reactive[Sample | None] = reactive(None, always_update=True, init=False, repaint=False)
    zoomed: reactive[bool] = reactive(False, init=False, repaint=False)
    active_tab: reactive[str] = reactive("dashboard", init=False, repaint=False)
    # The one engine session (console/core/session.py), folded from the engine's events.
    session: reactive[Session] = reactive(Session, always_update=True, init=False,
                                          repaint=False)

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
        engine_factory: Callable[[OnEvent], Engine] | None = None,
        served_factory: Callable[[ServeSpec, OnEvent], Engine] | None = None,
        freeze_startup_objects: bool = False,
        log_file: str | None = None,
        prestart: bool = False,
    ) -> None:
        """`watch_terminal`: exit on SIGHUP/SIGTERM and when the terminal or parent goes away
        (run_app turns it on; tests running headless leave it off). `cursor_blink`: False for
        snapshots; text inputs (the prompt, filters) take it from `app.cursor_blink`.
        `engine_factory(on_event)`: makes the engine client (default: the real one); the
        engine process starts on the first load, not before. `freeze_startup_objects`: see
        `_freeze_startup_objects` (run_app turns it on; it is process-wide, so tests that run
        many apps in one process leave it off). `prestart`: start the engine process once the
        first frame is up (run_app passes the config's `prestart`), so the first load pays no
        import time. `served_factory(spec, on_event)`: makes the client of a served engine
        (vLLM, SGLang, `transformers serve`; default: `RemoteEngine`) when the model view's
        engine selector names one."""
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
        rotation = (config.log_keep_sessions, config.log_max_mib)  # [logs] keys
        self.engine_factory = engine_factory or (
            lambda on_event: _default_engine(on_event, rotation))
        self.engine: Engine | None = None
        self.served_factory = served_factory or self._default_served_engine
        # Which engine `self.engine` is: in-process (the engine_factory's) or a served one
        # (vllm, sglang, transformers). Events of an engine replaced since are dropped.
        self.engine_kind = "in-process"
        self._engine_gen = 0
        self._token_lock = threading.Lock()
        self._token_run: list[protocol.Token] | None = None  # posted, not yet taken
        self.set_reactive(ConsoleApp.session, Session(
            levels={name: config.thresholds[name] for name in GUARD_RESOURCES},
            auto_resume=config.auto_resume))
        self.doctor_report: Any = None
        self.causes_unseen = 0
        self.engine_closer: threading.Thread | None = None
        self.log_file = log_file  # a log file to follow in the Log tab (--log FILE)
        self.prestart = prestart
        self._oom_before: dict[str, int] = {}  # the kernel's OOM-kill counters at engine start
        self.oom_kill_evidence: str | None = None
        self.kernel_oom: KernelOom | None = None  # read when the engine dies by SIGKILL
        self._checked_dtype = "auto"  # the dtype the last pre-flight ran with
        self._quit_armed_until = 0.0
        self.fingerprint_job: FingerprintJob | None = None  # V: the one being recorded
        self.last_fingerprint: Path | None = None  # V's last file: what C compares

    # -- layout -------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        """Status line, tab strip, one container per tab (`#dashboard`, `#model`, `#log`:
        the engine and diagnosis widgets mount into theirs), footer."""
        yield StatusBar(self.TITLE, self.hostname, id="status")
        yield TabStrip(TABS, id="tab-strip")
        yield EngineStrip(id="engine-strip")
        with ContentSwitcher(id="tabs", initial="dashboard"):
            with Container(id="dashboard"):
                yield Dashboard(self.config.thresholds, id="dash")
            with VerticalScroll(id="model"), Container(id="model-body"):
                # Left: model, options, state, progress, prompt and output (room below the
                # prompt for attachments); right: the engine's memory against the guard.
                with Vertical(id="model-left") as left:
                    left.border_title = "model"
                    yield ModelPanel(self.initial_model, self.session, id="model-panel")
                    yield PromptPanel(id="prompt-panel")
                box = EngineBox(id="engine-box")
                box.border_title = "engine process"
                yield box
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
        if self.prestart:
            self.call_after_refresh(self._prestart)
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

    def action_page_log_file(self) -> None:
        """`w`: the whole file followed in the Log tab, paged (widgets/file_pager.py); with
        none followed, it asks for a path first (and follows it too)."""
        from widgets.file_pager import FilePagerScreen
        from widgets.log_file import LogFileFollower, OpenLogScreen

        if isinstance(self.screen, FilePagerScreen):
            return
        followed = [f for f in self.query(LogFileFollower) if f.problem is None]
        if followed:
            self.push_screen(FilePagerScreen(followed[-1].path))
            return

        def page(path: str | None) -> None:
            if path:
                self.follow_log_file(path)
                self.push_screen(FilePagerScreen(path))

        self.push_screen(OpenLogScreen(), page)

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
        if sample is None or not self.screen_stack:
            return  # none yet, or the app is tearing down: no screen to show it on
        nvml = sample.nvml
        if nvml.state in PROBLEM_STATES:
            self._notify_problem((nvml.state, nvml.message),
                                 f"GPU telemetry: {nvml.state}: {nvml.message or 'no details'}")
        elif nvml.ok:
            self._notified_problem = None
        self._show_status()
        self._show_strip()
        if self.dashboard_active:
            self._show_dashboard()
        elif self.active_tab == "model":
            self._show_engine_box()

    def _show_engine_box(self) -> None:
        for box in self.query(EngineBox):
            box.show(self.session, self.sample, list(self.history)[-120:])

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

    def _show_strip(self) -> None:
        """The engine strip under the tabs, from the session and the latest sample."""
        pid = self.session.pid
        rss: list[float] = []
        if pid is not None:
            for sample in list(self.history)[-STRIP_HISTORY:]:
                proc = engine_proc(sample, pid)
                if proc is not None and proc.rss_bytes is not None:
                    rss.append(float(proc.rss_bytes))
        in_prompt = isinstance(self.focused, Input) and self.focused.id == "prompt"
        for strip in self.query(EngineStrip):
            strip.show(self.session, self.sample, rss, in_prompt=in_prompt)

    def watch_zoomed(self) -> None:
        self._show_dashboard()

    def watch_active_tab(self, tab: str) -> None:
        self.query_one("#tabs", ContentSwitcher).current = tab
        self.query_one(TabStrip).active = tab
        self.refresh_bindings()
        if tab == "dashboard":
            self._show_dashboard()  # it skipped samples while hidden
        if tab == "model":
            self._show_engine_box()
        if tab == "model" and isinstance(self.focused, Input):
            self.set_focus(None)  # the letter keys act on the tab, not in a field
        if tab != "model" and isinstance(self.focused, Input) and self.focused.id != "log-filter":
            self.set_focus(None)
        if tab == "log":
            # The log's keys (l, /, n, v) work at once.
            for pane in self.query(LogPane):
                self.call_after_refresh(pane.focus)
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
        if action == "command" or action in DASHBOARD_ACTIONS or action in ENGINE_ACTIONS:
            # Engine keys work from every tab; a key that cannot act says why (`refused`).
            # Not under a dialog or the help screen.
            return self.screen is self.screen_stack[0]
        return True

    def refused(self, action: str) -> bool:
        """Flash one line when `action` cannot act now (why, and where it works)."""
        why = refusal(action, self.session, tab=self.active_tab)
        if why is None:
            return False
        self.notify(why, title="not now", severity="information", timeout=REFUSAL_S)
        return True

    def action_request_quit(self) -> None:
        """`q`: quits at once when nothing is held; with a model loaded or loading it asks
        once ("q again quits and frees ..."), and a second `q` quits and stops the engine."""
        held = self.session.engine in ("loading", "loaded", "generating", "unloading")
        now = time.monotonic()
        if held and now > self._quit_armed_until:
            self._quit_armed_until = now + QUIT_ARMED_S
            self.notify(f"q again quits and frees {self._held_text()}", title="quit?",
                        severity="warning", timeout=QUIT_ARMED_S)
            return
        self.exit(return_code=0)

    def _held_text(self) -> str:
        proc = engine_proc(self.sample, self.session.pid)
        if proc is not None and (proc.gpu_memory_bytes or proc.rss_bytes):
            vram = proc.gpu_memory_bytes or 0
            if vram:
                return f"{fmt_bytes(vram)} of VRAM (and {fmt_bytes(proc.rss_bytes)} of RAM)"
            return f"{fmt_bytes(proc.rss_bytes)} of RAM"
        loaded = self.session.loaded
        if loaded is not None and loaded.bytes:
            return fmt_bytes(loaded.bytes)
        return "what the engine holds"

    def action_focus_prompt(self) -> None:
        """`i`: into the prompt from any tab; Esc leaves it."""
        self.active_tab = "model"
        prompt = self.query_one("#prompt", Input)
        self.call_after_refresh(prompt.focus)

    def action_toggle_preflight(self) -> None:
        self.model_panel.toggle_preflight()

    def get_system_commands(self, screen: Screen[Any]) -> Any:
        """The command palette: every action with its key (typing "load" finds Load)."""
        for spec in KEYS:
            if spec.palette is not None:
                yield SystemCommand(f"{spec.title} ({spec.key})", spec.palette,
                                    self._palette_callback(action_of(spec)))
        yield from super().get_system_commands(screen)

    def _palette_callback(self, action: str) -> Callable[[], Any]:
        def run() -> None:
            self.call_later(self.run_action, action)
        return run

    def footer_keys(self) -> list[tuple[str, str, str]] | None:
        """(key, shown key, what) for the footer on the main screen: the keys that apply in
        this state and on this tab; None under a dialog (its own bindings show)."""
        if self.screen is not self.screen_stack[0]:
            return None
        in_prompt = isinstance(self.focused, Input) and self.focused.id == "prompt"
        keys = [(KEY_NAMES.get(k, k), k, what)
                for k, what in state_keys(self.session, in_prompt=in_prompt)]
        if in_prompt:
            return keys
        if isinstance(self.focused, Input):
            return [("escape", "Esc", "leave the field"), *keys]
        per_tab = {"dashboard": [("s", "s", "sort"), ("z", "z", "zoom")],
                   "model": [("O", "O", "pick"), ("W", "W", "pre-flight")],
                   "log": [("l", "l", "level"), ("slash", "/", "filter"),
                           ("n", "n", "next error")]}
        seen = {k for k, _, _ in keys}
        keys += [k for k in per_tab.get(self.active_tab, []) if k[0] not in seen]
        return [*keys, ("question_mark", "?", "help"), ("q", "q", "quit")]

    def action_show_tab(self, tab: str) -> None:
        self.active_tab = tab

    def action_blur(self) -> None:
        """Escape leaves a text field, so the letter keys act again."""
        self.set_focus(None)

    def action_next_tab(self, step: int) -> None:
        ids = [tab for tab, _ in TABS]
        self.active_tab = ids[(ids.index(self.active_tab) + step) % len(ids)]

    def action_sort_processes(self) -> None:
        if self.refused("sort_processes"):
            return
        self.query_one(Dashboard).processes.cycle_sort()

    def action_reverse_sort(self) -> None:
        if self.refused("reverse_sort"):
            return
        self.query_one(Dashboard).processes.reverse_sort()

    def action_toggle_zoom(self) -> None:
        if self.refused("toggle_zoom"):
            return
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
        """(keys, description) grouped by where they work: a group's heading is a row with
        an empty description."""
        return help_rows()

    # -- the engine ---------------------------------------------------------------------

    @property
    def model_panel(self) -> ModelPanel:
        return self.query_one(ModelPanel)

    @property
    def log_view(self) -> LogView:
        return self.query_one(LogView)

    @property
    def engine_dead(self) -> bool:
        return self.session.engine == "dead"

    @property
    def check_result(self) -> Any:
        """The selected model's CheckResult (pre-flight), or None."""
        return self.session.check.result if self.session.check is not None else None

    def fold(self, event: protocol.AnyEvent | SessionEvent) -> None:
        """The one way the session changes (UI thread)."""
        self.session = apply(self.session, event)

    def watch_session(self, session: Session) -> None:
        for panel in self.query(ModelPanel):
            panel.show_session(session)
        for prompt in self.query(PromptPanel):
            prompt.show_session(session)
        if self.active_tab == "model":
            self._show_engine_box()
        for strip in self.query(TabStrip):
            badge = tab_badge(session)
            if strip.badges.get("model") != badge:
                strip.set_badge("model", badge)
        self._show_strip()
        self._refresh_footer()

    def _refresh_footer(self) -> None:
        for footer in self.query(KeyFooter):
            footer.keys_changed()

    def on_descendant_focus(self) -> None:
        self._focus_moved()

    def on_descendant_blur(self) -> None:
        self._focus_moved()

    def _focus_moved(self) -> None:
        # Textual moves the focus as it takes the screens down too: then nothing is shown.
        if not self._panels_gone():
            self._show_strip()
            self._refresh_footer()

    def ensure_engine(self) -> Engine:
        """The engine client, its process started (on first use, or again after it ended)."""
        if self.engine is None:
            self.engine = self.engine_factory(self._deliverer())
        if not self.engine.alive:
            pid = self.engine.start()
            self._oom_before = oomkill.counts()
            self.oom_kill_evidence = None
            self.kernel_oom = None
            self.fold(EngineStarted(pid))
            self.log_view.add_event(f"engine started: pid {pid}")
            watch = getattr(self.sampler, "watch", None)
            if callable(watch) and pid is not None:
                watch(pid)  # the dashboard shows the engine's RSS / CPU / VRAM
        return self.engine

    def _prestart(self) -> None:
        """Start the engine process in the background once the first frame is up: it
        imports torch and transformers (no CUDA context until a load names a device)."""
        if self.engine is None or not self.engine.alive:
            try:
                self.ensure_engine()
            except OSError as exc:
                self.fold(Notice(f"engine prestart failed: {exc}; it starts on the first load",
                                 "warning"))

    def _deliver_engine_message(self, event: protocol.AnyEvent) -> None:
        """Called on the client's reader threads: hand the event to the UI thread. Tokens that
        arrive while the UI thread has not yet taken the last one join it (a fast model on a
        busy machine would otherwise queue thousands of messages, and a stop or any key would
        wait behind them); any other event ends the run, so the order of events is kept."""
        if isinstance(event, protocol.Token):
            with self._token_lock:
                if self._token_run is not None:
                    self._token_run.append(event)
                    return
                run = self._token_run = [event]
            self.post_message(EngineMessage(event, run))
            return
        with self._token_lock:
            self._token_run = None
        self.post_message(EngineMessage(event))

    def _take_run(self, message: EngineMessage) -> protocol.AnyEvent:
        """The event a message stands for: a run of tokens as one token event (the text of
        all, the ids of all, the last one's index and KV-cache size)."""
        if message.run is None:
            return message.event
        with self._token_lock:
            if self._token_run is message.run:
                self._token_run = None  # later tokens start a run of their own
            run = list(message.run)
        if len(run) == 1:
            return run[0]
        return dataclasses.replace(
            run[-1], text="".join(t.text for t in run),
            token_ids=[i for t in run for i in t.token_ids])

    def _deliverer(self) -> OnEvent:
        """The `on_event` of a new engine client: its events reach the UI thread while it is
        the app's engine (a replaced engine's last events, its `Exited`, are dropped)."""
        gen = self._engine_gen

        def deliver(event: protocol.AnyEvent) -> None:
            if gen == self._engine_gen:
                self._deliver_engine_message(event)
        return deliver

    def _switch_engine(self, kind: str) -> bool:
        """Make room for an engine of `kind`: the current one (idle, or ended) is closed off
        the UI thread. Refused (False, said in one line) while it holds or loads a model."""
        old = self.engine
        if old is not None and old.alive and self.session.engine in (
                "loading", "loaded", "generating", "unloading"):
            self.fold(Notice(f"L: the {self.engine_kind} engine is {self.session.engine} "
                             f"({self.session.model}); U unloads it first, then L starts "
                             f"the {kind} engine", "warning"))
            return False
        self._engine_gen += 1
        with self._token_lock:
            self._token_run = None  # the next engine's tokens start a run of their own
        self.engine = None
        self.engine_kind = kind
        if old is not None:
            pid = old.pid
            threading.Thread(target=old.close, name="engine-switch", daemon=True).start()
            unwatch = getattr(self.sampler, "unwatch", None)
            if callable(unwatch) and pid is not None:
                unwatch(pid)
        return True

    def serve_spec(self, kind: str, model: str) -> ServeSpec | None:
        """The served engine's spec from the model view's fields (model, port, command);
        None after one line naming the field and the fix."""
        from console.core.serving import ServeError, ServeSpec, parse_engine_cmd
        from console.host.demo import is_complete
        from console.host.demo_vl import is_complete as vl_complete

        panel = self.model_panel
        port_text = panel.option("port")
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            self.fold(Notice(f"port: {port_text!r} is not a TCP port; give one from 1 to 65535",
                             "error"))
            return None
        demos = {DEMO_NAME: (demo_dir, is_complete), DEMO_VL_NAME: (demo_vl_dir, vl_complete)}
        if model in demos:
            where, complete = demos[model]
            if not complete(where()):
                self.fold(Notice(f"Load: {model} is not built yet; load it once with the "
                                 "in-process engine, then serve it", "error"))
                return None
            model = str(where())
        cmd_text = panel.option("engine-cmd")
        source = "command"
        if not cmd_text and self.config.serve_cmds.get(kind):
            cmd_text, source = self.config.serve_cmds[kind], f"[serve] {kind}_cmd"
        try:
            cmd = parse_engine_cmd(cmd_text, source) if cmd_text else ()
        except ServeError as exc:
            self.fold(Notice(str(exc), "error"))
            return None
        return ServeSpec(kind, model, port=int(port_text), engine_cmd=cmd)

    def _default_served_engine(self, spec: ServeSpec, on_event: OnEvent) -> Engine:
        """`RemoteEngine` with the start-up guard of `serve`: the levels and auto-resume in
        force now, judged on the samples this app shows."""
        from console.engines.remote import RemoteEngine
        from console.engines.supervise import GuardOptions

        options = GuardOptions(dict(self.session.levels), self.session.auto_resume,
                               during_startup_only=True)
        return RemoteEngine(spec, on_event, telemetry=_ShownSample(self),
                            guard_options=options)

    def _load_served(self, kind: str, model: str) -> None:
        """L with a served engine selected: start its server for `model`."""
        spec = self.serve_spec(kind, model)
        if spec is None:
            return
        current = self.engine
        if (current is None or self.engine_kind != kind
                or getattr(current, "spec", None) != spec):
            if not self._switch_engine(kind):
                return
            self.engine = self.served_factory(spec, self._deliverer())
        elif current.alive:
            self.fold(Notice(f"L: the {kind} server already serves {model} (U stops it)"))
            return
        try:
            self.ensure_engine()
        except (RuntimeError, OSError, ValueError) as exc:  # a taken port, a missing program
            self.fold(Notice(f"Load: {exc}", "error"))
            return
        self.fold(LoadRequested(model))
        self.log_view.add_event(f"{kind} server starting: {model} on port {spec.port}")
        self.refresh_bindings()

    def _panels_gone(self) -> bool:
        """True once the app has begun to close and its panels are gone: a message a thread
        posted just before (an engine event, a pre-flight, a bundle, a fingerprint, a cause)
        has nothing left to show on, and the engines end with the app."""
        try:
            self.log_view  # noqa: B018
            self.model_panel  # noqa: B018
        except (NoMatches, ScreenStackError):
            return True
        return False

    def on_engine_message(self, message: EngineMessage) -> None:
        event = self._take_run(message)
        if self._panels_gone():
            return
        if isinstance(event, protocol.Exited) and not event.expected:
            # Read before the log diagnoses the death: its context carries the evidence.
            self.oom_kill_evidence = oomkill.evidence(self._oom_before, oomkill.counts())
            if event.signal == "SIGKILL":  # the kernel log names the process it OOM-killed
                from console.host import kernellog  # only now: nothing of it at startup

                self.kernel_oom = kernellog.kernel_oom(event.pid or self.session.pid)
                self.log_view.add_event(self.kernel_oom.note,
                                        "error" if self.kernel_oom.line else "info")
        self.log_view.handle_engine_message(event)
        if isinstance(event, protocol.Output):
            return
        self.fold(event)
        if self.fingerprint_job is not None:
            self.fingerprint_job.feed(event)
        match event:
            case protocol.Loaded():
                # issue 16: the processor's limits give the attached images' token counts
                self.fold(VisionRead(vision_limits_of(event.path)))
                if event.model in (DEMO_NAME, DEMO_VL_NAME) and self.check_result is None:
                    self.run_check(event.model)  # built by this load: check it now
                self._send_memory_report()
            case protocol.Unloaded():
                self.log_view.add_event(f"unload: {event.message}")
            case protocol.GcDone() | protocol.CacheEmptied():
                if self.session.result is not None:
                    self.log_view.add_event(self.session.result.text)
            case protocol.Error(error_type="ResumeRefused"):
                self.push_screen(ConfirmScreen(f"Resume refused: {event.message}\n\nResume "
                                               "anyway (force), although a resource is still at "
                                               "its pause level?"), self._resume_forced)
            case protocol.Error(error_type="WillNotFit"):
                self.notify(f"{event.message} (F loads anyway)", title="load refused",
                            severity="warning", timeout=10)
            case protocol.Exited():
                if not event.expected:
                    why = self.death_reason(event)
                    self.fold(Notice(f"the engine {why}; X restarts it", "error"))
                    self.notify(f"the engine {why}; X restarts it",
                                title="engine", severity="error", timeout=15)
                unwatch = getattr(self.sampler, "unwatch", None)
                if callable(unwatch) and event.pid:
                    unwatch(int(event.pid))
                self.refresh_bindings()
            case _:
                pass

    def death_reason(self, exited: protocol.Exited) -> str:
        """How the engine ended, explained only as far as the evidence goes: a SIGKILL is the
        OOM killer only when the kernel's counter rose or RAM / swap were near full."""
        if exited.signal != "SIGKILL":
            return f"ended ({exit_how(exited)})"
        if self.kernel_oom is not None and self.kernel_oom.line:
            return f"was killed by the kernel's OOM killer ({self.kernel_oom.line})"
        if self.oom_kill_evidence:
            return f"was killed by the kernel's OOM killer ({self.oom_kill_evidence})"
        host = self.sample.host if self.sample is not None else None
        ram = host.ram_used_fraction if host is not None else None
        swap = host.swap_used_fraction if host is not None else None
        # What the kernel log said, short: "kernel log not readable" or "no OOM kill of it".
        kernel = self.kernel_oom
        said = "" if kernel is None else (
            "; kernel log not readable" if kernel.note.startswith("kernel log not readable")
            else "; the kernel log names no OOM kill of it")
        if (ram is not None and ram >= 0.9) or (swap is not None and swap >= 0.8):
            return (f"was killed (SIGKILL) with host RAM {100 * (ram or 0):.0f}% used: "
                    f"likely the kernel's OOM killer{said}")
        return f"was killed by a signal from outside (SIGKILL){said}"

    def _diagnosis_context(self) -> Any:
        from console.core.diagnose import DiagnosisContext

        engine_pid = self.engine.pid if self.engine is not None else None
        kernel = self.kernel_oom
        return DiagnosisContext.from_sample(
            self.sample, engine_pid=engine_pid, oom_kill_evidence=self.oom_kill_evidence,
            kernel_oom_line=kernel.line if kernel is not None else None,
            kernel_log_note=kernel.note if kernel is not None else None)

    def _send(self, what: str, command: protocol.AnyCommand) -> bool:
        """Send one command to the running engine; say so when there is none."""
        if self.engine is None or not self.engine.alive:
            self.fold(Notice(f"{what}: the engine is not running"
                             + (" (X restarts it)" if self.engine_dead else
                                " (it starts on the first load)"), "warning"))
            return False
        try:
            self.engine.send(command)
        except EngineDead as exc:
            self.fold(Notice(f"{what}: {exc}", "error"))
            return False
        return True

    def default_device(self) -> str:
        """What the engine's torch can do: cuda:0 when it can use a GPU, else cpu (a CPU-only
        torch on a box with a driver loads on the CPU). Before the engine said so: auto (the
        engine decides by its torch) when NVML sees a GPU, else cpu."""
        return default_device(self.session, self.sample)

    # -- pre-flight ---------------------------------------------------------------------

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id in ("model-input", "device", "context", "batch"):
            event.stop()
            self.run_check(self.model_panel.model_name)

    def on_select_changed(self, event: Any) -> None:
        # Only a dtype the user changed re-runs the pre-flight (a Select also reports its
        # first value when it mounts).
        if (getattr(event.select, "id", None) == "dtype" and self.session.check is not None
                and self.model_panel.option("dtype") != self._checked_dtype):
            self.run_check(self.model_panel.model_name)

    def run_check(self, model: str) -> None:
        """Pre-flight `model` with the panel's options (read here, on the UI thread) in a
        thread worker; the result comes back as CheckDone."""
        if not model:
            return
        options = self._check_options()
        self._checked_dtype = options[0]
        self._check(model, *options)

    def _check_options(self) -> tuple[str, str | None, int | None, int]:
        """(dtype, device, context, batch) of the panel now: what a pre-flight is for."""
        panel = self.model_panel
        return (panel.option("dtype"), panel.option("device") or None,
                panel.int_option("context"), panel.int_option("batch") or 1)

    @work(thread=True, exclusive=True, group="check", exit_on_error=False)
    def _check(self, model: str, dtype: str, device: str | None, context: int | None,
               batch: int) -> None:
        """check.assess on `model` (headers only: fast, no torch); posts CheckDone."""
        self.post_message(CheckDone(model, None, f"pre-flight: checking {model}...", "unknown"))
        deadline = time.monotonic() + 5.0
        while self.sample is None and time.monotonic() < deadline:
            time.sleep(0.05)  # the pre-flight compares with the memory free now
        sample = self.sample if self.sample is not None else self.sampler.sample()
        try:
            from console.commands.check import assess, format_text, resolve_model
            from console.core.preflight import check_model_dir

            demos = {DEMO_NAME: (demo_dir, DEMO_LABEL),
                     DEMO_VL_NAME: (demo_vl_dir, DEMO_VL_LABEL)}  # issue 16: demo-vl
            if model in demos:
                model_dir = demos[model][0]()
                if not (model_dir / "config.json").is_file():
                    self.post_message(CheckDone(model, None, f"pre-flight: {demos[model][1]}; "
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
        self.post_message(CheckDone(model, result, format_text(result).rstrip(), verdict,
                                    (dtype, device, context, batch)))

    def on_check_done(self, message: CheckDone) -> None:
        if self._panels_gone():
            return
        if message.model not in (self.model_panel.model_name, self.session.model):
            return  # the user picked another model meanwhile
        self.fold(SessionCheckDone(Check(message.model, message.result, message.text,
                                         message.verdict, message.options)))

    # -- model actions ------------------------------------------------------------------

    def action_pick(self) -> None:
        rows: list[tuple[str, str]] = [("demo", "demo: random weights (built on first use)"),
                                       ("demo-vl", "demo-vl: random weights (glm4v with "
                                        "images; built on first use)")]
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
        if self.refused("load"):
            return
        panel = self.model_panel
        model = panel.model_name
        if not model:
            self.fold(Notice("Load: type a model (path, hub id or demo) or pick one (O)",
                             "warning"))
            return
        kind = panel.engine_kind
        if kind != "in-process":
            self._load_served(kind, model)
            return
        if self.engine_kind != "in-process" and not self._switch_engine("in-process"):
            return
        check = self.session.check
        if (not force and check is not None and check.model == model
                and check.verdict == "will_not_fit" and check.result is not None):
            reason = check.result.fit.reason if check.result.fit else "will not fit"
            self.fold(Notice(f"Load refused: will not fit: {reason}. F loads anyway (asks)",
                             "error"))
            self.log_view.add_event(f"load of {model} refused by the pre-flight: {reason}",
                                    "warning")
            return
        if check is None or check.model != model or check.options != self._check_options():
            self.run_check(model)
            check = None
        # Pre-flight once per load: the engine re-checks only the memory free now.
        preflight = check.wire() if check is not None else None
        command = protocol.new_command(
            protocol.Load, model=model, dtype=panel.option("dtype"),
            device=panel.option("device") or self.default_device(),
            attn_implementation=panel.option("attn") or None,
            trust_remote_code=panel.trust_for(model_key(model, self.config.hf_cache)) or None,
            loader=panel.option("loader") if panel.option("loader") != "auto" else None,
            guard=guard_settings(self.config, auto_resume=self.session.auto_resume,
                                 thresholds=self.session.levels),
            force=force or None, context=panel.int_option("context"),
            batch=panel.int_option("batch"), preflight=preflight)
        try:
            engine = self.ensure_engine()
            engine.send(command)
        except (EngineDead, OSError) as exc:
            self.fold(Notice(f"Load: {exc}", "error"))
            return
        self.fold(LoadRequested(model, forced=force))
        self.log_view.new_run()  # a new run: its hints are said once again
        self.log_view.add_event(f"load started: {model}" + (" (forced)" if force else ""))
        self.refresh_bindings()

    def action_load_anyway(self) -> None:
        if self.refused("load_anyway"):
            return
        model = self.model_panel.model_name
        check = self.session.check
        verdict = check.verdict if check is not None and check.model == model else None
        if verdict == "will_not_fit":
            question = (f"Load {model} although the estimate says it will not fit? The guard "
                        "still pauses it at its thresholds.")
        elif verdict == "broken":
            question = (f"Load {model} although the pre-flight found the checkpoint broken? "
                        "The load will likely fail.")
        elif verdict in ("fits", "tight"):
            how = "fits" if verdict == "fits" else "fits, tightly"
            question = (f"The estimate says {model} {how}"
                        "; L loads it as it is. Load it now without the engine's own fit "
                        "check?")
        else:
            question = (f"No estimate for {model} yet. Load it without the engine's fit "
                        "check? The guard still pauses it at its thresholds.")
        self.push_screen(ConfirmScreen(question),
                         lambda yes: self.action_load(force=True) if yes else None)

    def action_unload(self) -> None:
        if self.refused("unload"):
            return
        if self._send("Unload", protocol.new_command(protocol.Unload)):
            self.log_view.add_event("unload requested")

    def action_hard_unload(self) -> None:
        if self.refused("hard_unload"):
            return
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
            self.engine.kill()  # blocks up to the grace period: off the UI thread

    def _resume_forced(self, yes: bool | None) -> None:
        if yes:
            self._send("Resume", protocol.new_command(protocol.Resume, force=True))

    def action_command(self, name: str) -> None:
        """The key of an engine command (`KEY` on its protocol class): one line says why when
        it cannot act now, else the command is sent (its fields made now)."""
        if self.refused(name):
            return
        self._send(BY_ACTION[name].title, command_for(name))

    def action_restart_engine(self) -> None:
        if self.refused("restart_engine") or (self.engine is not None and self.engine.alive):
            return
        self.ensure_engine()
        self.fold(Notice("engine restarted"))
        self.refresh_bindings()

    def action_raise_pause(self) -> None:
        vram = self.session.levels["vram"]
        new_pause = min(100.0, vram.pause + RAISE_PAUSE_STEP)
        abort = vram.abort if vram.abort is None or vram.abort >= new_pause else new_pause
        # Shown at once; the engine's `guard` answer replaces it.
        self.fold(LevelsSet({"vram": Levels(warn=min(vram.warn, new_pause), pause=new_pause,
                                            abort=abort, resume=vram.resume)}))
        if self.engine is not None and self.engine.alive:  # a served one's start-up guard too
            self._send("Raise pause", protocol.new_command(
                protocol.SetThresholds, thresholds={"vram": {"pause": new_pause}}))
        self.log_view.add_event(f"guard: VRAM pause level raised to {new_pause:g}%")
        self.notify(f"VRAM pause level raised to {new_pause:g}% (- lowers it)", title="guard",
                    timeout=REFUSAL_S)

    def action_lower_pause(self) -> None:
        vram = self.session.levels["vram"]
        new_pause = max(LOWEST_PAUSE, vram.pause - RAISE_PAUSE_STEP)
        if new_pause == vram.pause:
            self.notify(f"VRAM pause level is at its lowest ({new_pause:g}%)", title="guard",
                        timeout=REFUSAL_S)
            return
        lowered = Levels(warn=min(vram.warn, new_pause - 1), pause=new_pause, abort=vram.abort,
                         resume=min(vram.resume, new_pause - 1))
        self.fold(LevelsSet({"vram": lowered}))
        if self.engine is not None and self.engine.alive:  # a served one's start-up guard too
            self._send("Lower pause", protocol.new_command(
                protocol.SetThresholds, thresholds={"vram": lowered.to_wire()}))
        self.log_view.add_event(f"guard: VRAM pause level lowered to {new_pause:g}%")
        self.notify(f"VRAM pause level lowered to {new_pause:g}% (+ raises it)", title="guard",
                    timeout=REFUSAL_S)

    def action_toggle_auto_resume(self) -> None:
        on = not self.session.auto_resume
        self.fold(AutoResumeSet(on))
        if self.engine is not None and self.engine.alive:  # a served one's start-up guard too
            self._send("Auto-resume", protocol.new_command(protocol.SetThresholds,
                                                           auto_resume=on))

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        button_id = event.button.id or ""
        if button_id.startswith("btn-"):
            event.stop()
            name = button_id.removeprefix("btn-")
            spec = BY_ACTION.get(name)
            await self.run_action(action_of(spec) if spec is not None else name)

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        if event.checkbox.id != "trust" or not event.value:
            return

        key = model_key(self.model_panel.model_name, self.config.hf_cache)

        def confirmed(yes: bool | None) -> None:
            if not yes:
                event.checkbox.value = False
            else:
                self.model_panel.grant_trust(key)  # for this exact model only
                self.log_view.add_event("trust_remote_code on for " + key.describe() + ": its "
                                        "own Python code will run in the engine", "warning")

        self.push_screen(ConfirmScreen("trust_remote_code runs the Python code shipped with "
                                       f"{key.describe()}, with your permissions. Only for a "
                                       "model whose code you trust. Changing the model turns "
                                       "it off. Turn it on?"), confirmed)

    # -- generation ---------------------------------------------------------------------

    def on_prompt_panel_submitted(self, message: PromptPanel.Submitted) -> None:
        if self.engine is None or not self.engine.alive or self.session.engine != "loaded":
            self.fold(Notice("Generate: load a model first (L)", "warning"))
            return
        if self._send("Generate", protocol.new_command(
                protocol.Generate, prompt=message.prompt,
                max_new_tokens=message.max_new_tokens, temperature=message.temperature,
                top_p=message.top_p, images=list(message.images) or None)):
            self.fold(GenerationStarted(images=message.images))

    def _poll_allocator(self) -> None:
        if (self.engine is not None and self.engine.alive and self.engine_kind == "in-process"
                and self.session.engine in ("loaded", "generating")):
            self._send_memory_report()

    @work(thread=True, group="allocator", exit_on_error=False)
    def _send_memory_report(self) -> None:
        engine = self.engine
        if engine is not None and self.engine_kind == "in-process":
            with contextlib.suppress(EngineDead):
                engine.send(protocol.new_command(protocol.MemoryReportCmd))

    # -- log, doctor, bundle ------------------------------------------------------------

    def on_log_view_cause_found(self, message: LogView.CauseFound) -> None:
        if self._panels_gone():
            return
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
        # Everything the bundle needs is read here, on the UI thread; the worker writes.
        self._write_bundle(self.doctor_report, self.sample, self.check_result,
                           list(self.log_view.errors),
                           self.engine.log_path if self.engine is not None else None)

    @work(thread=True, exclusive=True, group="bundle", exit_on_error=False)
    def _write_bundle(self, doctor_report: Any, sample: Sample | None, check_result: Any,
                      diagnosed_errors: list[Any], session_log_path: Path | None) -> None:
        from console.host.bundle import default_bundle_name, write_bundle

        try:
            path = write_bundle(
                Path.cwd() / default_bundle_name(), doctor_report=doctor_report,
                sample=sample, check_result=check_result,
                diagnosed_errors=diagnosed_errors, session_log_path=session_log_path,
                doctor_problem=None if doctor_report is not None
                else "the doctor has not run in this session (D runs it)")
        except Exception as exc:
            self.post_message(BundleWritten(None, f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(BundleWritten(str(path)))

    def on_bundle_written(self, message: BundleWritten) -> None:
        if self._panels_gone():
            return
        if message.path:
            self.notify(f"bundle written: {message.path}", title="bundle", timeout=10)
            self.log_view.add_event(f"bundle written: {message.path}")
        else:
            self.notify(f"bundle failed: {message.error}", severity="error", timeout=10)


    # -- the migration check: V records a fingerprint, C compares it (issue 18) ---------

    def action_fingerprint(self) -> None:
        """`V`: the engine runs the probe set on the loaded model while a thread hashes its
        files; the fingerprint goes to the data dir (console.commands.fingerprint)."""
        from console.commands.fingerprint import is_vision_class
        from console.core.probes import TOP_K

        if self.refused("fingerprint"):
            return
        loaded = self.session.loaded
        if self.engine_kind != "in-process" or loaded is None:
            self.notify(f"V records the in-process engine's model; for this {self.engine_kind} "
                        "server run `autoglm-console fingerprint MODEL --engine "
                        f"{self.engine_kind} --url URL`", title="not now",
                        severity="information", timeout=REFUSAL_S * 2)
            return
        if self.fingerprint_job is not None:
            self.notify("V: a fingerprint is being recorded already", title="not now",
                        severity="information", timeout=REFUSAL_S)
            return
        if self.engine is None:
            return
        try:
            reply_to = self.engine.send(protocol.new_command(
                protocol.Behaviour, top_k=TOP_K, vision=is_vision_class(loaded.model_class)))
        except EngineDead as exc:
            self.fold(Notice(f"Fingerprint: {exc}", "error"))
            return
        job = FingerprintJob(reply_to, loaded)
        self.fingerprint_job = job
        self.log_view.add_event(f"fingerprint: running the probe set on {loaded.label} and "
                                f"hashing {loaded.path}")
        self.notify(f"recording a fingerprint of {loaded.label}...", title="fingerprint",
                    timeout=5)
        self._record_fingerprint(job)

    @work(thread=True, exclusive=True, group="fingerprint", exit_on_error=False)
    def _record_fingerprint(self, job: FingerprintJob) -> None:
        from console.commands.fingerprint import (
            behaviour_sections,
            fingerprint_dir,
            model_section,
            new_fingerprint_path,
            write_document,
        )
        from console.core.termsafe import safe_line

        worker = get_current_worker()
        t0 = time.perf_counter()
        try:
            directory = fingerprint_dir()
            directory.mkdir(parents=True, exist_ok=True)
            model = model_section(Path(job.loaded.path), progress=lambda *_: None)
            model.update(label=job.loaded.label, model_type=job.loaded.model_type,
                         model_class=job.loaded.model_class)
            while not job.done.wait(0.2):
                if worker.is_cancelled:
                    return
            if job.behaviour is None:
                raise RuntimeError(job.problem or "the engine gave no probe results")
            env, behaviour = behaviour_sections(job.behaviour)
            path = new_fingerprint_path(directory, job.loaded.label, time.time())
            write_document(path, model, env, behaviour)
        except Exception as exc:  # one line for the user; the job is over either way
            why = str(exc) if isinstance(exc, (RuntimeError, OSError, ValueError)) \
                else f"{type(exc).__name__}: {exc}"
            self.post_message(FingerprintRecorded(None, safe_line(why)))
            return
        self.post_message(FingerprintRecorded(path, seconds=time.perf_counter() - t0))

    def on_fingerprint_recorded(self, message: FingerprintRecorded) -> None:
        if self._panels_gone():
            return
        self.fingerprint_job = None
        if message.path is None:
            self.log_view.add_event(f"fingerprint failed: {message.problem}", "error")
            self.notify(f"fingerprint failed: {message.problem}", title="fingerprint",
                        severity="error", timeout=10)
            return
        self.last_fingerprint = message.path
        took = f" in {message.seconds:.1f} s" if message.seconds is not None else ""
        self.log_view.add_event(f"fingerprint written to {message.path}{took} "
                                "(C compares it with a saved one)")
        self.notify(f"fingerprint written to {message.path} (C compares it with a saved one)",
                    title="fingerprint", timeout=10)

    def action_compare_fingerprint(self) -> None:
        """`C`: the fingerprint recorded here (B) against a saved one (A, the reference),
        chosen in a path prompt that offers the last recorded ones."""
        from console.commands.fingerprint import fingerprint_dir, recent_fingerprints
        from widgets.compare_screen import CompareScreen

        recorded = self.last_fingerprint
        if recorded is None or not recorded.is_file():
            self.notify("C: record a fingerprint of the loaded model first (V); C compares it "
                        "with a saved one", title="not now", severity="information",
                        timeout=REFUSAL_S)
            return

        def chosen(reference: str | None) -> None:
            if reference:
                self._compare_fingerprints(Path(reference), recorded)

        self.push_screen(CompareScreen(recorded, recent_fingerprints(fingerprint_dir())),
                         chosen)

    @work(thread=True, exclusive=True, group="compare", exit_on_error=False)
    def _compare_fingerprints(self, reference: Path, recorded: Path) -> None:
        from console.commands.compare import read_fingerprint
        from console.core.fingerprint import compare

        docs = []
        for file in (reference, recorded):
            doc, problem = read_fingerprint(str(file))
            if doc is None:
                self.post_message(VerdictReady(None, reference, recorded, problem))
                return
            docs.append(doc)
        self.post_message(VerdictReady(compare(docs[0], docs[1]), reference, recorded))

    def on_verdict_ready(self, message: VerdictReady) -> None:
        from console.core.termsafe import safe_line
        from widgets.verdict_card import VerdictCard

        if self._panels_gone():
            return
        if message.verdict is None:
            self.notify(safe_line(f"compare: {message.problem}"), title="compare",
                        severity="error", timeout=10)
            return
        verdict = message.verdict
        self.log_view.add_card(VerdictCard(verdict, message.reference, message.recorded))
        self.log_view.add_event(safe_line(f"migration check against {message.reference}: "
                                          f"{verdict.summary}"),
                                "info" if verdict.equivalent else "warning")
        self.action_show_tab("log")
        self.notify(safe_line(verdict.summary), title=f"migration: {verdict.verdict}",
                    severity="information" if verdict.equivalent else "warning", timeout=10)


class FingerprintJob:
    """The fingerprint V is recording: the engine's answer to its Behaviour command arrives
    on the UI thread (`feed`), the hashing thread waits for it (`done`)."""

    def __init__(self, reply_to: int, loaded: protocol.Loaded) -> None:
        self.reply_to = reply_to
        self.loaded = loaded
        self.done = threading.Event()
        self.behaviour: protocol.BehaviourDone | None = None
        self.problem: str | None = None

    def feed(self, event: protocol.AnyEvent) -> None:
        """An engine event: the probe results, or why they will not come."""
        if self.done.is_set():
            return
        if isinstance(event, protocol.BehaviourDone) and event.reply_to == self.reply_to:
            self.behaviour = event
        elif isinstance(event, protocol.Error) and event.reply_to == self.reply_to:
            text = event.message.strip().splitlines()
            self.problem = (text[-1] if text else event.error_type) + (
                f" ({event.hint})" if event.hint else "")
        elif isinstance(event, protocol.Exited):
            self.problem = "the engine ended before the probe set finished"
        else:
            return
        self.done.set()


def _default_engine(on_event: OnEvent,
                    log_rotation: tuple[int, float] = (50, 200.0)) -> Engine:
    from console.engines.local import LocalEngine

    return LocalEngine(on_event, use_queue=False, log_rotation=log_rotation)


class _ShownSample:
    """The sample the app shows now, as the `telemetry` of a served engine's watch: its
    start-up guard judges the same figures the screen shows (one sampler, no second NVML
    reader)."""

    def __init__(self, app: ConsoleApp) -> None:
        self._app = app

    def sample(self) -> Sample:
        sample = self._app.sample
        if sample is None:
            raise LookupError("no sample yet")
        return sample


def run_app(config: Config, model: str | None = None, *, sampler: Sampler | None = None,
            log_file: str | None = None) -> int:
    """Run the dashboard on the real telemetry (or `sampler`); return the exit code."""
    telemetry = None
    if sampler is None:
        from console.host.telemetry import Telemetry

        telemetry = Telemetry()
        sampler = telemetry
    app = ConsoleApp(config, sampler, initial_model=model, watch_terminal=True,
                     freeze_startup_objects=True, log_file=log_file,
                     prestart=config.prestart)
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
