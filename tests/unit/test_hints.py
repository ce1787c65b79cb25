"""A hint is said once per run (console/core/hints.py)."""

from __future__ import annotations

from console.core.hints import HintLedger, contains_hint, drop_hint, fixes_once, with_hint

FIX = "the file is truncated or its header is wrong: download it again"


def test_with_hint_adds_the_hint_only_when_the_message_lacks_it() -> None:
    assert with_hint("PreflightFailed: bad", FIX) == f"PreflightFailed: bad — fix: {FIX}"
    said = f"tensor x - {FIX}"
    assert with_hint(said, FIX) == said
    # Normalized: case, white space and a trailing full stop do not make it new.
    assert with_hint(said, "The file is truncated or its  header is wrong: download it again.") \
        == said
    assert with_hint("message", "") == "message"


def test_drop_hint_takes_the_joint_with_it() -> None:
    text = f"a - {FIX}; b (fix: {FIX}) c — fix: {FIX}"
    assert drop_hint(text, FIX) == "a; b c"
    assert drop_hint(text, FIX, keep_first=True) == f"a - {FIX}; b c"
    assert drop_hint("nothing here", FIX) == "nothing here"
    assert contains_hint(text.upper(), FIX)


def test_fixes_once_says_each_fix_after_its_first_problem_with_a_count() -> None:
    lines = fixes_once([("tensor a", FIX), ("tensor b", FIX), ("config", "fix the config"),
                        ("tensor c", FIX), ("note", "")])
    assert lines == [f"tensor a - {FIX} (x3)", "tensor b", "config - fix the config",
                     "tensor c", "note"]


def test_the_ledger_shows_a_hint_once_per_run() -> None:
    ledger = HintLedger()
    assert ledger.once(f"x - {FIX}") == f"x - {FIX}"  # unknown hints are left alone
    ledger.learn([FIX])
    assert ledger.once(f"load failed: y — fix: {FIX}") == f"load failed: y — fix: {FIX}"
    assert ledger.once(f"PreflightFailed: y ({FIX})") == "PreflightFailed: y"
    assert ledger.once(f"z - {FIX}; w - {FIX}") == "z; w"
    assert ledger.count(FIX) == 4
    ledger.new_run()
    ledger.learn([FIX])
    assert ledger.once(f"again - {FIX}") == f"again - {FIX}"


def test_a_hint_shown_before_it_was_known_counts_as_shown() -> None:
    ledger = HintLedger()
    ledger.learn([FIX], already_shown_in=[f"stderr: y - {FIX}"])
    assert ledger.once(f"load failed: y — fix: {FIX}") == "load failed: y"
