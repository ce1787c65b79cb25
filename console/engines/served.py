"""A served engine: vLLM, SGLang or `transformers serve` started and supervised by the console.

The process side is a `ProcessWatch` (logs diagnosed live, tree memory, guard by SIGSTOP/SIGCONT
during start-up, memory-growth warning while serving); on top of it this module adds the
start-up timeline, readiness (`/health` OK, then one real chat request answered), the OpenAI
API (streaming chat with TTFT and tok/s) and `/metrics` polling. The stdlib's `urllib` talks
HTTP, so the app side needs no HTTP client package.

Events (JSON-ready dicts, see supervise.py) add: "phase" (timeline), "stalled", "ready"
(with "url"), "metrics", "chat".
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from console.core import serving
from console.core.serving import ServerMetrics, ServeSpec, Timeline
from console.engines.supervise import Event, GuardOptions, OnEvent, ProcessWatch
from console.host import procs

HEALTH_PATH = "/health"
METRICS_ENGINES = ("vllm", "sglang")


class ServedError(RuntimeError):
    """The server failed to start, answer or stop (one line)."""


@dataclass(frozen=True, slots=True)
class ChatResult:
    text: str
    ttft_s: float | None
    total_s: float
    completion_tokens: int
    tokens_per_s: float | None
    prompt_tokens: int | None = None  # from the server's usage, when it reports it

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "text": serving.clean_line(self.text, 2000),
            "ttft_s": None if self.ttft_s is None else round(self.ttft_s, 4),
            "total_s": round(self.total_s, 4),
            "completion_tokens": self.completion_tokens,
            "tokens_per_s": None if self.tokens_per_s is None else round(self.tokens_per_s, 2),
            "prompt_tokens": self.prompt_tokens,
        }


def http_get(url: str, timeout: float = 2.0) -> tuple[int, str]:
    """(status, body) of a GET; status 0 with the reason when nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return int(resp.status), resp.read().decode("utf-8", errors="replace")
    except urllib.error.HTTPError as exc:
        return int(exc.code), ""
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        return 0, str(getattr(exc, "reason", exc))


def chat(
    base_url: str,
    model: str,
    messages: Sequence[Mapping[str, Any]],
    *,
    max_tokens: int = 16,
    timeout: float = 120.0,
    temperature: float = 0.0,
    on_text: Callable[[str, int], None] | None = None,
) -> ChatResult:
    """One streaming `/v1/chat/completions` request: the text, time to first token and tok/s
    (completion tokens from the server's usage when it reports them, else one per chunk).
    `messages` are OpenAI messages as they are (text, or content parts with images);
    `on_text(text, index)` is called for each token chunk as it arrives."""
    body = json.dumps(
        {
            "model": model,
            "messages": list(messages),
            "max_tokens": max_tokens,
            "stream": True,
            "temperature": temperature,
            "stream_options": {"include_usage": True},
        }
    ).encode()
    req = urllib.request.Request(
        base_url + "/v1/chat/completions", data=body, headers={"Content-Type": "application/json"}
    )
    t0 = time.perf_counter()
    ttft: float | None = None
    parts: list[str] = []
    chunks = 0
    usage_tokens: int | None = None
    prompt_tokens: int | None = None
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            lines = (raw.decode("utf-8", errors="replace") for raw in resp)
            for chunk in serving.sse_deltas(lines):
                usage = chunk.get("usage")
                if isinstance(usage, dict) and isinstance(usage.get("completion_tokens"), int):
                    usage_tokens = usage["completion_tokens"]
                if isinstance(usage, dict) and isinstance(usage.get("prompt_tokens"), int):
                    prompt_tokens = usage["prompt_tokens"]
                for choice in chunk.get("choices") or []:
                    delta = (choice or {}).get("delta") or {}
                    content = delta.get("content")
                    # a token chunk: content present (a token may decode to "" on its own,
                    # e.g. part of a multi-byte character); the opening role chunk is not one
                    if content is None or ("role" in delta and content == ""):
                        continue
                    if ttft is None:
                        ttft = time.perf_counter() - t0
                    parts.append(str(content))
                    if on_text is not None:
                        on_text(str(content), chunks)
                    chunks += 1
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", errors="replace")[:300]
        raise ServedError(
            f"chat request: HTTP {exc.code}: {serving.clean_line(detail, 300)}"
        ) from None
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise ServedError(f"chat request to {base_url}: {getattr(exc, 'reason', exc)}") from None
    total = time.perf_counter() - t0
    tokens = usage_tokens if usage_tokens is not None else chunks
    decode_s = total - (ttft or 0.0)
    rate = (tokens - 1) / decode_s if tokens > 1 and decode_s > 0 else None
    return ChatResult("".join(parts), ttft, total, tokens, rate, prompt_tokens)


def fetch_metrics(base_url: str, engine: str, timeout: float = 2.0) -> ServerMetrics | None:
    status, body = http_get(base_url + "/metrics", timeout)
    if status != 200:
        return None
    try:
        return serving.parse_metrics(body, engine)
    except serving.MetricsError:
        return None


class ServedEngine:
    """Start, watch and stop one server. `on_event` gets every event (from worker threads)."""

    def __init__(
        self,
        spec: ServeSpec,
        on_event: OnEvent,
        *,
        env: Mapping[str, str] | None = None,
        telemetry: Any | None = None,
        guard_options: GuardOptions | None = None,
        stall_s: float = 300.0,
        poll_s: float = 1.0,
        metrics_s: float = 2.0,
        ready_prompt: str = "hello",
        watch_metrics: bool = True,
        on_abort: Callable[[], None] | None = None,
    ) -> None:
        self.spec = spec
        self.argv = serving.build_command(spec)
        self.url = spec.base_url
        self.model_name = serving.served_model_name(spec)
        self._on_event = on_event
        self.timeline = Timeline(spec.engine)
        self._stall_s = stall_s
        self._poll_s = poll_s
        self._metrics_s = metrics_s
        self._ready_prompt = ready_prompt
        self._watch_metrics = watch_metrics and spec.engine in METRICS_ENGINES
        self._stalled_flagged: str | None = None
        self.shm_before = procs.shm_snapshot()
        self.ready_event = threading.Event()
        self.failed: str | None = None
        self.metrics: ServerMetrics | None = None
        self.ready_s: float | None = None
        self._closing = threading.Event()
        self._watching = True
        self.watch = ProcessWatch(
            self.argv,
            self._event,
            env=env,
            sample_s=poll_s,
            telemetry=telemetry,
            guard_options=guard_options,
            on_line=self._line,
            growth=procs.GrowthWatch(),
            on_abort=on_abort,
        )

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        owner = procs.port_owner(self.spec.port, "127.0.0.1")
        if owner is not None:
            raise ServedError(owner.line(self.spec.port))
        self.watch.start()
        threading.Thread(target=self._ready_loop, name="served-ready", daemon=True).start()

    def wait_ready(self, timeout: float) -> bool:
        self.ready_event.wait(timeout)
        return self.ready_event.is_set() and self.failed is None

    def chat(self, prompt: str, max_tokens: int = 16) -> ChatResult:
        result = chat(
            self.url, self.model_name, [{"role": "user", "content": prompt}], max_tokens=max_tokens
        )
        self._event({"event": "chat", **result.to_json_dict()})
        return result

    def set_watching(self, on: bool) -> None:
        """Turn the console's polling (memory samples, /metrics) on or off while serving."""
        self.watch.watching = on
        self._watching = on

    def pause(self) -> None:
        self.watch.pause()

    def resume(self, *, force: bool = False) -> str | None:
        """SIGCONT; None when resumed, else why not (still at a pause level, see
        ProcessWatch.resume)."""
        return self.watch.resume(force=force)

    def abort(self) -> None:
        self.watch.abort()

    def stop(self, **waits: float) -> procs.StopReport:
        self._closing.set()
        report = self.watch.stop(**waits)
        left = procs.shm_leftovers(self.shm_before, seen=self.watch.shm_seen)
        self._event(
            {
                "event": "shm",
                "leftovers": [{"path": str(f.path), "size_bytes": f.size_bytes} for f in left],
            }
        )
        self.watch.close()
        return report

    # -- internals -------------------------------------------------------------------------

    def _event(self, event: Event) -> None:
        event.setdefault("t_s", round(self.watch.t_s(), 3) if hasattr(self, "watch") else 0.0)
        self._on_event(event)

    def _line(self, line: str, t_s: float) -> None:
        mem = self.watch.last_memory
        mark = self.timeline.feed(
            line,
            t_s,
            rss_bytes=mem.rss_bytes if mem else None,
            vram_bytes=mem.vram_bytes if mem else None,
        )
        if mark is not None:
            self._event({"event": "phase", **mark.to_json_dict()})

    def _ready_loop(self) -> None:
        last_metrics = 0.0
        prev: tuple[float, ServerMetrics] | None = None
        while not self._closing.is_set():
            if not self.watch.running and not self.ready_event.is_set():
                self.failed = "the server exited before it was ready"
                self.ready_event.set()
                return
            if not self.ready_event.is_set():
                stalled = self.timeline.stalled(self.watch.t_s(), self._stall_s)
                if stalled and stalled.split(" for")[0] != self._stalled_flagged:
                    self._stalled_flagged = stalled.split(" for")[0]
                    self._event({"event": "stalled", "phase": self.timeline.phase, "why": stalled})
                if self.watch.group is not None and self.watch.group.paused:
                    time.sleep(self._poll_s)
                    continue
                status, _ = http_get(self.url + HEALTH_PATH, timeout=2.0)
                if status == 200:
                    try:
                        result = chat(
                            self.url,
                            self.model_name,
                            [{"role": "user", "content": self._ready_prompt}],
                            max_tokens=4,
                        )
                    except ServedError as exc:
                        self._event({"event": "warning", "what": "first_request", "why": str(exc)})
                    else:
                        self.ready_s = self.watch.t_s()
                        self.watch.ready = True
                        if not self.timeline.seen("server_up"):
                            self.timeline.feed("Uvicorn running on (health OK)", self.ready_s)
                        self._event(
                            {
                                "event": "ready",
                                "url": self.url,
                                "model": self.model_name,
                                "ready_s": round(self.ready_s, 3),
                                "first_reply": result.to_json_dict(),
                                "timeline": [m.to_json_dict() for m in self.timeline.marks],
                            }
                        )
                        self.ready_event.set()
                        continue
                time.sleep(min(self._poll_s, 0.5))
                continue
            if not self.watch.running:
                return
            now = time.monotonic()
            if self._watch_metrics and self._watching and now - last_metrics >= self._metrics_s:
                last_metrics = now
                m = fetch_metrics(self.url, self.spec.engine)
                if m is not None:
                    rate = serving.tokens_per_second(prev[1], m, now - prev[0]) if prev else None
                    prev = (now, m)
                    self.metrics = m
                    self._event({"event": "metrics", **m.to_json_dict(), "tokens_per_s": rate})
            self._closing.wait(min(self._metrics_s, 0.5))
