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
import time
from typing import Any

from console.config import Config, ConfigError
from console.units import fmt_bytes, fmt_rate

DTYPE_CHOICES = ("auto", "bf16", "fp16", "fp32", "bfloat16", "float16", "float32")
_DEVICE_RE = re.compile(r"^(cpu|auto|cuda|cuda:\d+)$")
_MEMORY_RE = re.compile(r"^\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$", re.IGNORECASE)
# Events the JSON stream prints (the engine's own; `output` lines go to stderr as text).
JSON_EVENTS = ("hello", "state", "progress", "loaded", "token", "generated", "unloaded",
               "log", "error", "exited")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL",
                        help="a model directory, a hub id in the local HF cache, or 'demo'")
    parser.add_argument("--dtype", default="auto", choices=DTYPE_CHOICES,
                        help="weights dtype (default auto: the checkpoint's)")
    parser.add_argument("--device", default=None,
                        help="cuda:N, cuda, auto (spread over GPUs), or cpu "
                             "(default: cuda:0 when a GPU is visible, else cpu)")
    parser.add_argument("--max-memory", metavar="SPEC", default=None,
                        help="with --device auto: per-device limits, e.g. 0=20GiB,1=20GiB,cpu=64GiB")
    parser.add_argument("--attn", metavar="IMPL", default=None,
                        help="attention implementation (eager, sdpa, flash_attention_2, ...)")
    parser.add_argument("--prompt", metavar="TEXT", default=None,
                        help="generate from this prompt after loading")
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


def _default_device() -> str:
    """cuda:0 when NVML sees a GPU (no CUDA context is made here), else cpu."""
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            return "cuda:0" if pynvml.nvmlDeviceGetCount() > 0 else "cpu"
        finally:
            pynvml.nvmlShutdown()
    except Exception:
        return "cpu"


class _Printer:
    """Human-readable progress on stderr (one updating line on a terminal), results on stdout."""

    def __init__(self, verbose: bool) -> None:
        self.verbose = verbose
        self.tty = sys.stderr.isatty()
        self.last_progress = 0.0
        self.progress_open = False

    def _end_progress(self) -> None:
        if self.progress_open:
            sys.stderr.write("\n")
            self.progress_open = False

    def __call__(self, msg: dict[str, Any]) -> None:
        name = msg.get("event")
        if name == "output":
            if self.verbose:
                self._end_progress()
                print(msg["text"], file=sys.stderr)
        elif name == "progress":
            now = time.monotonic()
            done = msg["tensors_done"] >= msg["tensors_total"] > 0
            if not done and now - self.last_progress < (0.2 if self.tty else 2.0):
                return
            self.last_progress = now
            pct = 100.0 * msg["bytes_done"] / msg["bytes_total"] if msg["bytes_total"] else 0.0
            eta = f" eta {msg['eta_s']:.1f} s" if msg.get("eta_s") is not None else ""
            line = (f"loading {pct:5.1f}%  {msg['tensors_done']}/{msg['tensors_total']} tensors  "
                    f"{fmt_bytes(msg['bytes_done'])}/{fmt_bytes(msg['bytes_total'])}  "
                    f"{fmt_rate(msg.get('rate_bytes_per_s'))}{eta}  {msg.get('current_file') or ''}")
            if self.tty:
                sys.stderr.write("\r\x1b[2K" + line)
                self.progress_open = True
            else:
                print(line, file=sys.stderr)
        elif name == "log":
            self._end_progress()
            print(f"{msg['level']}: {msg['message']}", file=sys.stderr)
        elif name == "loaded":
            self._end_progress()
            mem = msg["memory"]
            where = ", ".join(
                f"{d['device']} allocated {fmt_bytes(d['allocated_bytes'])} reserved "
                f"{fmt_bytes(d['reserved_bytes'])} NVML {fmt_bytes(d['nvml_used_bytes'])}"
                for d in mem["devices"]) or f"host RSS {fmt_bytes(mem.get('rss_bytes'))}"
            label = f" [{msg['label']}]" if msg["label"] != msg["model"] else ""
            print(f"loaded {msg['model']}{label}: {msg['model_class']} {msg['dtype']}, "
                  f"{msg['params'] / 1e6:.1f}M params, {fmt_bytes(msg['param_bytes'])} in "
                  f"{msg['load_s']:.2f} s; {where}")
        elif name == "token":
            sys.stdout.write(msg["text"])
            sys.stdout.flush()
        elif name == "generated":
            ttft = f"{msg['ttft_s'] * 1000:.0f} ms" if msg.get("ttft_s") is not None else "N/A"
            tps = f"{msg['tokens_per_s']:.1f}" if msg.get("tokens_per_s") else "N/A"
            print()
            print(f"generated {msg['tokens']} tokens ({msg['stopped']}): TTFT {ttft}, "
                  f"{tps} tokens/s, KV cache {fmt_bytes(msg.get('kv_cache_bytes'))}")
        elif name == "unloaded":
            print(f"unloaded: {msg['message']}")


def run(args: argparse.Namespace, config: Config) -> int:
    from console.engine.client import EngineClient

    max_memory = parse_max_memory(args.max_memory) if args.max_memory else None
    device = args.device or _default_device()
    if not _DEVICE_RE.match(device):
        raise ConfigError("--device", device, "expected cuda:N, cuda, auto or cpu")
    if max_memory and device != "auto":
        raise ConfigError("--max-memory", args.max_memory, "applies only with --device auto")
    if args.max_new_tokens < 1:
        raise ConfigError("--max-new-tokens", str(args.max_new_tokens), "must be at least 1")

    def emit_json(msg: dict[str, Any]) -> None:
        if msg.get("event") == "output":
            print(msg["text"], file=sys.stderr, flush=True)
        elif msg.get("event") in JSON_EVENTS:
            out = {k: v for k, v in msg.items() if k != "v"}
            print(json.dumps(out, ensure_ascii=False), flush=True)

    show = emit_json if args.json else _Printer(args.verbose)
    client = EngineClient(allow_download=args.allow_download)
    failure: str | None = None

    def step(events: tuple[str, ...], reply_to: int | None) -> dict[str, Any]:
        """Wait for one of `events` (or an error / the engine's end), showing all on the way."""
        seen: list[dict[str, Any]] = []
        try:
            result = client.wait_for((*events, "error"), reply_to=reply_to,
                                     timeout=args.timeout, seen=seen)
        finally:
            for msg in seen:
                show(msg)
        return result

    try:
        client.start()
        hello = step(("hello",), None)
        if hello["event"] == "hello":
            result = step(("loaded",), client.load(
                args.model, dtype=args.dtype, device=device, max_memory=max_memory,
                attn_implementation=args.attn, trust_remote_code=args.trust_remote_code,
                allow_pickle=args.allow_pickle, allow_download=args.allow_download))
            if result["event"] == "loaded" and args.prompt is not None:
                result = step(("generated",), client.generate(
                    args.prompt, max_new_tokens=args.max_new_tokens,
                    temperature=args.temperature, top_p=args.top_p, seed=args.seed))
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
