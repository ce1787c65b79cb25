"""An engine killed by SIGKILL: the kernel log's OOM-kill line naming its PID is the strongest
evidence of host_oom, quoted on the card; a kernel log that cannot be read is said so.

The kernel log is a real file in /dev/kmsg's record format, read by the real reader
(console/host/kernellog.read_kernel_log) in place of /dev/kmsg; the engine is the replaying
client (its PID is 4242), which dies by SIGKILL with RAM at 5%."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from console.host import kernellog
from tests.ui.conftest import wait_until
from tests.ui.test_engine_states import LOADING, line, progress
from tests.ui.test_one_screen import replay

KILLED = ("6,2741,5123456789,-;oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,"
          "mems_allowed=0,global_oom,task_memcg=/user.slice,task=python,pid=4242,uid=1000\n"
          "3,2742,5123456790,-;Out of memory: Killed process 4242 (python) "
          "total-vm:31457280kB, anon-rss:30408704kB, file-rss:0kB, shmem-rss:0kB, UID:1000 "
          "pgtables:60000kB oom_score_adj:0\n"
          " SUBSYSTEM=memory\n"
          "6,2743,5123456800,-;oom_reaper: reaped process 4242 (python), now anon-rss:0kB, "
          "file-rss:0kB, shmem-rss:0kB\n")
QUOTE = "kernel log: Out of memory: Killed process 4242 (python) total-vm:31457280kB"


@pytest.fixture
def kernel_log(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The kernel log the console reads: a file in /dev/kmsg's format; no dmesg/journalctl."""
    kmsg = tmp_path / "kmsg"
    monkeypatch.setattr(kernellog, "KMSG", kmsg)
    monkeypatch.setattr(kernellog, "KERNEL_LOG_COMMANDS", ())
    return kmsg


async def sigkilled(kernel_log: Path, *, card: bool = True
                    ) -> tuple[str, list[str], list[str]]:
    """Load, die by SIGKILL: (the result line, the cards' evidence and cause ids, their live
    facts, the cards' text and the log's lines)."""
    app, engines, _ = replay({"load": [LOADING, progress(1)]})
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("L")
        await wait_until(pilot, lambda: app.session.engine == "loading", "loading")
        app._oom_before = {"/proc/vmstat oom_kill": 0}  # the counter does not move
        engines[0].die()
        await wait_until(pilot, lambda: app.session.engine == "dead", "dead")
        if card:
            await wait_until(pilot, lambda: bool(app.log_view.errors), "the death's diagnosis")
        else:
            app.log_view.flush_diagnosis()
            await pilot.pause(0.3)
        records = app.log_view.errors
        evidence = [e for r in records for c in r.error.causes for e in c.evidence]
        facts = [f for r in records for f in r.facts]
        ids = [c.id for r in records for c in r.error.causes[:1]]
        cards = "\n".join(c.card_text() for c in app.log_view.cards)
        return line(app, "results"), evidence + ids, [*facts, *app.log_view.pane.visible_texts(),
                                                       cards]


async def test_the_kernels_oom_kill_line_makes_it_host_oom_and_is_quoted(
        kernel_log: Path) -> None:
    kernel_log.write_text(KILLED)
    result, evidence, facts = await sigkilled(kernel_log)
    assert "killed by the kernel's OOM killer (kernel log: Out of memory: Killed process 4242" \
        in result
    assert "host_oom" in evidence  # though RAM was at 5% when the card was made
    assert any(e.startswith(QUOTE) for e in evidence)
    assert QUOTE in facts[-1]  # the card's copied text quotes it


async def test_no_line_for_the_engine_stays_a_signal_from_outside(kernel_log: Path) -> None:
    # Another process's OOM kill (PID 999) says nothing about the engine.
    kernel_log.write_text(KILLED.replace("4242", "999"))
    result, evidence, lines = await sigkilled(kernel_log, card=False)
    assert "killed by a signal from outside (SIGKILL); the kernel log names no OOM kill" in result
    assert "host_oom" not in evidence
    assert f"kernel log ({kernel_log}): no OOM kill of PID 4242" in lines


async def test_an_unreadable_kernel_log_is_said_not_kept_silent(kernel_log: Path) -> None:
    # (root reads a file whatever its mode: a path that is not there is unreadable for all)
    kernellog.KMSG = kernel_log.parent / "no-kmsg"  # restored by the fixture's monkeypatch
    result, _, lines = await sigkilled(kernel_log, card=False)
    assert "killed by a signal from outside (SIGKILL); kernel log not readable" in result
    assert any(f.startswith("kernel log not readable (") and "no-kmsg" in f for f in lines)


async def test_an_unreadable_kernel_log_is_in_the_evidence_of_a_host_oom(
        kernel_log: Path) -> None:
    """RAM near full makes it host_oom without the log: its evidence says the log was not
    readable (the fact a reader looks for next)."""
    from tests.ui.fakes import cpu_only_sequence

    kernellog.KMSG = kernel_log.parent / "no-kmsg"
    full = [replace(s, host=replace(s.host, ram_available_bytes=(s.host.ram_total_bytes or 0)
                                    // 40)) for s in cpu_only_sequence()]
    app, engines, _ = replay({"load": [LOADING, progress(1)]}, samples=full)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("L")
        await wait_until(pilot, lambda: app.session.engine == "loading", "loading")
        app._oom_before = {}
        engines[0].die()
        await wait_until(pilot, lambda: bool(app.log_view.errors), "the death's diagnosis")
        top = app.log_view.errors[0].top
        assert top is not None and top.id == "host_oom"
        assert any(e.startswith("kernel log not readable (") for e in top.evidence)
