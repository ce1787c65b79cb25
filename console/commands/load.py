"""`autoglm-console load MODEL`: the engine without the TUI.

Starts the engine process, loads MODEL (a directory, a hub id in the local HF cache, or
`demo`), optionally generates from --prompt, unloads, and exits 0; or exits 1 with the error's
last line (2 for usage errors). With --json every event is one JSON object per line on stdout
(`event`, `ts`, ...; schema in docs/engine.md) and the engine's raw output goes to stderr.
Light at import: the engine client needs no torch.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
import time
from typing import Any

from console.core import autoglm, protocol
from console.core.session import Session, apply
from console.core.termsafe import write_control
from console.core.units import fmt_bytes, fmt_rate
from console.host.config import Config, ConfigError

DTYPE_CHOICES = ("auto", "bf16", "fp16", "fp32", "bfloat16", "float16", "float32")
_DEVICE_RE = re.compile(r"^(cpu|auto|cuda|cuda:\d+)$")
_MEMORY_RE = re.compile(r"^\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$", re.IGNORECASE)
# Events the JSON stream prints (the engine's own; `output` lines go to stderr as text).
MAX_TIMEOUT_S = 7 * 24 * 3600.0
STDIN_END_GRACE_S = 1.0  # a pause outlasting stdin's end by this much is aborted
JSON_EVENTS = ("hello", "state", "preflight", "progress", "paused", "resumed", "aborted",
               "stalled", "loaded", "token", "generated", "unloaded", "log", "error", "exited")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL",
                        help="a model directory, a hub id in the local HF cache, or 'demo'")
    parser.add_argument("--dtype", default="auto", choices=DTYPE_CHOICES,
                        help="weights dtype (default auto: the checkpoint's)")
    parser.add_argument("--device", default=None,
                        help="cuda:N, cuda, auto (spread over GPUs), or cpu "
                             "(default: cuda:0 when a GPU is visible, else cpu)")
    parser.add_argument("--max-memory", metavar="SPEC", default=None,
                        help="with --device auto: per-device limits, e.g. "
                             "0=20GiB,1=20GiB,cpu=64GiB")
    parser.add_argument("--attn", metavar="IMPL", default=None,
                        help="attention implementation (eager, sdpa, flash_attention_2, ...)")
    parser.add_argument("--loader", default="auto", choices=("auto", "fast", "stock"),
                        help="auto (default): the fast loader when it reproduces the checkpoint "
                             "exactly, else transformers' own (the reason is shown); fast: fail "
                             "rather than fall back; stock: transformers' from_pretrained")
    parser.add_argument("--prompt", metavar="TEXT", default=None,
                        help="generate from this prompt after loading")
    parser.add_argument("--image", metavar="PATH", action="append", default=None,
                        dest="images", help="an image file to put before --prompt (repeat for "
                        "several; vision models such as glm4v and demo-vl)")
    parser.add_argument("--max-new-tokens", type=int, default=64, metavar="N")
    parser.add_argument("--temperature", type=float, default=0.0, metavar="T",
                        help="0 (default) decodes greedily")
    parser.add_argument("--top-p", type=float, default=None, metavar="P")
    parser.add_argument("--seed", type=int, default=None, metavar="S")
    parser.add_argument("--trust-remote-code", action="store_true",
                        help="run the model's own Python code (auto_map) for this model")
    parser.add_argument("--allow-pickle", action="store_true",
                        help="allow full unpickling of .bin checkpoints (can run code)")
    parser.add_argument("--allow-download", action="store_true",
                        help="allow downloading a hub id missing from the local cache")
    parser.add_argument("--json", action="store_true",
                        help="one JSON object per event on stdout")
    parser.add_argument("--verbose", action="store_true",
                        help="print the engine's raw output (always in the session log)")
    parser.add_argument("--timeout", type=float, default=3600.0, metavar="SECONDS",
                        help="give up on any one step after this long (default 3600)")
    guard = parser.add_argument_group("guard (docs/engine.md, Guard)")
    guard.add_argument("--pause-at", metavar="SPEC", default=None,
                       help="pause levels, e.g. vram=85,ram=90 (%% used; swap %%, swap_in "
                            "MiB/s), or one percent for VRAM; default: the config file's")
    guard.add_argument("--abort-at", metavar="SPEC", default=None,
                       help="abort levels, same form as --pause-at")
    guard.add_argument("--on-pause", choices=("wait", "abort"), default=None,
                       help="when the guard pauses the load: wait (for --auto-resume, or type "
                            "r / f / a + Enter on stdin: resume / resume anyway / abort) or "
                            "abort at once; default: wait when stdin is a terminal, else abort. "
                            "Waiting with stdin at its end (and no --auto-resume) aborts")
    guard.add_argument("--auto-resume", action="store_true", default=None,
                       help="resume by itself once every resource is under its resume level")
    guard.add_argument("--force", action="store_true",
                       help="load even when the pre-load estimate says it will not fit")
    guard.add_argument("--context", type=int, default=None, metavar="N",
                       help="tokens the pre-load estimate plans for (default 4096 or the "
                            "model's maximum)")
    guard.add_argument("--batch", type=int, default=None, metavar="N",
                       help="sequences the pre-load estimate plans for (default 1)")


def parse_levels_spec(flag: str, spec: str, level: str) -> dict[str, dict[str, float]]:
    """'vram=85,ram=90' or '85' (VRAM) -> {'vram': {level: 85.0}, 'ram': {level: 90.0}};
    ConfigError naming the flag on bad input."""
    from console.host.config import GUARD_RESOURCES

    out: dict[str, dict[str, float]] = {}
    parts = [p.strip() for p in spec.split(",")]
    for part in parts:
        name, sep, value = part.partition("=")
        if not sep and len(parts) == 1:
            name, value = "vram", part
        name, value = name.strip(), value.strip().rstrip("%")
        try:
            number = float(value)
        except ValueError:
            number = -1.0
        if name not in GUARD_RESOURCES or not number >= 0:
            raise ConfigError(flag, part or spec, "expected RESOURCE=LEVEL pairs like "
                              "vram=85,ram=90 (resources: " + ", ".join(GUARD_RESOURCES)
                              + "), or one percent for VRAM")
        out.setdefault(name, {})[level] = number
    return out


def guard_field(args: argparse.Namespace, config: Config) -> dict[str, Any]:
    """The load's `guard` settings: the config file's, changed by the flags (a level given
    alone moves the others so the set stays valid: console.core.guard.derive_levels)."""
    from console.core.guard import derive_levels, with_threshold
    from console.engines.local import guard_settings

    thresholds = dict(config.thresholds)
    given: dict[str, dict[str, float]] = {}
    for flag, spec, level in (("--pause-at", args.pause_at, "pause"),
                              ("--abort-at", args.abort_at, "abort")):
        for name, levels in (parse_levels_spec(flag, spec, level) if spec else {}).items():
            given.setdefault(name, {}).update(levels)
    for name, levels in given.items():
        flag = "--abort-at" if set(levels) == {"abort"} else "--pause-at"
        try:
            thresholds = with_threshold(thresholds, name,
                                        **derive_levels(thresholds[name], levels))
        except ConfigError as exc:
            raise ConfigError(flag, exc.key, exc.problem) from None
    return guard_settings(config, thresholds=thresholds, auto_resume=args.auto_resume,
                          on_pause=on_pause_choice(args.on_pause))


def on_pause_choice(flag: str | None) -> str:
    """--on-pause as given; by default "wait" only when someone can answer on stdin."""
    if flag is not None:
        return flag
    stdin = sys.stdin
    try:
        return "wait" if stdin is not None and stdin.isatty() else "abort"
    except (ValueError, OSError):
        return "abort"


def check_generation_flags(args: argparse.Namespace) -> None:
    """--temperature, --top-p and --timeout: finite and in range (ConfigError naming the flag)."""
    from console.host.config import check_number

    check_number("--temperature", str(args.temperature), args.temperature, minimum=0.0,
                 maximum=100.0)
    if args.top_p is not None:
        check_number("--top-p", str(args.top_p), args.top_p, maximum=1.0)
        if not args.top_p > 0:
            raise ConfigError("--top-p", str(args.top_p), "must be above 0 (and at most 1)")
    check_number("--timeout", str(args.timeout), args.timeout, maximum=MAX_TIMEOUT_S)
    if not args.timeout > 0:
        raise ConfigError("--timeout", str(args.timeout), "must be above 0 seconds")


def parse_max_memory(spec: str) -> dict[str, str]:
    """'0=20GiB,cpu=64GiB' -> {'0': '20GiB', 'cpu': '64GiB'}; ConfigError on bad input."""
    out: dict[str, str] = {}
    for part in spec.split(","):
        key, sep, value = part.strip().partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not (key.isdigit() or key in ("cpu", "disk")) or not _MEMORY_RE.match(value):
            raise ConfigError("--max-memory", part.strip() or spec,
                              "expected DEVICE=SIZE pairs like 0=20GiB,cpu=64GiB")
        out[key] = value.replace(" ", "")
    return out


def image_paths(values: list[str] | None) -> list[str]:
    """--image values as absolute paths (the engine reads them; it checks the files)."""
    from pathlib import Path

    return [str(Path(v).expanduser().absolute()) for v in values or []]


def image_lines(done: protocol.Generated, answer: autoglm.Answer | None) -> list[str]:
    """The images' tokens and AutoGLM's parsed answer, for the human output (issue 16)."""
    lines: list[str] = []
    images = done.images or []
    per = done.image_tokens_per_image or []
    if images:
        lines.append(f"images: {len(images)}, {done.image_tokens} image tokens of "
                     f"{done.prompt_tokens} prompt tokens")
        for info, tokens in zip(images, per, strict=False):
            lines.append(f"  {autoglm.safe(str(info['path']))}: {info['width']}x"
                         f"{info['height']}, {fmt_bytes(info['file_bytes'])}, {tokens} tokens")
    if answer is not None:
        if answer.ok and answer.action is not None:
            lines.append(f"action: {answer.action.summary()}")
        else:
            lines.append("answer malformed: " + "; ".join(answer.problems))
    return lines


def _default_device() -> str:
    """cuda:0 when NVML sees a GPU (no CUDA context is made here), else cpu."""
    from console.core.devices import default_device
    from console.host.nvml import gpu_count

    return default_device(None, gpu_count() or 0)


class _Printer:
    """Human-readable progress on stderr (one updating line on a terminal), results on stdout.

    Folds every event into a `Session` (console/core/session.py) like the TUI and prints what
    the event changed in it: the same state, progress, result and generation figures."""

    def __init__(self, verbose: bool, stdin_hint: bool = False) -> None:
        self.verbose = verbose
        self.stdin_hint = stdin_hint
        self.tty = sys.stderr.isatty()
        self.last_progress = 0.0
        self.progress_open = False
        self.session = Session()

    def _end_progress(self) -> None:
        if self.progress_open:
            sys.stderr.write("\n")
            self.progress_open = False

    def _progress(self, p: protocol.Progress) -> None:
        now = time.monotonic()
        done = p.tensors_done >= p.tensors_total > 0
        if not done and now - self.last_progress < (0.2 if self.tty else 2.0):
            return
        self.last_progress = now
        pct = 100.0 * p.bytes_done / p.bytes_total if p.bytes_total else 0.0
        eta = f" eta {p.eta_s:.1f} s" if p.eta_s is not None else ""
        line = (f"loading {pct:5.1f}%  {p.tensors_done}/{p.tensors_total} tensors  "
                f"{fmt_bytes(p.bytes_done)}/{fmt_bytes(p.bytes_total)}  "
                f"{fmt_rate(p.rate_bytes_per_s)}{eta}  {p.current_file or ''}"
                + (f"  [{p.loader}]" if p.loader else ""))
        if self.tty:
            write_control(sys.stderr, "\r\x1b[2K", line)  # the line itself sanitised
            self.progress_open = True
        else:
            print(line, file=sys.stderr)

    def _loaded(self, loaded: protocol.Loaded) -> None:
        self._end_progress()
        mem = loaded.memory
        where = ", ".join(
            f"{d['device']} allocated {fmt_bytes(d['allocated_bytes'])} reserved "
            f"{fmt_bytes(d['reserved_bytes'])} NVML {fmt_bytes(d['nvml_used_bytes'])}"
            for d in mem["devices"]) or f"host RSS {fmt_bytes(mem.get('rss_bytes'))}"
        label = f" [{loaded.label}]" if loaded.label != loaded.model else ""
        print(f"loaded {loaded.model}{label}: {loaded.model_class} {loaded['dtype']}, "
              f"{loaded['params'] / 1e6:.1f}M params, {fmt_bytes(loaded.param_bytes)} in "
              f"{loaded.load_s:.2f} s; {where}")
        if loaded.loader:
            why = f" ({loaded.fallback_reason})" if loaded.fallback_reason else ""
            print(f"loader: {loaded.loader}{why}")

    def __call__(self, event: protocol.AnyEvent) -> None:
        self.session = session = apply(self.session, event)
        match event:
            case protocol.Output():
                if self.verbose:
                    self._end_progress()
                    print(event.text, file=sys.stderr)
            case protocol.Progress():
                if session.progress is not None:
                    self._progress(session.progress)
            case protocol.Log():
                self._end_progress()
                print(f"{event.level}: {event.message}", file=sys.stderr)
            case protocol.Loaded():
                if session.loaded is not None:
                    self._loaded(session.loaded)
            case protocol.Token():
                sys.stdout.write(event.text)
                sys.stdout.flush()
            case protocol.Generated():
                done = session.generation.done
                assert done is not None
                ttft = f"{done.ttft_s * 1000:.0f} ms" if done.ttft_s is not None else "N/A"
                tps = f"{done.tokens_per_s:.1f}" if done.tokens_per_s else "N/A"
                print()
                print(f"generated {done.tokens} tokens ({done.stopped}): TTFT {ttft}, "
                      f"{tps} tokens/s, KV cache {fmt_bytes(done.kv_cache_bytes)}")
                for line in image_lines(done, session.generation.answer):
                    print(line)
            case protocol.Unloaded():
                print(f"unloaded: {event.message}")
            case protocol.Preflight():
                if event.refusal is None and event.get("forced"):
                    self._end_progress()
                    print(f"warning: loading anyway (--force): {event.reason}",
                          file=sys.stderr)
            case protocol.Paused() | protocol.Resumed() | protocol.Aborted() | protocol.Stalled():
                self._end_progress()
                text = event.text if isinstance(event, protocol.Stalled) else event.why
                print(f"guard: {text}", file=sys.stderr)
                if isinstance(event, protocol.Paused) and self.stdin_hint:
                    print("guard: the load is paused - type r + Enter to resume, f + Enter to "
                          "resume anyway, a + Enter to abort", file=sys.stderr)
            case _:
                pass


class _ShownList(list[protocol.AnyEvent]):
    """A list that shows each message as it is appended."""

    def __init__(self, show: Any) -> None:
        super().__init__()
        self._show = show

    def append(self, msg: protocol.AnyEvent) -> None:
        super().append(msg)
        self._show(msg)


def _stdin_commands(client: Any) -> None:
    """While a load waits for the user: "r" resumes, "f" resumes anyway, "a" aborts. Standard
    input at its end (or closed) while the load is paused: nobody can resume it, so abort."""
    from console.engines.local import EngineDead

    try:
        if sys.stdin is not None:
            for line in sys.stdin:
                word = line.strip().lower()
                if word in ("r", "resume"):
                    client.resume()
                elif word in ("f", "force"):
                    client.resume(force=True)
                elif word in ("a", "abort"):
                    client.abort()
        # Nothing more can come from stdin: a pause that lasts (an answer sent just before the
        # end has a moment to take effect) can never be resumed, so end it.
        paused_since: float | None = None
        while client.alive:
            if client.guard_mode != "paused":
                paused_since = None
            elif paused_since is None:
                paused_since = time.monotonic()
            elif time.monotonic() - paused_since >= STDIN_END_GRACE_S:
                print("guard: standard input ended while the load is paused; aborting (nothing "
                      "is left to resume it; --auto-resume waits by itself)", file=sys.stderr)
                client.abort()
                return
            time.sleep(0.1)
    except (EngineDead, OSError, ValueError):
        return


def run(args: argparse.Namespace, config: Config) -> int:
    from console.engines.local import EngineClient

    max_memory = parse_max_memory(args.max_memory) if args.max_memory else None
    device = args.device or _default_device()
    if not _DEVICE_RE.match(device):
        raise ConfigError("--device", device, "expected cuda:N, cuda, auto or cpu")
    if max_memory and device != "auto":
        raise ConfigError("--max-memory", args.max_memory, "applies only with --device auto")
    if args.max_new_tokens < 1:
        raise ConfigError("--max-new-tokens", str(args.max_new_tokens), "must be at least 1")
    for flag, value in (("--context", args.context), ("--batch", args.batch)):
        if value is not None and value < 1:
            raise ConfigError(flag, str(value), "must be at least 1")
    check_generation_flags(args)
    images = image_paths(args.images)
    if images and args.prompt is None:
        raise ConfigError("--image", args.images[0], "needs --prompt TEXT (the instruction)")
    guard = guard_field(args, config)
    waits_for_user = guard["on_pause"] == "wait" and not guard["auto_resume"]

    folded = [Session()]

    def emit_json(msg: protocol.AnyEvent) -> None:
        folded[0] = session = apply(folded[0], msg)
        if isinstance(msg, protocol.Output):
            print(msg.text, file=sys.stderr, flush=True)
        elif msg.NAME in JSON_EVENTS:
            out = {k: v for k, v in msg.wire.items() if k != "v"}
            answer = session.generation.answer
            if isinstance(msg, protocol.Generated) and answer is not None:
                out["autoglm"] = answer.to_json_dict()  # issue 16: AutoGLM's parsed answer
            print(json.dumps(out, ensure_ascii=False), flush=True)

    printer = emit_json if args.json else _Printer(args.verbose, stdin_hint=waits_for_user)
    client = EngineClient(allow_download=args.allow_download,
                          log_rotation=(config.log_keep_sessions, config.log_max_mib))
    failure: str | None = None
    stdin_reader: list[threading.Thread] = []

    def show(msg: protocol.AnyEvent) -> None:
        printer(msg)
        # A paused load that waits for the user: take r / f / a lines from stdin.
        if isinstance(msg, protocol.Paused) and waits_for_user and not stdin_reader:
            reader = threading.Thread(target=_stdin_commands, args=(client,), daemon=True,
                                      name="stdin-commands")
            stdin_reader.append(reader)
            reader.start()

    def step(events: tuple[str, ...], reply_to: int | None) -> protocol.AnyEvent:
        """Wait for one of `events` (or an error / the engine's end), showing all on the way."""
        # Shown as each arrives (progress, a pause and its stdin prompt happen during the wait).
        seen = _ShownList(show)
        return client.wait_for((*events, "error"), reply_to=reply_to, timeout=args.timeout,
                               seen=seen)

    try:
        client.start()
        hello = step(("hello",), None)
        if hello["event"] == "hello":
            result = step(("loaded",), client.load(
                args.model, dtype=args.dtype, device=device, max_memory=max_memory,
                attn_implementation=args.attn, trust_remote_code=args.trust_remote_code,
                allow_pickle=args.allow_pickle, allow_download=args.allow_download,
                loader=args.loader, guard=guard, force=args.force, context=args.context,
                batch=args.batch))
            if result["event"] == "loaded" and args.prompt is not None:
                result = step(("generated",), client.generate(
                    args.prompt, max_new_tokens=args.max_new_tokens,
                    temperature=args.temperature, top_p=args.top_p, seed=args.seed,
                    images=images or None))
            if result["event"] in ("loaded", "generated"):
                result = step(("unloaded",), client.unload())
        else:
            result = hello
        if result["event"] == "error":
            failure = result["message"].strip().splitlines()[-1] if result["message"] else \
                result["error_type"]
            if result.get("hint"):
                failure += f" ({result['hint']})"
        elif result["event"] == "exited":
            how = result["signal"] or f"exit code {result['returncode']}"
            tail = [line for line in result["last_lines"] if line.strip()]
            failure = f"the engine died ({how})" + (f": {tail[-1].strip()}" if tail else "")
    except TimeoutError as exc:
        failure = f"timed out: {exc}"
    except KeyboardInterrupt:
        client.hard_unload()
        raise
    finally:
        if client.alive:
            client.shutdown(timeout=10.0)
        if client.log is not None:
            client.log.close()
    if failure is not None:
        print(f"autoglm-console: load {args.model}: {failure}", file=sys.stderr)
        if client.log_path is not None and not args.json:
            print(f"session log: {client.log_path}", file=sys.stderr)
        return 1
    return 0
