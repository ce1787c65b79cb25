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
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import ClassVar, Protocol

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container
from textual.reactive import reactive
from textual.widgets import ContentSwitcher, Footer, Static
from textual.worker import get_current_worker

from console.config import Config
from console.sample import History, Sample
from widgets.dashboard import Dashboard
from widgets.help_screen import HelpScreen
from widgets.messages import SampleReady, SamplerFailed
from widgets.status_bar import PROBLEM_STATES, StatusBar
from widgets.tab_strip import TabStrip

# How long run_app waits for the sampler thread after the UI has gone (a driver call that
# never returns must not keep the process alive).
SAMPLER_JOIN_S = 2.0
# After the terminal went away the process exits within this, whatever Textual's shutdown does
# (it writes to the terminal, and a dead one can make it hang).
TERMINAL_GONE_EXIT_S = 5.0
# A sample is overdue after this many intervals (at least STALE_MIN_S): the status line says so.
STALE_INTERVALS = 3
STALE_MIN_S = 3.0

MODEL_PLACEHOLDER = (
    "Model panel (arrives with the model engine):\n"
    "  pick a model (a local directory, a hub id from the HF cache, or 'demo'),\n"
    "  load / unload / hard unload / GC / empty_cache, with load progress,\n"
    "  then a prompt with streaming output, time to first token and tokens/s.\n\n"
    "Selected model: {model}"
)
LOG_PLACEHOLDER = (
    "Log pane (arrives with the diagnosis):\n"
    "  everything the engine prints, timestamped, filterable,\n"
    "  with a root-cause card beside each error."
)

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
    ) -> None:
        """`watch_terminal`: exit on SIGHUP/SIGTERM and when the terminal or parent goes away
        (run_app turns it on; tests running headless leave it off). `cursor_blink`: False for
        snapshots; text inputs (the prompt, filters) take it from `app.cursor_blink`."""
        super().__init__()
        self.config = config
        self.sampler = sampler
        self.clock = clock
        self.hostname = socket.gethostname() if hostname is None else hostname
        self.initial_model = initial_model
        self.watch_terminal = watch_terminal
        self.cursor_blink = cursor_blink
        self.history = History.for_interval(config.interval_s, config.history_s)
        self.samples_received = 0  # samples shown (repeats are dropped)
        self.sampler_running = threading.Event()  # set while the sampler thread loops
        self._notified_problem: tuple[str, str] | None = None
        self._parent_pid = os.getppid()
        self._signals: list[signal.Signals] = []
        self._leaving = False
        self._sigcont_replaced = False

    # -- layout -------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        """Status line, tab strip, one container per tab (`#dashboard`, `#model`, `#log`:
        the engine and diagnosis widgets mount into theirs), footer."""
        yield StatusBar(self.TITLE, self.hostname, id="status")
        yield TabStrip(TABS, id="tab-strip")
        with ContentSwitcher(id="tabs", initial="dashboard"):
            with Container(id="dashboard"):
                yield Dashboard(self.config.thresholds, id="dash")
            with Container(id="model"):
                yield Static(MODEL_PLACEHOLDER.format(model=self.initial_model or "none"),
                             classes="placeholder", id="model-placeholder")
            with Container(id="log"):
                yield Static(LOG_PLACEHOLDER, classes="placeholder", id="log-placeholder")
        yield Footer()

    def on_mount(self) -> None:
        for text_input in self.query("Input, TextArea"):
            text_input.cursor_blink = self.cursor_blink  # type: ignore[attr-defined]
        if self.watch_terminal:
            self._install_signal_handlers()
        self.set_interval(max(1.0, self.config.interval_s), self._housekeeping)
        # Start sampling after the first refresh: the first frame never waits for NVML's
        # initialisation (the panels say "waiting for the first sample" until it comes).
        self.call_after_refresh(self.run_sampler)

    def on_unmount(self) -> None:
        self.workers.cancel_group(self, "sampler")
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

    def _show_status(self) -> None:
        self.query_one(StatusBar).show(self.sample, self.config.interval_s, self.stale_for_s())

    def _show_dashboard(self) -> None:
        if self.sample is not None:
            window = self.history.maxlen if self.zoomed else None
            self.query_one(Dashboard).show(self.sample, self.history, window)

    def watch_zoomed(self) -> None:
        self._show_dashboard()

    def watch_active_tab(self, tab: str) -> None:
        self.query_one("#tabs", ContentSwitcher).current = tab
        self.query_one(TabStrip).active = tab
        self.refresh_bindings()
        if tab == "dashboard":
            self._show_dashboard()  # it skipped samples while hidden

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
        return True

    def action_show_tab(self, tab: str) -> None:
        self.active_tab = tab

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
        return [*rows, *BUILTIN_KEYS]


def run_app(config: Config, model: str | None = None, *, sampler: Sampler | None = None) -> int:
    """Run the dashboard on the real telemetry (or `sampler`); return the exit code."""
    telemetry = None
    if sampler is None:
        from console.telemetry import Telemetry

        telemetry = Telemetry()
        sampler = telemetry
    app = ConsoleApp(config, sampler, initial_model=model, watch_terminal=True)
    # Our own loop, not asyncio.run: asyncio.run waits for every executor thread, and a
    # sampler stuck in a driver call would then keep the process alive forever.
    loop = asyncio.new_event_loop()
    try:
        app.run(loop=loop)
    finally:
        code = app.return_code if app.return_code is not None else 1
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
