"""Which keys act now, and why one does not: pure, from the engine session and where the focus is.

The engine strip and the footer show `state_keys(...)` (the keys that apply in this state);
the app asks `refusal(action, ...)` before it acts and flashes the answer when a key cannot
act here ("A: no load is running; A aborts a load (any tab)"). `HELP_GROUPS` is the `?` screen,
grouped by where each key works. No textual, no torch.
"""

from __future__ import annotations

from console.core.session import Session

# Engine actions: they work from any tab (not under a dialog) whenever they make sense.
ENGINE_ACTIONS = frozenset({
    "load", "load_anyway", "unload", "hard_unload", "abort", "pause", "resume", "gc",
    "empty_cache", "memory_report", "restart_engine", "pick", "raise_pause", "lower_pause",
    "toggle_auto_resume", "stop_generation", "ping", "focus_prompt", "fingerprint",
    "compare_fingerprint",
})
DASHBOARD_ACTIONS = frozenset({"sort_processes", "reverse_sort", "toggle_zoom"})

# (key, what) groups for the `?` screen: the heading says where the keys work.
HELP_GROUPS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("global (every tab)", (
        ("1 2 3 / [ ]", "switch tab / previous, next tab"),
        ("ctrl+p", "command palette: every action, by name"),
        ("?", "this help"),
        ("q", "quit (asks once while a model is loaded or loading)"),
        ("D", "doctor"),
        ("B", "diagnostic bundle"),
    )),
    ("engine (every tab)", (
        ("L", "load the selected model"),
        ("F", "load although the estimate says it will not fit (asks)"),
        ("A / P / R", "abort / pause / resume a running load"),
        ("U / H", "unload / hard unload (ends the engine process; asks)"),
        ("G / E / M", "gc / empty the CUDA cache / memory report (engine running)"),
        ("X", "restart the engine (after it died)"),
        ("+ / -", "raise / lower the VRAM pause level by 2 points"),
        ("T", "auto-resume on / off"),
        ("I", "ping the engine"),
        ("V", "record a fingerprint of the loaded model (migration check)"),
        ("C", "compare it with a saved one: the verdict card is in the Log tab"),
        ("i", "jump into the prompt (Model tab)"),
    )),
    ("dashboard (tab 1)", (
        ("s / S", "sort the process table / reverse it"),
        ("z", "sparklines: live / the whole history"),
        ("↑ ↓ pgup pgdn", "move in the process table or GPU list"),
    )),
    ("model (tab 2)", (
        ("O", "pick a model from the HF cache"),
        ("engine ▼", "in-process, or serve: vllm, sglang, tf serve"),
        ("W", "show / fold the pre-flight report"),
        ("tab / shift+tab", "move between the fields"),
    )),
    ("prompt (after i)", (
        ("Enter", "generate"),
        ("ctrl+s", "stop the generation"),
        ("Esc", "leave the prompt (the letter keys act again)"),
    )),
    ("log (tab 3; the log has the focus there)", (
        ("l", "cycle the minimum level"),
        ("/", "filter by text (Esc clears)"),
        ("End", "follow the tail again"),
        ("v, ↑↓, shift+↑↓", "select lines"),
        ("y / c, Y", "copy the selection (or the screen), Y with timestamps"),
        ("n / N", "next / previous error"),
    )),
    ("cause card (Log tab, tab into the cards)", (
        ("Enter", "expand / fold"),
        ("c", "copy the card"),
        ("g", "show the error in the log"),
    )),
)


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
    """Why `action` cannot act now, in one line naming where (or when) it works; None: it can."""
    state = session.engine
    if action in DASHBOARD_ACTIONS and tab != "dashboard":
        key = {"sort_processes": "s", "reverse_sort": "S", "toggle_zoom": "z"}[action]
        return f"{key} works on the Dashboard (1)"
    if action in ("abort", "pause") and state != "loading":
        key = "A" if action == "abort" else "P"
        return f"{key}: no load is running ({key} {action}s a load, from any tab)"
    if action == "pause" and session.guard_mode == "paused":
        return "P: the load is already paused (R resumes)"
    if action == "resume" and not (state == "loading" and session.guard_mode == "paused"):
        return "R: no paused load (R resumes a load paused by you or the guard)"
    if action in ("load", "load_anyway") and session.load_pending:
        return (f"L: the load of {session.model} is already on its way"
                + (" (the engine is starting)" if state == "starting" else ""))
    if action in ("load", "load_anyway") and state in ("loading", "unloading", "generating"):
        return f"L: the engine is {state}; wait, or A aborts a load"
    if action == "unload" and state not in ("loaded", "generating"):
        return "U: no model is loaded"
    if action == "hard_unload" and not session.alive:
        return "H: no engine process is running"
    if action in ("gc", "empty_cache", "memory_report", "ping") and state in (
            "stopped", "dead", "starting"):
        key = {"gc": "G", "empty_cache": "E", "memory_report": "M", "ping": "I"}[action]
        return f"{key}: the engine is not running" + (
            " (X restarts it)" if state == "dead" else " (L starts it with a load)"
            if state == "stopped" else " yet (it is starting)")
    if action == "restart_engine" and state != "dead":
        return ("X: the engine is running; X restarts it after it died" if session.alive
                else "X: the engine has not died; it starts with the first load (L)")
    if action == "fingerprint" and state != "loaded":
        return ("V: no model is loaded (V records how the loaded model behaves)"
                if state not in ("generating", "loading", "unloading")
                else f"V: the engine is {state}; V records a loaded model once it is idle")
    if action == "stop_generation" and not session.generation.running:
        return "ctrl+s: nothing is generating (it stops a generation)"
    return None
