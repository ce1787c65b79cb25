"""`autoglm-console fingerprint MODEL --out FILE.json`: what a model is, where it ran, how it
behaves, in one file that `autoglm-console compare` reads on another machine.

- In-process (default, `--engine local`): the console's own engine process loads MODEL (the
  same MODEL forms, dtype, device and attention flags as `load`), hashes the weight files it
  loaded from (header and per-tensor content hashes, streaming, with the rate on stderr), runs
  the probe set (console/core/probes.py) greedily with top-k log-probabilities twice (the
  noise floor) and unloads.
- Served (`--url URL`, with `--engine vllm|sglang|transformers` naming what serves it): the
  same probes over the server's OpenAI API (`/v1/chat/completions` with `logprobs` and
  `top_logprobs`), greedy; MODEL is the model directory the server loaded (for the hashes).

Exit 0 when written, 1 when the load, the hashing or a probe failed (one line saying why), 2
for a usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from console.host.config import Config, ConfigError

ENGINES = ("local", "transformers", "vllm", "sglang")
HTTP_TIMEOUT_S = 120.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from console.commands.load import DTYPE_CHOICES

    parser.add_argument("model", metavar="MODEL",
                        help="a model directory, a hub id in the local HF cache, demo or demo-vl")
    parser.add_argument("--out", metavar="FILE.json", required=True,
                        help="where to write the fingerprint")
    parser.add_argument("--engine", choices=ENGINES, default=None,
                        help="local (default: the console's engine process), or what serves "
                             "--url (vllm, sglang, transformers)")
    parser.add_argument("--url", default=None,
                        help="an OpenAI-compatible server already serving MODEL "
                             "(e.g. http://127.0.0.1:8000)")
    parser.add_argument("--served-model", default=None, metavar="NAME",
                        help="the model name the server knows (default: MODEL's directory "
                             "for transformers serve, else the server's first /v1/models)")
    parser.add_argument("--dtype", default="auto", choices=DTYPE_CHOICES,
                        help="weights dtype for the local engine; with --url, the dtype the "
                             "server was started with (default: the checkpoint's)")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:N (local engine)")
    parser.add_argument("--attn", metavar="IMPL", default=None,
                        help="attention implementation for the local engine (eager, sdpa, ...)")
    parser.add_argument("--top-k", type=int, default=None, metavar="K",
                        help="log-probabilities kept per step (default: the probe set's)")
    parser.add_argument("--timeout", type=float, default=3600.0, metavar="SECONDS")
    parser.add_argument("--json", action="store_true",
                        help="print a one-line JSON summary on stdout")


def _progress_printer() -> Any:
    from console.host.weighthash import file_rate_line

    tty = sys.stderr.isatty()
    last = [0.0]

    def show(done: int, total: int, seconds: float) -> None:
        now = time.monotonic()
        if done < total and now - last[0] < 0.2:
            return
        last[0] = now
        line = file_rate_line(done, total, seconds)
        if tty:
            print(f"\r{line}", end="" if done < total else "\n", file=sys.stderr, flush=True)
        elif done >= total:
            print(line, file=sys.stderr, flush=True)

    return show


def model_section(path: Path, progress: Any = None) -> dict[str, Any]:
    """What the model in `path` is: file and tensor hashes, numerics-relevant config fields.
    `progress(done_bytes, total_bytes, seconds)` (default: the rate line on stderr)."""
    from console.host.weighthash import config_summary, hash_model

    hashed = hash_model(path, progress=progress or _progress_printer())
    doc = hashed.to_json()
    doc["path"] = str(path)
    doc["config_fields"] = config_summary(path)
    doc["rate_bytes_per_s"] = hashed.rate_bytes_per_s
    return doc


# ---- the local engine


def _local(args: argparse.Namespace, top_k: int) -> tuple[dict[str, Any], dict[str, Any],
                                                          dict[str, Any]]:
    """(model, env, behaviour) from the console's own engine process."""
    from console.commands.load import _default_device
    from console.core import protocol
    from console.engines.local import EngineClient

    device = args.device or _default_device()
    client = EngineClient()
    try:
        client.start()
        hello = client.wait_for("hello", timeout=args.timeout)
        if not isinstance(hello, protocol.Hello):
            raise RuntimeError(_why(hello))
        loaded = client.wait_for(("loaded", "error"), reply_to=client.load(
            args.model, dtype=args.dtype, device=device, attn_implementation=args.attn,
            force=True), timeout=args.timeout)
        if not isinstance(loaded, protocol.Loaded):
            raise RuntimeError(_why(loaded))
        vision = is_vision_class(loaded.model_class)
        model = model_section(Path(loaded.path))
        model.update(label=loaded.label, model_type=loaded.model_type,
                     model_class=loaded.model_class)
        print(f"running the probe set on {loaded.label} ({device})...", file=sys.stderr,
              flush=True)
        done = client.wait_for(("behaviour", "error"), reply_to=client.send(
            protocol.new_command(protocol.Behaviour, top_k=top_k, vision=vision)),
            timeout=args.timeout)
        if not isinstance(done, protocol.BehaviourDone):
            raise RuntimeError(_why(done))
        env, behaviour = behaviour_sections(done)
        env["requested_device"] = device
        client.wait_for(("unloaded", "error"), reply_to=client.unload(), timeout=args.timeout)
        return model, env, behaviour
    finally:
        if client.alive:
            client.shutdown(timeout=10.0)
        if client.log is not None:
            client.log.close()


def behaviour_sections(done: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(env, behaviour) of a fingerprint from the engine's `BehaviourDone` answer."""
    env = dict(done.env or {})
    behaviour = {"probe_set": done.probe_set, "top_k": done.top_k, "noise": done.noise,
                 "seconds": done.seconds, "probes": done.probes}
    return env, behaviour


def is_vision_class(model_class: str) -> bool:
    """A model class that takes images (the probe set adds its image probes)."""
    return "ImageTextToText" in model_class or "ConditionalGeneration" in model_class


def _why(msg: Any) -> str:
    from console.core import protocol

    if isinstance(msg, protocol.Error):
        last = msg.message.strip().splitlines()[-1] if msg.message.strip() else msg.error_type
        return last + (f" ({msg.hint})" if msg.hint else "")
    if isinstance(msg, protocol.Exited):
        return f"the engine died ({msg.signal or f'exit code {msg.returncode}'})"
    return f"unexpected {msg.NAME!r} event"


# ---- a served engine over the OpenAI API


def _http_json(url: str, body: dict[str, Any] | None = None,
               timeout: float = HTTP_TIMEOUT_S) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read().decode("utf-8", errors="replace"))


TOKEN_ID_PREFIX = "token_id:"  # vLLM's form of a token with `return_tokens_as_token_ids`


def _served_token(token: Any) -> tuple[str, int | None]:
    text = str(token)
    if text.startswith(TOKEN_ID_PREFIX) and text[len(TOKEN_ID_PREFIX):].isdigit():
        return text, int(text[len(TOKEN_ID_PREFIX):])
    return text, None


def served_steps(choice: dict[str, Any]) -> list[dict[str, Any]]:
    """OpenAI `choices[0].logprobs.content` -> the fingerprint's steps: token text, or the
    token id where the server gives ids (vLLM's `token_id:N`), and then the top-k
    alternatives as `[text, logprob, id]` like the in-process engine's."""
    content = (choice.get("logprobs") or {}).get("content") or []
    steps = []
    for item in content:
        if item.get("logprob") is None:
            continue
        top = []
        for t in item.get("top_logprobs") or []:
            if t.get("logprob") is None:
                continue
            text, tid = _served_token(t.get("token"))
            top.append([text, float(t["logprob"])] + ([tid] if tid is not None else []))
        text, tid = _served_token(item.get("token"))
        step: dict[str, Any] = {"token": text, "logprob": float(item["logprob"]), "top": top}
        if tid is not None:
            step["id"] = tid
        steps.append(step)
    return steps


CONTEXT_TOO_LONG = ("maximum context length", "max_model_len", "context length",
                    "too long", "max-model-len")


def _http_problem(exc: urllib.error.HTTPError) -> str:
    try:
        body = exc.read().decode("utf-8", errors="replace")
    except OSError:
        body = ""
    try:
        doc = json.loads(body)
        err = doc.get("error", doc) if isinstance(doc, dict) else doc
        message = str(err.get("message") if isinstance(err, dict) else err)
    except ValueError:
        message = body
    return " ".join(message.split())[:300] or f"HTTP {exc.code}"


def _served_probe(base: str, name: str, probe: Any, top_k: int, ids: bool) -> dict[str, Any]:
    """One probe over `/v1/chat/completions`: its steps with log-probabilities; the answer's
    text alone when the server ignores `logprobs` (`logprobs: false`); `skipped` with the
    server's reason when the prompt is longer than the context it serves."""
    body: dict[str, Any] = {
        "model": name, "messages": [{"role": "user", "content": probe.prompt}],
        "max_tokens": probe.max_new_tokens, "temperature": 0.0, "logprobs": True,
        "top_logprobs": top_k, "stream": False}
    if ids:
        body["return_tokens_as_token_ids"] = True
    try:
        reply = _http_json(f"{base}/v1/chat/completions", body)
    except urllib.error.HTTPError as exc:
        problem = _http_problem(exc)
        if exc.code in (400, 413, 422) and any(k in problem.lower() for k in CONTEXT_TOO_LONG):
            return {"id": probe.id, "images": [], "steps": [],
                    "skipped": f"context too long for the server ({problem})"}
        raise RuntimeError(f"probe {probe.id!r}: HTTP {exc.code}: {problem}") from None
    choice = (reply.get("choices") or [{}])[0]
    steps = served_steps(choice)
    content = (choice.get("message") or {}).get("content")
    if steps:
        return {"id": probe.id, "images": [], "steps": steps,
                "text": content if isinstance(content, str) else
                "".join(s["token"] for s in steps)}
    if not isinstance(content, str):
        raise RuntimeError(f"{base} returned neither log-probabilities nor text for probe "
                           f"{probe.id!r}")
    return {"id": probe.id, "images": [], "steps": [], "text": content, "logprobs": False}


def _served(args: argparse.Namespace, top_k: int) -> tuple[dict[str, Any], dict[str, Any],
                                                           dict[str, Any]]:
    from console.core.probes import PROBE_SET, probes_for

    base = args.url.rstrip("/")
    name = args.served_model
    path = resolve_model_dir(args.model)
    if name is None and args.engine == "transformers":
        name = str(path)  # `transformers serve` loads the model a request names
    if name is None:
        models = _http_json(f"{base}/v1/models").get("data") or []
        if not models:
            raise RuntimeError(f"{base}/v1/models lists no model: pass --served-model")
        name = str(models[0].get("id"))
    model = model_section(path)
    runs = []
    t0 = time.perf_counter()
    ids = args.engine == "vllm"  # vLLM names tokens by id on request: compared by id
    for _ in range(2):
        runs.append([_served_probe(base, name, probe, top_k, ids)
                     for probe in probes_for(False)])
    from console.core.fingerprint import served_noise

    logprobs = any(p.get("logprobs") is not False and not p.get("skipped") for p in runs[0])
    if not logprobs:
        print(f"{base} returned no log-probabilities (it ignores `logprobs`): the probes are "
              "recorded as text, and compared on the greedy text alone", file=sys.stderr)
    env: dict[str, Any] = {"engine": args.engine or "openai", "url": base,
                           "served_model": name,
                           "dtype": _canonical_dtype(args.dtype) or _served_dtype(path),
                           "engine_version": _served_version(base)}
    if not logprobs:
        env["logprobs"] = False
    behaviour = {"probe_set": PROBE_SET, "top_k": top_k, "noise": served_noise(*runs),
                 "seconds": time.perf_counter() - t0, "probes": runs[0]}
    return model, env, behaviour


def resolve_model_dir(model: str) -> Path:
    """MODEL as the app side can resolve it without an engine: a directory, a hub id in the
    local cache, or a demo that is already built (the served engine loaded it from there)."""
    from console.core.hfcache import ModelNotFound, resolve
    from console.host import demo

    if model == demo.DEMO_NAME:
        if not demo.is_complete(demo.demo_dir()):
            raise RuntimeError("the demo model is not built yet: run `autoglm-console load demo`")
        return demo.demo_dir()
    try:
        return resolve(model)
    except ModelNotFound as exc:
        raise RuntimeError(str(exc)) from None


def _served_version(base: str) -> str | None:
    """The server's own version where it says (vLLM and SGLang answer `/version`)."""
    try:
        doc = _http_json(f"{base}/version", timeout=10.0)
    except (OSError, ValueError):
        return None
    version = doc.get("version") if isinstance(doc, dict) else None
    return str(version) if version else None


def _canonical_dtype(dtype: str) -> str | None:
    """--dtype as torch names it (None for auto)."""
    return {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}.get(
        dtype, None if dtype == "auto" else dtype)


def _served_dtype(path: Path) -> str | None:
    try:
        cfg = json.loads((path / "config.json").read_text())
    except (OSError, ValueError):
        return None
    value = cfg.get("dtype") or cfg.get("torch_dtype") if isinstance(cfg, dict) else None
    return str(value) if value else None


def write_document(out: Path, model: dict[str, Any], env: dict[str, Any],
                   behaviour: dict[str, Any]) -> dict[str, Any]:
    """Write the fingerprint document to `out` (atomically: a temporary file, then renamed)."""
    from console.core.fingerprint import FINGERPRINT_SCHEMA

    doc = {"schema": FINGERPRINT_SCHEMA, "created": time.time(), "model": model, "env": env,
           "behaviour": behaviour}
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1, ensure_ascii=True))
    os.replace(tmp, out)
    return doc


def run(args: argparse.Namespace, config: Config) -> int:
    from console.core.probes import TOP_K
    from console.core.termsafe import safe_line
    from console.host.weighthash import WeightHashError

    top_k = args.top_k if args.top_k is not None else TOP_K
    if not 1 <= top_k <= 20:
        raise ConfigError("--top-k", str(top_k), "must be between 1 and 20")
    engine = args.engine or ("local" if args.url is None else "openai")
    if engine == "local" and args.url is not None:
        raise ConfigError("--url", args.url, "a URL needs --engine vllm, sglang or transformers")
    if engine != "local" and args.url is None:
        raise ConfigError("--engine", engine, "pass --url of the server that serves the model "
                          "(start one with `autoglm-console serve`)")
    out = Path(args.out)
    if out.parent and not out.parent.is_dir():
        raise ConfigError("--out", args.out, f"the directory {out.parent} does not exist")
    t0 = time.perf_counter()
    try:
        model, env, behaviour = _local(args, top_k) if engine == "local" else \
            _served(args, top_k)
    except (RuntimeError, WeightHashError, TimeoutError, OSError, ValueError) as exc:
        why = f"{args.url}: {exc.reason}" if isinstance(exc, urllib.error.URLError) \
            else str(exc)
        print(safe_line(f"autoglm-console fingerprint {args.model}: {why}"), file=sys.stderr)
        return 1
    write_document(out, model, env, behaviour)
    seconds = time.perf_counter() - t0
    tensors = sum(len(f.get("tensors", {})) for f in model["files"])
    summary = {"out": str(out), "seconds": round(seconds, 2), "tensors": tensors,
               "probes": len(behaviour["probes"]), "noise": behaviour["noise"],
               "hash_rate_bytes_per_s": model.get("rate_bytes_per_s")}
    if args.json:
        print(json.dumps(summary))
    else:
        print(safe_line(f"fingerprint written to {out} in {seconds:.1f} s: {tensors} tensors, "
                        f"{len(behaviour['probes'])} probes, noise floor {behaviour['noise']}"))
    return 0


# ---- the fingerprints the TUI records (V) and offers to compare (C)

FINGERPRINTS_DIR = "fingerprints"


def fingerprint_dir() -> Path:
    """Where the TUI saves the fingerprints it records: the console's data dir."""
    from console.host.paths import data_dir

    return data_dir() / FINGERPRINTS_DIR


def new_fingerprint_path(directory: Path, label: str, now: float) -> Path:
    """A fresh file name for a fingerprint of `label` recorded at `now` (never an existing
    file: a second one in the same second gets a counter)."""
    import re

    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", label).strip("-._")[:60] or "model"
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    path = directory / f"{stem}-{stamp}.json"
    n = 2
    while path.exists():
        path = directory / f"{stem}-{stamp}-{n}.json"
        n += 1
    return path


def recent_fingerprints(directory: Path, limit: int = 8) -> list[Path]:
    """The fingerprint files in `directory`, newest first (at most `limit`)."""
    try:
        files = [(p.stat().st_mtime, p) for p in directory.glob("*.json") if p.is_file()]
    except OSError:
        return []
    return [p for _, p in sorted(files, key=lambda t: (t[0], t[1].name), reverse=True)[:limit]]
