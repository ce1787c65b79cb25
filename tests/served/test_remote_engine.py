"""`RemoteEngine` against a real `transformers serve` (started once for this module): typed
events folded by the same `Session` the TUI renders: load, streamed generation with TTFT and
tok/s, unsupported commands, ping, and the stop with its memory proof; a server that dies at
start gives `Exited` with its last lines."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

from console.core import protocol
from console.core.protocol import AnyEvent
from console.core.serving import ServeSpec
from console.core.session import Session, apply
from console.engines.base import EngineDead
from console.engines.remote import RemoteEngine
from console.host import procs
from console.host.telemetry import RecordedNvml, Telemetry


@dataclass
class Folded:
    """Every typed event, and the Session folded from them (on the engine's threads)."""

    events: list[AnyEvent] = field(default_factory=list)
    session: Session = field(default_factory=Session)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, event: AnyEvent) -> None:
        with self.lock:
            self.events.append(event)
            self.session = apply(self.session, event)

    def of(self, cls: type[protocol.Event]) -> list[AnyEvent]:
        with self.lock:
            return [e for e in self.events if isinstance(e, cls)]

    def wait(self, what: Callable[[], bool], timeout: float, why: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if what():
                return
            time.sleep(0.05)
        tail = [e.NAME for e in self.events[-30:]]
        pytest.fail(f"{why}: not within {timeout:.0f} s; last events {tail}")


RECORDED_H100 = Path(__file__).parent.parent / "fixtures" / "nvml" / "h100_handmade.json"
RECORDED_PID = 4242  # the recording's one CUDA process
RECORDED_VRAM = 17034117120  # what it holds in the recording's last sample


@pytest.fixture(scope="module")
def remote(demo_dir: Path) -> Iterator[tuple[RemoteEngine, Folded]]:
    """The server, watched through the recorded H100's NVML answers (no GPU here): the
    recording's CUDA process is re-pointed at the server's leader once it runs, so NVML's
    per-process figures name a PID of the server's group, as on a GPU host."""
    folded = Folded()
    recording = json.loads(RECORDED_H100.read_text())
    telemetry = Telemetry(nvml=RecordedNvml(recording))
    spec = ServeSpec("transformers", str(demo_dir), port=procs.free_port(),
                     engine_cmd=(str(Path(sys.executable).parent / "transformers"), "serve"))
    engine = RemoteEngine(spec, folded, env={"HF_HUB_OFFLINE": "1"}, poll_s=0.5,
                          telemetry=telemetry)
    pid = engine.start()
    for answer in recording["calls"]["nvmlDeviceGetComputeRunningProcesses(gpu0)"]:
        for proc in answer["ok"]:
            if proc["pid"] == RECORDED_PID:
                proc["pid"] = pid
    folded.wait(lambda: folded.session.engine in ("loaded", "dead"), 180, "ready")
    yield engine, folded
    engine.kill()
    telemetry.close()


def test_start_folds_hello_loading_and_loaded(remote: tuple[RemoteEngine, Folded]) -> None:
    engine, folded = remote
    session = folded.session
    assert session.engine == "loaded", session.result
    assert session.hello is not None and session.hello.torch == "served:transformers"
    assert session.pid == engine.pid and engine.pid is not None
    states = [e.state for e in folded.of(protocol.State)]
    assert states[0] == "loading" and "loaded" in states
    loaded = folded.of(protocol.Loaded)
    assert len(loaded) == 1 and loaded[0].model_class == "transformers"
    assert loaded[0].load_s > 0
    assert session.result is not None and "loaded" in session.result.text
    outputs = [e.text for e in folded.of(protocol.Output)]
    assert outputs, "the server's log lines arrive as Output"
    assert all("\x1b" not in text for text in outputs)


def test_generate_streams_tokens_through_the_session(
        remote: tuple[RemoteEngine, Folded]) -> None:
    engine, folded = remote
    msg_id = engine.send(protocol.new_command(protocol.Generate, prompt="Hello there",
                                              max_new_tokens=8))
    folded.wait(lambda: any(e.reply_to == msg_id for e in folded.of(protocol.Generated)), 120,
                "generated")
    tokens = [e for e in folded.of(protocol.Token) if e.reply_to == msg_id]
    done = next(e for e in folded.of(protocol.Generated) if e.reply_to == msg_id)
    assert len(tokens) >= 1
    assert [t.index for t in tokens] == list(range(len(tokens)))
    assert done.ttft_s is not None and done.ttft_s > 0
    assert 1 <= done.tokens <= 8
    assert done.stopped in ("length", "eos")
    folded.wait(lambda: folded.session.engine == "loaded", 10, "back to loaded")
    generation = folded.session.generation
    assert generation.done == done and not generation.running
    assert generation.text == "".join(t.text for t in tokens) == done.text
    states = [e.state for e in folded.of(protocol.State) if e.reply_to == msg_id]
    assert states == ["generating", "loaded"]


def test_commands_a_server_cannot_do_answer_unsupported(
        remote: tuple[RemoteEngine, Folded]) -> None:
    engine, folded = remote
    gc_id = engine.send(protocol.new_command(protocol.Gc))
    load_id = engine.send(protocol.new_command(protocol.Load, model="/elsewhere/model"))
    folded.wait(lambda: len([e for e in folded.of(protocol.Error)
                             if e.reply_to in (gc_id, load_id)]) == 2, 5, "errors")
    errors = {e.reply_to: e for e in folded.of(protocol.Error)}
    assert errors[gc_id].error_type == "Unsupported" and "'gc'" in errors[gc_id].message
    assert errors[load_id].error_type == "Unsupported"
    assert "/elsewhere/model" in errors[load_id].message
    assert folded.session.result is not None and folded.session.result.level == "error"
    assert engine.alive


def test_ping_answers_pong_with_the_state(remote: tuple[RemoteEngine, Folded]) -> None:
    engine, folded = remote
    ping_id = engine.send(protocol.new_command(protocol.Ping, sent_ts=time.time()))
    folded.wait(lambda: any(e.reply_to == ping_id for e in folded.of(protocol.Pong)), 5, "pong")
    pong = next(e for e in folded.of(protocol.Pong) if e.reply_to == ping_id)
    assert pong.state == "loaded" and pong.sent_ts is not None


def test_unload_stops_the_server_and_proves_the_memory_returned(
        remote: tuple[RemoteEngine, Folded]) -> None:
    engine, folded = remote
    pid = engine.pid
    assert pid is not None
    members = [pid, *(c.pid for c in psutil.Process(pid).children(recursive=True))]
    # NVML's per-process figures (recorded) name the server's leader: the group's VRAM
    assert engine.server is not None
    watch = engine.server.watch
    folded.wait(lambda: watch.last_memory is not None
                and watch.last_memory.vram_bytes == RECORDED_VRAM, 10, "the group's VRAM")
    msg_id = engine.send(protocol.new_command(protocol.Unload))
    folded.wait(lambda: bool(folded.of(protocol.Exited)), 60, "exited")
    folded.wait(lambda: bool(folded.of(protocol.Unloaded)), 10, "unloaded")
    unloaded = folded.of(protocol.Unloaded)[0]
    assert unloaded.reply_to == msg_id
    # RSS (psutil) and VRAM (NVML) before, and none of either after: every process is gone
    assert unloaded.freed_bytes > RECORDED_VRAM + 50 * 2**20 and unloaded.held_bytes == 0
    assert unloaded.message.endswith(" RSS and 15.9 GiB VRAM, now 0 B and 0 B")
    exited = folded.of(protocol.Exited)[0]
    assert exited.expected and exited.pid == pid
    assert [p for p in members if procs._alive(p)] == []
    proof = [e.message for e in folded.of(protocol.Log) if "server stopped" in e.message]
    assert proof and "0 process(es) left" in proof[0] and "SIGINT" in proof[0]
    assert "VRAM 15.9 GiB -> 0 B" in proof[0]
    assert folded.session.engine == "stopped" and not engine.alive
    with pytest.raises(EngineDead):
        engine.send(protocol.new_command(protocol.Gc))


def test_a_server_that_dies_at_start_ends_unexpected_with_its_lines(tmp_path: Path) -> None:
    folded = Folded()
    script = "import sys; print('cannot open the model: boom', flush=True); sys.exit(3)"
    spec = ServeSpec("transformers", str(tmp_path), port=procs.free_port(),
                     engine_cmd=(sys.executable, "-c", script))
    engine = RemoteEngine(spec, folded, poll_s=0.2)
    engine.start()
    folded.wait(lambda: bool(folded.of(protocol.Exited)), 30, "exited")
    exited = folded.of(protocol.Exited)[0]
    assert not exited.expected and exited.returncode == 3
    assert any("boom" in line for line in exited.last_lines)
    assert folded.session.engine == "dead"
    assert folded.session.result is not None and "exit code 3" in folded.session.result.text
    assert not folded.of(protocol.Loaded)
