"""Every key of the console, and which act now: pure, from the engine session and the focus.

`KEYS` is the one table of keys (`KeySpec` rows, console/core/keyspec.py): the app's own keys
declared here, and the keys of the engine commands that declare one on their protocol class
(`protocol.Gc.KEY`). The app makes its bindings and its command palette from it, the `?`
screen is `help_rows()`, grouped by where each key works. The engine strip and the footer show
`state_keys(...)` (the keys that apply in this state); the app asks `refusal(action, ...)`
before it acts and flashes the answer when a key cannot act here ("A: no load is running (A
acts on a load, from any tab)"). No textual, no torch.
"""

from __future__ import annotations

from dataclasses import replace

from console.core import protocol
from console.core.keyspec import KeySpec
from console.core.session import Session

# The `?` screen's groups, in this order: where the keys work.
HELP_HEADINGS = {
    "global": "global (every tab)",
    "engine": "engine (every tab)",
    "dashboard": "dashboard (tab 1)",
    "model": "model (tab 2)",
    "prompt": "prompt (after i)",
    "log": "log (tab 3; the log has the focus there)",
    "card": "cause card (Log tab, tab into the cards)",
}

_TABS = "switch tab / previous, next tab"
_UNLOADS = "unload / hard unload (ends the engine process; asks)"
_PAUSE_LEVEL = "raise / lower the VRAM pause level by 2 points"
_SORT = "sort the process table / reverse it"

# The app's own keys (their actions are methods of the app), before and after the engine
# commands' keys (`command_keys`): within a `?` group, rows are listed in this order.
_APP_KEYS_BEFORE: tuple[KeySpec, ...] = (
    KeySpec("1", "Dashboard tab", _TABS, "global", palette="GPUs, host, processes",
            action="show_tab('dashboard')", scope="app", help_keys="1 2 3 / [ ]"),
    KeySpec("2", "Model tab", _TABS, "global", palette="model, load, prompt",
            action="show_tab('model')", scope="app"),
    KeySpec("3", "Log tab", _TABS, "global", palette="the engine's log and cause cards",
            action="show_tab('log')", scope="app"),
    KeySpec("]", "Next tab", _TABS, "global", action="next_tab(1)", scope="app"),
    KeySpec("[", "Previous tab", _TABS, "global", action="next_tab(-1)", scope="app"),
    KeySpec("ctrl+p", "Command palette", "command palette: every action, by name", "global",
            scope="widget"),
    KeySpec("?", "Help", "this help", "global", palette="every key, by where it works",
            action="help", scope="app", show=True),
    KeySpec("q", "Quit", "quit (asks once while a model is loaded or loading)", "global",
            palette="quit (asks once with a model loaded)", action="request_quit",
            scope="app", show=True),
    KeySpec("D", "Doctor", "doctor", "global", palette="check the machine", action="doctor",
            scope="app"),
    KeySpec("B", "Diagnostic bundle", "diagnostic bundle", "global",
            palette="write a bundle to share", action="bundle", scope="app"),
    KeySpec("L", "Load", "load the selected model", palette="load the selected model",
            action="load", show=True),
    KeySpec("F", "Load anyway", "load although the estimate says it will not fit (asks)",
            palette="load although the estimate says it will not fit", action="load_anyway"),
    KeySpec("Enter", "Generate", "generate", "prompt", scope="widget"),
)
_APP_KEYS_AFTER: tuple[KeySpec, ...] = (
    KeySpec("U", "Unload", _UNLOADS, palette="free the model in the engine", needs="loaded",
            action="unload", show=True),
    KeySpec("H", "Hard unload", _UNLOADS, palette="end the engine process: every byte returns",
            action="hard_unload"),
    KeySpec("X", "Restart engine", "restart the engine (after it died)",
            palette="start a fresh engine after it died", action="restart_engine"),
    KeySpec("+", "Raise VRAM pause level", _PAUSE_LEVEL,
            palette="the guard pauses later (2 points)", action="raise_pause"),
    KeySpec("-", "Lower VRAM pause level", _PAUSE_LEVEL,
            palette="the guard pauses sooner (2 points)", action="lower_pause"),
    KeySpec("T", "Toggle auto-resume", "auto-resume on / off",
            palette="resume by itself once memory frees", action="toggle_auto_resume"),
    KeySpec("V", "Record a fingerprint",
            "record a fingerprint of the loaded model (migration check)",
            palette="how the loaded model behaves (migration check)", action="fingerprint"),
    KeySpec("C", "Compare fingerprints",
            "compare it with a saved one: the verdict card is in the Log tab",
            palette="compare the last fingerprint with a saved one",
            action="compare_fingerprint"),
    KeySpec("i", "Prompt", "jump into the prompt (Model tab)", palette="jump into the prompt",
            action="focus_prompt"),
    KeySpec("s", "Sort", _SORT, "dashboard", action="sort_processes", scope="dashboard",
            show=True),
    KeySpec("S", "Reverse sort", _SORT, "dashboard", action="reverse_sort", scope="dashboard"),
    KeySpec("z", "Zoom", "sparklines: live / the whole history", "dashboard",
            action="toggle_zoom", scope="dashboard", show=True),
    KeySpec("↑ ↓ pgup pgdn", "Move", "move in the process table or GPU list", "dashboard",
            scope="widget"),
    KeySpec("O", "Pick model", "pick a model from the HF cache", "model",
            palette="choose a model from the HF cache", action="pick", show=True),
    KeySpec("engine ▼", "Engine", "in-process, or serve: vllm, sglang, tf serve", "model",
            scope="widget"),
    KeySpec("W", "Pre-flight report", "show / fold the pre-flight report", "model",
            palette="show or fold the pre-flight report", action="toggle_preflight",
            scope="app"),
    KeySpec("tab / shift+tab", "Next field", "move between the fields", "model",
            scope="widget"),
    KeySpec("Esc", "Leave the text field", "leave the prompt (the letter keys act again)",
            "prompt", action="blur", scope="app"),
    KeySpec("l", "Level", "cycle the minimum level", "log", scope="widget"),
    KeySpec("/", "Filter", "filter by text (Esc clears)", "log", scope="widget"),
    KeySpec("End", "Follow", "follow the tail again", "log", scope="widget"),
    KeySpec("v, ↑↓, shift+↑↓", "Select", "select lines", "log", scope="widget"),
    KeySpec("y / c, Y", "Copy", "copy the selection (or the screen), Y with timestamps", "log",
            scope="widget"),
    KeySpec("n / N", "Next error", "next / previous error", "log", scope="widget"),
    KeySpec("f", "Follow a log file", "follow any log file here (from every tab)", "log",
            palette="follow a log file in the Log tab", action="open_log_file", scope="app"),
    KeySpec("w", "Whole log file", "page through the whole file followed (any size)", "log",
            palette="page through the whole log file followed (asks for one if none is)",
            action="page_log_file", scope="app"),
    KeySpec("Enter", "Expand", "expand / fold", "card", scope="widget"),
    KeySpec("c", "Copy card", "copy the card", "card", scope="widget"),
    KeySpec("g", "Show in log", "show the error in the log", "card", scope="widget"),
)


def command_keys() -> tuple[KeySpec, ...]:
    """The keys of the engine commands that declare one (`KEY` on the protocol class), in
    protocol order, each with its action: the command's NAME."""
    return tuple(replace(cls.KEY, action=name) for name, cls in protocol.COMMAND_TYPES.items()
                 if cls.KEY is not None)


# Every key of the console, once: the app's bindings, the palette and the `?` screen are made
# from this table, the refusals read it.
KEYS: tuple[KeySpec, ...] = (*_APP_KEYS_BEFORE, *command_keys(), *_APP_KEYS_AFTER)
BY_ACTION: dict[str, KeySpec] = {spec.action: spec for spec in KEYS if spec.action}
# The engine commands a key sends as they are: action -> protocol class.
KEYED_COMMANDS: dict[str, type[protocol.Command]] = {
    name: cls for name, cls in protocol.COMMAND_TYPES.items() if cls.KEY is not None}

# Engine actions: they work from any tab (not under a dialog) whenever they make sense.
ENGINE_ACTIONS = frozenset(spec.action for spec in KEYS if spec.scope == "engine")
DASHBOARD_ACTIONS = frozenset(spec.action for spec in KEYS if spec.scope == "dashboard")


def command_for(action: str) -> protocol.AnyCommand:
    """The command the key of `action` sends now (its `fields` made now: a send time, ...)."""
    cls = KEYED_COMMANDS[action]
    fields = BY_ACTION[action].fields
    return protocol.new_command(cls, **(fields() if fields is not None else {}))


def help_rows() -> list[tuple[str, str]]:
    """The `?` screen: (keys, what) grouped by where they work, a group's heading a row with
    an empty description; keys of one group that share a line are shown on one row."""
    rows: list[tuple[str, str]] = []
    for group, heading in HELP_HEADINGS.items():
        rows.append((heading, ""))
        lines: dict[str, list[KeySpec]] = {}
        for spec in KEYS:
            if spec.group == group:
                lines.setdefault(spec.help, []).append(spec)
        for what, specs in lines.items():
            rows.append((specs[0].help_keys or " / ".join(s.key for s in specs), what))
    return rows


def loading(session: Session) -> bool:
    return session.engine == "loading"


def state_keys(session: Session, *, in_prompt: bool = False) -> tuple[tuple[str, str], ...]:
    """The keys that apply now, most useful first: what the footer and the strip offer."""
    if in_prompt:
        if session.generation.running:
            return (("ctrl+s", "stop"), ("Esc", "leave"))
        # ctrl+o: attach an image to the prompt (issue 16; ctrl+r removes the last)
        return (("Enter", "generate"), ("ctrl+o", "image"), ("ctrl+s", "stop"),
                ("Esc", "leave"))
    state = session.engine
    if state == "starting":
        return (("?", "help"),)
    if state == "loading":
        if session.guard_mode == "paused":
            return (("R", "resume"), ("A", "abort"))
        return (("A", "abort"), ("P", "pause"))
    if state == "generating":
        return (("ctrl+s", "stop"), ("i", "prompt"))
    if state == "loaded":
        return (("i", "prompt"), ("U", "unload"), ("G", "gc"))
    if state == "unloading":
        return (("H", "hard unload"),)
    if state == "dead":
        return (("X", "restart"), ("L", "load"))
    return (("L", "load"), ("O", "pick"))


def refusal(action: str, session: Session, *, tab: str) -> str | None:
    """Why `action` cannot act now, in one line naming where (or when) it works; None: it can.
    The cases of single keys first, then what the key's row `needs`."""
    state = session.engine
    spec = BY_ACTION.get(action)
    key = spec.key if spec is not None else action
    if action in DASHBOARD_ACTIONS and tab != "dashboard":
        return f"{key} works on the Dashboard (1)"
    if action == "pause" and state == "loading" and session.guard_mode == "paused":
        return "P: the load is already paused (R resumes)"
    if action == "resume" and state == "loading" and session.guard_mode != "paused":
        return "R: no paused load (R resumes a load paused by you or the guard)"
    if action in ("load", "load_anyway") and session.load_pending:
        return (f"L: the load of {session.model} is already on its way"
                + (" (the engine is starting)" if state == "starting" else ""))
    if action in ("load", "load_anyway") and state in ("loading", "unloading", "generating"):
        return f"L: the engine is {state}; wait, or A aborts a load"
    if action == "hard_unload" and not session.alive:
        return "H: no engine process is running"
    if action == "restart_engine" and state != "dead":
        return ("X: the engine is running; X restarts it after it died" if session.alive
                else "X: the engine has not died; it starts with the first load (L)")
    if action == "fingerprint" and state != "loaded":
        return ("V: no model is loaded (V records how the loaded model behaves)"
                if state not in ("generating", "loading", "unloading")
                else f"V: the engine is {state}; V records a loaded model once it is idle")
    return _needs_refusal(spec, session) if spec is not None else None


def _needs_refusal(spec: KeySpec, session: Session) -> str | None:
    """Why the key of `spec` cannot act in this engine state (its `needs`); None: it can."""
    state, key = session.engine, spec.key
    if spec.needs == "loading" and state != "loading":
        return f"{key}: no load is running ({key} acts on a load, from any tab)"
    if spec.needs == "generating" and not session.generation.running:
        return f"{key}: nothing is generating ({key} acts on a generation)"
    if spec.needs == "loaded" and state not in ("loaded", "generating"):
        return f"{key}: no model is loaded"
    if spec.needs is not None and state in ("stopped", "dead", "starting"):
        return f"{key}: the engine is not running" + (
            " (X restarts it)" if state == "dead" else " (L starts it with a load)"
            if state == "stopped" else " yet (it is starting)")
    return None
