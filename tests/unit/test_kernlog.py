"""Kernel log lines that report an OOM kill, in the forms several kernels and readers write
them (console/core/kernlog.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.core.kernlog import find_oom_kill, message_of, parse_line

PID = 4242

# (reader and kernel, the line as that reader prints it, kind, memcg, comm, anon-rss kB)
LINES = [
    ("dmesg, 5.x/6.x",
     "[ 5123.456789] Out of memory: Killed process 4242 (python) total-vm:12345678kB, "
     "anon-rss:7654321kB, file-rss:0kB, shmem-rss:0kB, UID:1000 pgtables:16000kB "
     "oom_score_adj:0", "killed", False, "python", 7654321),
    ("dmesg -T, 6.x",
     "[Sat Dec  5 02:00:00 2026] Out of memory: Killed process 4242 (python3.11) "
     "total-vm:9000000kB, anon-rss:8000000kB, file-rss:512kB, shmem-rss:0kB, UID:0 "
     "pgtables:15800kB oom_score_adj:0", "killed", False, "python3.11", 8000000),
    ("journalctl -k, 5.x memory cgroup (a container's limit)",
     "Dec 05 02:00:00 gpu-box kernel: Memory cgroup out of memory: Killed process 4242 "
     "(python) total-vm:4000000kB, anon-rss:3900000kB, file-rss:100kB, shmem-rss:0kB, UID:0 "
     "pgtables:7800kB oom_score_adj:0", "killed", True, "python", 3900000),
    ("/dev/kmsg, 4.19+ summary",
     "6,2741,5123456789,-;oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,"
     "mems_allowed=0,global_oom,task_memcg=/user.slice/user-1000.slice/session-3.scope,"
     "task=python,pid=4242,uid=1000", "oom-kill", False, "python", None),
    ("/dev/kmsg, 4.19+ summary in a memory cgroup",
     "6,2741,5123456789,-;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),"
     "cpuset=docker-abc.scope,mems_allowed=0,oom_memcg=/system.slice/docker-abc.scope,"
     "task_memcg=/system.slice/docker-abc.scope,task=python,pid=4242,uid=0",
     "oom-kill", True, "python", None),
    ("/dev/kmsg, the reaper",
     "6,2743,5123456800,-;oom_reaper: reaped process 4242 (python), now anon-rss:0kB, "
     "file-rss:0kB, shmem-rss:0kB", "reaped", False, "python", None),
    ("dmesg, 3.10/4.x first line",
     "[ 1234.567890] Out of memory: Kill process 4242 (python) score 951 or sacrifice child",
     "kill", False, "python", None),
    ("dmesg, 3.10/4.x second line",
     "[ 1234.568001] Killed process 4242 (python) total-vm:30123456kB, anon-rss:29876543kB, "
     "file-rss:1234kB, shmem-rss:0kB", "killed", False, "python", 29876543),
    ("/var/log/messages, 2.6.32",
     "Dec  5 02:00:00 gpu-box kernel: Killed process 4242, UID 1000, (python) "
     "total-vm:2000000kB, anon-rss:1900000kB, file-rss:4kB", "killed", False, "python", 1900000),
    ("rsyslog ISO time, 3.10 memory cgroup",
     "2026-12-05T02:00:00.123456+00:00 gpu-box kernel: [ 77.123456] Memory cgroup out of "
     "memory: Kill process 4242 (python) score 1000 or sacrifice child",
     "kill", True, "python", None),
]


@pytest.mark.parametrize(("line", "kind", "memcg", "comm", "anon_kb"),
                         [row[1:] for row in LINES], ids=[row[0] for row in LINES])
def test_each_form_names_the_pid(line: str, kind: str, memcg: bool, comm: str,
                                 anon_kb: int | None) -> None:
    found = parse_line(line)
    assert found is not None
    assert (found.pid, found.kind, found.memcg, found.process) == (PID, kind, memcg, comm)
    assert found.anon_rss_bytes == (anon_kb * 1024 if anon_kb is not None else None)
    # The quote is the kernel's message without the reader's prefix.
    assert found.evidence().startswith("kernel log: ")
    assert not found.message.startswith(("[", "6,", "Dec", "2026"))


@pytest.mark.parametrize("line", [
    "[ 5123.400000] python invoked oom-killer: gfp_mask=0x100cca(GFP_HIGHUSER_MOVABLE), "
    "order=0, oom_score_adj=0",
    "[ 5123.400100] Mem-Info:",
    "[ 5123.400200] [   4242]  1000  4242  3086419  1913580 16003072        0             0 "
    "python",
    "[ 5123.400300] memory: usage 4194304kB, limit 4194304kB, failcnt 120",
    "6,2742,5123456790,-;Tasks state (memory values in pages):",
    " SUBSYSTEM=memory",  # a /dev/kmsg continuation line
    "",
])
def test_other_oom_report_lines_name_no_kill(line: str) -> None:
    assert parse_line(line) is None


def test_message_of_cuts_each_prefix() -> None:
    assert message_of("4,99,123,-;hello") == "hello"
    assert message_of("[   12.000001] hello") == "hello"
    assert message_of("Dec 05 02:00:00 box kernel: hello") == "hello"
    assert message_of(" KEY=value") is None


def test_the_best_line_for_the_pid_wins() -> None:
    report = [
        "[ 1.0] Out of memory: Killed process 999 (other) total-vm:1kB, anon-rss:1kB",
        "6,1,2,-;oom-kill:constraint=CONSTRAINT_NONE,task=python,pid=4242,uid=0",
        "[ 2.0] Out of memory: Killed process 4242 (python) total-vm:9kB, anon-rss:8kB",
        "6,3,4,-;oom_reaper: reaped process 4242 (python), now anon-rss:0kB",
    ]
    found = find_oom_kill(report, PID)
    assert found is not None and found.kind == "killed" and "anon-rss:8kB" in found.message
    assert find_oom_kill(report, 1234) is None
    assert find_oom_kill([], PID) is None


def test_the_quote_is_terminal_safe_and_short() -> None:
    line = ("[ 1.0] Out of memory: Killed process 4242 (py\x1b[31mthon) total-vm:1kB, "
            "anon-rss:1kB, " + "x" * 500)
    found = parse_line(line)
    assert found is not None
    assert "\x1b" not in found.message and len(found.message) <= 220


# -- reading it (console/host/kernellog.py) and what the diagnosis makes of it ----------------

KMSG_RECORDS = (
    "6,2741,5123456789,-;oom-kill:constraint=CONSTRAINT_NONE,task=python,pid=4242,uid=0\n"
    "3,2742,5123456790,-;Out of memory: Killed process 4242 (python) total-vm:9kB, "
    "anon-rss:8kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:1kB oom_score_adj:0\n"
    " SUBSYSTEM=memory\n"
)


def test_the_reader_reads_kmsg_records_and_finds_the_line(tmp_path: Path) -> None:
    from console.host import kernellog

    kmsg = tmp_path / "kmsg"
    kmsg.write_text(KMSG_RECORDS)
    log = kernellog.read_kernel_log(kmsg, commands=())
    assert log.source == str(kmsg) and log.lines is not None and len(log.lines) == 3
    found = kernellog.kernel_oom(PID, log)
    assert found.line is not None and found.line.startswith(
        "kernel log: Out of memory: Killed process 4242 (python)")
    other = kernellog.kernel_oom(999, log)
    assert other.line is None and other.note == f"kernel log ({kmsg}): no OOM kill of PID 999"


def test_the_reader_falls_back_to_commands_then_says_why_it_could_not(tmp_path: Path) -> None:
    from console.host import kernellog

    printer = tmp_path / "fake-dmesg"
    printer.write_text("#!/bin/sh\nprintf '[ 2.0] Out of memory: Killed process 4242 (python) "
                       "total-vm:9kB, anon-rss:8kB\\n'\n")
    printer.chmod(0o755)
    missing = tmp_path / "no-kmsg"
    log = kernellog.read_kernel_log(missing, commands=[("dmesg", (str(printer),))])
    assert log.source == "dmesg" and log.problems[0].startswith(f"{missing}: ")
    assert kernellog.kernel_oom(PID, log).line is not None
    failing = [("dmesg", ("false",)), ("journalctl -k", (str(tmp_path / "not-installed"),))]
    none = kernellog.read_kernel_log(missing, commands=failing)
    assert none.lines is None
    note = kernellog.kernel_oom(PID, none).note
    assert note.startswith("kernel log not readable (")
    assert "dmesg: exit status 1" in note and "journalctl -k: not installed" in note


def test_this_machines_kernel_log_reads_or_says_why() -> None:
    """The real readers on this machine: lines, or a reason for each reader."""
    from console.host import kernellog

    log = kernellog.read_kernel_log()
    if log.lines is None:
        assert len(log.problems) == 1 + len(kernellog.KERNEL_LOG_COMMANDS)
    else:
        assert log.source in (str(kernellog.KMSG), "dmesg", "journalctl -k")
    assert kernellog.kernel_oom(None, log).line is None


def test_the_kernels_line_is_the_strongest_host_oom_evidence() -> None:
    from console.core.diagnose import DiagnosisContext, diagnose_text

    quote = "kernel log: Out of memory: Killed process 4242 (python) total-vm:9kB, anon-rss:8kB"
    # RAM at 5% when the console looked (the memory was freed by the kill itself).
    ctx = DiagnosisContext(exit_code=-9, exit_signal=9, ram_used_fraction=0.05,
                           swap_used_fraction=None, kernel_oom_line=quote)
    causes = diagnose_text("engine: loading /m\n", ctx)
    assert causes[0].id == "host_oom" and causes[0].confidence >= 0.97
    assert causes[0].evidence[0] == quote
    # Without it the same death is a signal from outside.
    outside = DiagnosisContext(exit_code=-9, exit_signal=9, ram_used_fraction=0.05,
                               kernel_log_note="kernel log not readable (/dev/kmsg: denied)")
    assert diagnose_text("engine: loading /m\n", outside) == []
