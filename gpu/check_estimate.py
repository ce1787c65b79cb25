#!/usr/bin/env python3
"""GPU check for the memory estimate (console/core/estimate.py): predicted vs measured peak.

    python3 gpu/check_estimate.py --out DIR [--only NAME[,NAME]] [--quick] [--budget-s S]
    python3 gpu/check_estimate.py --refit-from DIR/estimate.json     (no GPU: the split fit only)

For random-weight models shaped like Llama-3-8B, Qwen2.5-7B, Mistral-7B (v0.1: 4096-token
sliding window), GLM-4-9B, AutoGLM-Phone-9B (glm4v, GLM-4.1V-9B-Thinking geometry: the
transformers Glm4vConfig defaults, 10.29 B parameters) and GPT-2 (124M; its 1024 positions
stretched to 16384 for the 2k / 16k cases, plus the stock shape at 1024), in bf16 and fp32,
with prefill contexts of 2k and 16k tokens:

1. the estimate is computed from the config and the model's tensor specs (the same code path
   as safetensors headers: `TensorSpec(name, dtype, shape)`), built on the meta device in
   this parent process (no CUDA here);
2. a case the estimate says cannot fit in this GPU's free memory is skipped and reported;
3. each other case runs in a fresh forked child: CUDA context, the model built on the GPU
   from its config (each tensor allocated on its own, like a load that grows tensor by
   tensor), then one `generate` of 4 new tokens after a prompt of (context - 4) tokens. Measured:
   the GPU's NVML
   used memory minus its value before the child touched CUDA (the engine's NVML usage; the
   GPU is otherwise idle), after the load and its peak during the generate (a thread polls
   NVML every ~0.5 ms; the caching allocator only grows during a generate, so the value
   after it is the peak as well), cross-checked with torch.cuda.max_memory_reserved + the
   non-torch part (NVML - reserved).
4. pass: -2% <= (predicted - measured) / measured <= +5% for the peak, with the shipped
   constants (fitted on an H100: out of sample on any other run);
5. the split fit (console/core/estimate_fit.py, issue 19 item 3): the measured cases split in
   two halves (sorted by model, dtype, context; alternating within each model), the constants
   (CUDA context, kernels outside the pool, cuBLAS workspace: medians of what each child
   measured; the fragmentation factor: the least worst error with none under -2%, on the
   half's cases off sdpa's math kernel; then the math kernel's extra x one fp32 score tensor,
   same rule, on its math-kernel cases) fitted on one half and scored on the other, both
   ways. Printed and written to DIR/estimate_split.md.

The cases run most informative first (`ordered_cases`); `--budget-s` starts no case once the
budget is spent, or when the longest case so far would end past it, and lists what was not
run. Each case prints its time (build on the GPU, generate).

Also records which sdpa kernels accept fp32 with GQA (the estimate assumes: math only).
Writes DIR/estimate.json, prints a table, exits 1 if a case fails or errors.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import multiprocessing as mp
import os
import sys
import threading
import time
import traceback
from dataclasses import asdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# torch.cuda.is_available() through NVML: the parent must not initialise CUDA before forking.
os.environ.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

from console.core import estimate as est  # noqa: E402  (pure: no torch)
from console.core import estimate_fit as fit  # noqa: E402  (pure: no torch)

GIB = 1024**3
MIB = 1024**2
LOWER_PCT, UPPER_PCT = -2.0, 5.0
CASE_TIMEOUT_S = 150
BUDGET_GRACE_S = 45  # with --budget-s, a case started near the end may run this far past it
MIN_CASE_TIMEOUT_S = 30
NEW_TOKENS = 4


def log(msg: str) -> None:
    print(msg, flush=True)


# ----------------------------------------------------------------------------------------------
# Model shapes (real sizes)

def model_configs() -> dict[str, Any]:
    import transformers as tf

    return {
        "llama3-8b": tf.LlamaConfig(
            vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
            num_attention_heads=32, num_key_value_heads=8, max_position_embeddings=8192,
            rope_theta=500000.0, tie_word_embeddings=False, bos_token_id=128000,
            eos_token_id=128001,
        ),
        "qwen2.5-7b": tf.Qwen2Config(
            vocab_size=152064, hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
            num_attention_heads=28, num_key_value_heads=4, max_position_embeddings=32768,
            rope_theta=1000000.0, tie_word_embeddings=False, use_sliding_window=False,
            sliding_window=131072, bos_token_id=151643, eos_token_id=151645,
        ),
        "mistral-7b": tf.MistralConfig(
            vocab_size=32000, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
            num_attention_heads=32, num_key_value_heads=8, max_position_embeddings=32768,
            sliding_window=4096, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2,
        ),
        "glm-4-9b": tf.GlmConfig(
            vocab_size=151552, hidden_size=4096, intermediate_size=13696, num_hidden_layers=40,
            num_attention_heads=32, num_key_value_heads=2, head_dim=128,
            partial_rotary_factor=0.5, attention_bias=True, max_position_embeddings=131072,
            tie_word_embeddings=False, pad_token_id=151329, eos_token_id=[151329, 151336, 151338],
        ),
        # GLM-4.1V-9B-Thinking / AutoGLM-Phone-9B: the Glm4vConfig defaults are its geometry;
        # its rotary is partial (0.5) with mrope sections [8, 12, 12].
        "autoglm-phone-9b": tf.Glm4vConfig(
            tie_word_embeddings=False,
            text_config={
                "partial_rotary_factor": 0.5, "max_position_embeddings": 65536,
                "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0,
                                    "mrope_section": [8, 12, 12], "partial_rotary_factor": 0.5},
            },
        ),
        "gpt2-16k": tf.GPT2Config(n_positions=16384),
        "gpt2": tf.GPT2Config(),
    }


def model_class(config: Any) -> Any:
    import transformers as tf

    if config.model_type == "glm4v":
        return tf.AutoModelForImageTextToText
    return tf.AutoModelForCausalLM


CASES: list[tuple[str, str, int]] = [
    (name, dtype, ctx)
    for name in ("llama3-8b", "qwen2.5-7b", "mistral-7b", "glm-4-9b", "autoglm-phone-9b",
                 "gpt2-16k")
    for dtype in ("bf16", "fp32")
    for ctx in (2048, 16384)
] + [("gpt2", "bf16", 1024), ("gpt2", "fp32", 1024)]

BIG = ("autoglm-phone-9b", "llama3-8b", "qwen2.5-7b", "glm-4-9b", "mistral-7b")


def ordered_cases() -> list[tuple[str, str, int]]:
    """CASES, the most informative first (a time budget cuts the tail): every 7-9B family once
    in bf16 with the contexts alternating (AutoGLM-Phone-9B first), GPT-2 fp32 at 1k (the H100's
    worst case), then each family's other bf16 context and the 16k GPT-2, so that a cut after
    about a dozen cases still has both contexts of every family; then fp32 at 2k, the other
    GPT-2 cases, and last fp32 at 16k (the math-kernel cases: the slowest and largest)."""
    order: list[tuple[str, str, int]] = []
    for i, name in enumerate(BIG):
        order.append((name, "bf16", 16384 if i % 2 == 0 else 2048))
    order.append(("gpt2", "fp32", 1024))
    for i, name in enumerate(BIG):
        order.append((name, "bf16", 2048 if i % 2 == 0 else 16384))
    order.append(("gpt2-16k", "bf16", 16384))
    order += [(name, "fp32", 2048) for name in BIG]
    order += [("gpt2-16k", "fp32", 16384), ("gpt2-16k", "bf16", 2048),
              ("gpt2-16k", "fp32", 2048), ("gpt2", "bf16", 1024)]
    order += [(name, "fp32", 16384) for name in ("mistral-7b", *BIG[:4])]
    assert sorted(order) == sorted(CASES), "ordered_cases must be a permutation of CASES"
    return order


def tensor_specs(model: Any) -> list[est.TensorSpec]:
    codes = {"torch.bfloat16": "BF16", "torch.float16": "F16", "torch.float32": "F32",
             "torch.int64": "I64", "torch.bool": "BOOL", "torch.float64": "F64"}
    return [est.TensorSpec(name, codes[str(t.dtype)], tuple(t.shape))
            for name, t in model.state_dict().items()]


def predicted(config: Any, dtype: str, ctx: int) -> tuple[est.Estimate, list[est.TensorSpec]]:
    """The estimate from the config and tensor specs of the model built on the meta device."""
    import torch

    torch_dtype = torch.bfloat16 if dtype == "bf16" else torch.float32
    with torch.device("meta"):
        model = model_class(config).from_config(config, dtype=torch_dtype)
    specs = tensor_specs(model)
    del model
    cfg = config.to_dict()
    cfg["dtype"] = "bfloat16" if dtype == "bf16" else "float32"
    return est.estimate(cfg, specs, dtype=dtype, context=ctx, batch=1, device="cuda:0"), specs


# ----------------------------------------------------------------------------------------------
# NVML

def nvml_used(handle: Any) -> int:
    import pynvml

    return int(pynvml.nvmlDeviceGetMemoryInfo(handle).used)


def gpu_memory() -> tuple[int, int, str]:
    import pynvml

    pynvml.nvmlInit()
    try:
        h = pynvml.nvmlDeviceGetHandleByIndex(0)
        info = pynvml.nvmlDeviceGetMemoryInfo(h)
        name = pynvml.nvmlDeviceGetName(h)
        return int(info.total), int(info.used), name.decode() if isinstance(name, bytes) else name
    finally:
        pynvml.nvmlShutdown()


class Poller(threading.Thread):
    """Polls NVML device used memory; keeps the maximum."""

    def __init__(self, handle: Any) -> None:
        super().__init__(daemon=True)
        self.handle = handle
        self.max_used = 0
        self.stop_event = threading.Event()
        self.polls = 0

    def run(self) -> None:
        while not self.stop_event.is_set():
            self.max_used = max(self.max_used, nvml_used(self.handle))
            self.polls += 1
            time.sleep(0.0005)


# ----------------------------------------------------------------------------------------------
# One case in a forked child

def run_case(name: str, dtype: str, ctx: int, conn: Any) -> None:
    result: dict[str, Any] = {}
    try:
        import pynvml
        import torch

        sys.setswitchinterval(0.0005)
        pynvml.nvmlInit()
        handle = pynvml.nvmlDeviceGetHandleByIndex(0)
        base = nvml_used(handle)
        torch.zeros(1, device="cuda")
        torch.cuda.synchronize()
        result["context_bytes"] = nvml_used(handle) - base
        result["context_reserved_bytes"] = torch.cuda.memory_reserved()
        outside_pool_context = result["context_bytes"] - result["context_reserved_bytes"]
        config = model_configs()[name]
        torch_dtype = torch.bfloat16 if dtype == "bf16" else torch.float32
        t0 = time.perf_counter()
        with torch.device("cuda"):
            model = model_class(config).from_config(config, dtype=torch_dtype)
        model.eval()
        torch.cuda.synchronize()
        gc.collect()
        torch.cuda.empty_cache()  # init temporaries: a load from disk has none
        result["build_s"] = round(time.perf_counter() - t0, 2)
        result["after_load_nvml_bytes"] = nvml_used(handle) - base
        result["after_load_allocated_bytes"] = torch.cuda.memory_allocated()
        result["after_load_reserved_bytes"] = torch.cuda.memory_reserved()
        # kernels the build loaded (lazy module loading), outside torch's pool
        result["outside_pool_load_bytes"] = (result["after_load_nvml_bytes"]
                                             - result["after_load_reserved_bytes"]
                                             - outside_pool_context)
        result["weights_live_bytes"] = sum(
            t.numel() * t.element_size() for t in {id(p): p
                                                   for p in model.state_dict().values()}.values()
        )
        vocab = getattr(config, "vocab_size", None) or config.text_config.vocab_size
        gen = torch.Generator(device="cuda").manual_seed(0)
        # prompt + NEW_TOKENS = the context (GPT-2's 1024 positions hold the stock case)
        ids = torch.randint(100, vocab - 100, (1, ctx - NEW_TOKENS), device="cuda", generator=gen)
        mask = torch.ones_like(ids)
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        poller = Poller(handle)
        poller.start()
        t0 = time.perf_counter()
        with torch.inference_mode():
            out = model.generate(
                input_ids=ids, attention_mask=mask, max_new_tokens=NEW_TOKENS,
                min_new_tokens=NEW_TOKENS,
                do_sample=False, return_dict_in_generate=True, pad_token_id=0,
            )
        torch.cuda.synchronize()
        result["generate_s"] = round(time.perf_counter() - t0, 2)
        poller.stop_event.set()
        poller.join()
        after = nvml_used(handle) - base
        result["peak_nvml_polled_bytes"] = poller.max_used - base
        result["after_generate_nvml_bytes"] = after
        result["polls"] = poller.polls
        result["max_reserved_bytes"] = torch.cuda.max_memory_reserved()
        result["max_allocated_bytes"] = torch.cuda.max_memory_allocated()
        result["reserved_after_bytes"] = torch.cuda.memory_reserved()
        non_torch = after - torch.cuda.memory_reserved()
        result["non_torch_bytes"] = non_torch
        # what the load and the first generate added outside torch's pool (the estimate's
        # "generate kernels" constant: the split fit takes its median)
        result["outside_pool_added_bytes"] = non_torch - outside_pool_context
        result["peak_crosscheck_bytes"] = torch.cuda.max_memory_reserved() + non_torch
        result["measured_peak_bytes"] = max(poller.max_used - base, after)
        pkv = out.past_key_values
        kv = 0
        for layer in getattr(pkv, "layers", []):
            kv += layer.keys.numel() * layer.keys.element_size()
            kv += layer.values.numel() * layer.values.element_size()
        result["kv_cache_bytes_after"] = kv
        result["kv_tokens_after"] = int(out.sequences.shape[1]) - 1
        stats = torch.cuda.memory_stats()
        result["num_alloc_retries"] = stats.get("num_alloc_retries", 0)
        result["cublas_workspace_bytes"] = cublas_workspace_bytes(torch)
        result["ok"] = True
    except Exception as exc:  # an OOM or anything else: reported, the run goes on
        result["ok"] = False
        result["error"] = f"{type(exc).__name__}: {str(exc)[:400]}"
        result["traceback"] = traceback.format_exc()[-2000:]
    conn.send(result)
    conn.close()


def cublas_workspace_bytes(torch: Any) -> int | None:
    """cuBLAS's workspace inside torch's pool: what clearing it frees (the last thing a case
    does). None when this torch has no way to clear it."""
    clear = getattr(torch._C, "_cuda_clearCublasWorkspaces", None)
    if clear is None:
        return None
    try:
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        clear()
        torch.cuda.synchronize()
        return int(before - torch.cuda.memory_allocated())
    except Exception:  # a private API: the case's other figures must not be lost for it
        return None


def run_in_child(name: str, dtype: str, ctx: int,
                 timeout_s: float = CASE_TIMEOUT_S) -> dict[str, Any]:
    ctx_mp = mp.get_context("fork")
    parent, child = ctx_mp.Pipe(duplex=False)
    proc = ctx_mp.Process(target=run_case, args=(name, dtype, ctx, child))
    proc.start()
    child.close()
    result: dict[str, Any] = {"ok": False, "error": "child died without a result"}
    if parent.poll(timeout_s):
        with contextlib.suppress(EOFError):
            result = parent.recv()
    else:
        result = {"ok": False, "error": f"timed out after {timeout_s:.0f} s"}
    proc.join(10)
    if proc.is_alive():
        proc.kill()
        proc.join()
    if proc.exitcode not in (0, None) and result.get("ok"):
        result["exitcode"] = proc.exitcode
    return result


# ----------------------------------------------------------------------------------------------
# sdpa kernel facts (fp32 + GQA)

def sdpa_probe_child(conn: Any) -> None:
    facts: dict[str, Any] = {}
    try:
        import torch
        from torch.nn.attention import SDPBackend, sdpa_kernel

        for dtype in (torch.float32, torch.bfloat16):
            q = torch.randn(1, 32, 256, 128, device="cuda", dtype=dtype)
            k = torch.randn(1, 8, 256, 128, device="cuda", dtype=dtype)
            for backend in (SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION,
                            SDPBackend.CUDNN_ATTENTION, SDPBackend.MATH):
                key = f"{str(dtype).replace('torch.', '')}_gqa_{backend.name.lower()}"
                try:
                    with sdpa_kernel([backend]):
                        torch.nn.functional.scaled_dot_product_attention(
                            q, k, k, is_causal=True, enable_gqa=True)
                    torch.cuda.synchronize()
                    facts[key] = True
                except Exception as exc:
                    facts[key] = f"no: {str(exc).splitlines()[0][:120]}"
        facts["torch"] = torch.__version__
    except Exception as exc:
        facts["error"] = repr(exc)
    conn.send(facts)
    conn.close()


def sdpa_probe() -> dict[str, Any]:
    ctx_mp = mp.get_context("fork")
    parent, child = ctx_mp.Pipe(duplex=False)
    proc = ctx_mp.Process(target=sdpa_probe_child, args=(child,))
    proc.start()
    child.close()
    facts = parent.recv() if parent.poll(60) else {"error": "timeout"}
    proc.join(10)
    return facts


# ----------------------------------------------------------------------------------------------

def over_budget_now(elapsed_s: float, longest_s: float, budget_s: float | None,
                    already: bool) -> bool:
    """Skip the next case: once one was skipped, or when the longest case so far, started now,
    would end past the budget."""
    if budget_s is None:
        return False
    return already or elapsed_s + longest_s > budget_s


def case_timeout_s(elapsed_s: float, budget_s: float | None) -> float:
    """A case's time limit: CASE_TIMEOUT_S, cut so that a hung case ends at most
    BUDGET_GRACE_S past the budget (at least MIN_CASE_TIMEOUT_S)."""
    if budget_s is None:
        return CASE_TIMEOUT_S
    return min(CASE_TIMEOUT_S, max(MIN_CASE_TIMEOUT_S, budget_s + BUDGET_GRACE_S - elapsed_s))


def estimate_record(estimate: est.Estimate) -> dict[str, Any]:
    """What estimate.json keeps of the prediction: the figures, and the constant-free parts the
    split fit re-predicts with other constants (console.core.estimate_fit)."""
    parts = fit.peak_parts(estimate)
    again = fit.predict_peak(parts, estimate.constants)
    if again != estimate.peak_bytes:  # the split fit must add up like estimate() does
        raise RuntimeError(f"estimate_fit.predict_peak {again} != estimate() {estimate.peak_bytes}")
    return {
        "peak_bytes": estimate.peak_bytes, "after_load_bytes": estimate.after_load_bytes,
        "weights_bytes": estimate.weights.bytes,
        "weights_reserved_bytes": estimate.weights.reserved_bytes,
        "kv_cache_bytes": estimate.kv_cache_bytes,
        "activation_bytes": estimate.activations.total_bytes,
        "attention_kernel": estimate.activations.attention_kernel,
        "activations": {
            "stream": estimate.activations.stream_bytes,
            "attention": estimate.activations.attention_bytes,
            "mlp": estimate.activations.mlp_bytes,
            "logits": estimate.activations.logits_bytes,
        },
        "slack_bytes": estimate.slack_bytes,
        "cuda_context_bytes": estimate.cuda_context_bytes,
        "parts": asdict(parts),
        "constants": asdict(estimate.constants),
        "parameters": estimate.weights.parameters, "notes": list(estimate.notes),
    }


SHIPPED_LABEL = "shipped (H100; math extra: H200 half A)"

# num_attention_heads of each model_configs() model (a unit test checks the two agree): an
# estimate.json from before the math-kernel term lacks parts.math_scores_bytes, and --refit-from
# runs without transformers
ATTENTION_HEADS = {"llama3-8b": 32, "qwen2.5-7b": 28, "mistral-7b": 32, "glm-4-9b": 32,
                   "autoglm-phone-9b": 32, "gpt2": 12, "gpt2-16k": 12}


def math_scores_of(row: Any) -> int:
    """One fp32 score tensor (batch 1 x heads x context^2 x 4) of a recorded math-kernel case."""
    name = row.get("model")
    if name not in ATTENTION_HEADS:
        raise fit.FitError(f"case {row.get('case')!r}: model {name!r} is not one of "
                           f"{', '.join(ATTENTION_HEADS)}: its heads are unknown")
    return int(ATTENTION_HEADS[name] * row["context"] ** 2 * 4)


def print_split_fit(data: dict[str, Any], source: str) -> fit.SplitFit:
    """The split-fit tables of a result (raises fit.FitError with one line)."""
    result = fit.split_fit(fit.cases_from_results(data, source, math_scores=math_scores_of))
    log(f"\nSplit fit ({source}: {len(result.rows)} measured cases; the shipped constants are "
        "the H100 run's of docs/check.md, but the math-kernel extra, fitted on half A of the "
        "H200 run of session 6):\n")
    log(fit.render(result, shipped_label=SHIPPED_LABEL))
    return result


def refit_from(path: Path) -> int:
    """--refit-from: the split-fit analysis of a saved estimate.json, no GPU."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        log(f"{path}: cannot read it as JSON ({exc}): give the estimate.json a run wrote")
        return 2
    try:
        print_split_fit(data, str(path))
    except fit.FitError as exc:
        log(str(exc))
        return 2
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", help="directory for estimate.json and estimate_split.md")
    ap.add_argument("--only", help="comma-separated model names to run")
    ap.add_argument("--quick", action="store_true", help="bf16 at 2k only (a smoke run)")
    ap.add_argument("--budget-s", type=float, default=None,
                    help="start no case once this many seconds have gone (counted from the "
                         "start) or when the longest case so far would end past it; the "
                         "skipped cases are listed")
    ap.add_argument("--refit-from", type=Path, metavar="ESTIMATE_JSON",
                    help="no GPU: redo the split fit from a saved estimate.json and print it")
    args = ap.parse_args()
    if args.refit_from is not None:
        return refit_from(args.refit_from)
    if not args.out:
        ap.error("--out DIR is needed (or --refit-from FILE)")
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    import torch
    import transformers

    total, used0, gpu_name = gpu_memory()
    log(f"GPU {gpu_name}: {total / GIB:.2f} GiB total, {used0 / GIB:.2f} GiB used; "
        f"torch {torch.__version__}, transformers {transformers.__version__}")
    results: dict[str, Any] = {
        "gpu": gpu_name, "total_bytes": total, "used_before_bytes": used0,
        "torch": torch.__version__, "transformers": transformers.__version__,
        "tolerance_pct": [LOWER_PCT, UPPER_PCT], "budget_s": args.budget_s,
        "shipped_constants": asdict(est.SHIPPED_CONSTANTS), "cases": [],
    }
    results["sdpa_probe"] = sdpa_probe()
    log(f"sdpa probe: {results['sdpa_probe']}")
    configs = model_configs()
    only = set(args.only.split(",")) if args.only else None
    failures = 0
    longest_s = 0.0
    over_budget: list[str] = []
    header = (f"{'case':<34}{'params':>8}{'est load':>10}{'meas load':>10}{'est peak':>10}"
              f"{'meas peak':>10}{'diff':>8}  result (shipped constants)")
    budget = "no time budget" if args.budget_s is None else f"time budget {args.budget_s:.0f} s"
    log(f"order ({budget}): " + ", ".join(f"{n} {d} {c}" for n, d, c in ordered_cases()))
    log(header)
    for name, dtype, ctx in ordered_cases():
        if only and name not in only:
            continue
        if args.quick and (dtype != "bf16" or ctx != 2048):
            continue
        label = f"{name} {dtype} ctx {ctx}"
        row: dict[str, Any] = {"case": label, "model": name, "dtype": dtype, "context": ctx}
        elapsed = time.time() - started
        if over_budget_now(elapsed, longest_s, args.budget_s, bool(over_budget)):
            over_budget.append(label)
            row.update(status="not_run", reason=f"time budget {args.budget_s:.0f} s: "
                                                 f"{elapsed:.0f} s gone, longest case "
                                                 f"{longest_s:.0f} s")
            results["cases"].append(row)
            continue
        try:
            estimate, _specs = predicted(configs[name], dtype, ctx)
            row["estimate"] = estimate_record(estimate)
        except Exception as exc:
            row.update(status="error", error=f"estimate: {exc!r}")
            results["cases"].append(row)
            failures += 1
            log(f"{label:<34} estimate failed: {exc!r}")
            continue
        free = total - used0
        if estimate.peak_bytes > free:
            row.update(status="skipped",
                       reason=f"estimate {estimate.peak_bytes / GIB:.1f} GiB > "
                              f"{free / GIB:.1f} GiB free: will not fit")
            results["cases"].append(row)
            log(f"{label:<34}{estimate.weights.parameters / 1e9:>7.2f}B"
                f"{'':>20}{estimate.peak_bytes / GIB:>9.2f}G{'':>10}{'':>8}  skipped (will not "
                "fit)")
            continue
        t0 = time.perf_counter()
        measured = run_in_child(name, dtype, ctx,
                                case_timeout_s(time.time() - started, args.budget_s))
        row["measured"] = measured
        row["wall_s"] = round(time.perf_counter() - t0, 1)
        longest_s = max(longest_s, row["wall_s"])
        timing = (f"{row['wall_s']} s: build {measured.get('build_s', '?')} s, generate "
                  f"{measured.get('generate_s', '?')} s")
        if not measured.get("ok"):
            row.update(status="error", error=measured.get("error"))
            failures += 1
            log(f"{label:<34} ERROR {measured.get('error')} ({timing})")
            results["cases"].append(row)
            continue
        peak = measured["measured_peak_bytes"]
        diff = 100.0 * (estimate.peak_bytes - peak) / peak
        load_diff = 100.0 * (estimate.after_load_bytes - measured["after_load_nvml_bytes"]) / max(
            1, measured["after_load_nvml_bytes"])
        ok = LOWER_PCT <= diff <= UPPER_PCT
        if estimate.geometry.sliding_window is None:  # the cache holds every token: exact
            kv_expected = estimate.kv_bytes_per_token * measured["kv_tokens_after"]
            row["kv_formula_exact"] = kv_expected == measured["kv_cache_bytes_after"]
            if not row["kv_formula_exact"]:
                ok = False
                log(f"  KV formula {kv_expected} != cache {measured['kv_cache_bytes_after']}")
        failures += 0 if ok else 1
        row.update(status="pass" if ok else "fail", peak_diff_pct=round(diff, 2),
                   after_load_diff_pct=round(load_diff, 2),
                   # NVML's peak vs torch's max reserved + the non-torch part (same when the
                   # pool only grew during the generate)
                   crosscheck_diff_bytes=peak - measured["peak_crosscheck_bytes"])
        results["cases"].append(row)
        log(f"{label:<34}{estimate.weights.parameters / 1e9:>7.2f}B"
            f"{estimate.after_load_bytes / GIB:>9.2f}G"
            f"{measured['after_load_nvml_bytes'] / GIB:>9.2f}G"
            f"{estimate.peak_bytes / GIB:>9.2f}G{peak / GIB:>9.2f}G{diff:>+7.1f}%  "
            f"{'pass' if ok else 'FAIL'} ({timing})")
        (out_dir / "estimate.json").write_text(json.dumps(results, indent=2))
    results["elapsed_s"] = round(time.time() - started, 1)
    results["failures"] = failures
    results["not_run"] = over_budget
    if over_budget:
        log(f"time budget {args.budget_s:.0f} s reached: not run: {', '.join(over_budget)}")
    try:
        split = print_split_fit(results, "this run")
        results["split_fit"] = split.to_json_dict()
        (out_dir / "estimate_split.md").write_text(
            fit.render(split, shipped_label=SHIPPED_LABEL))
    except fit.FitError as exc:
        results["split_fit"] = {"error": str(exc)}
        log(f"split fit: {exc}")
    (out_dir / "estimate.json").write_text(json.dumps(results, indent=2))
    ran = [c for c in results["cases"] if c.get("status") in ("pass", "fail")]
    log(f"{len(ran)} cases measured, {sum(c['status'] == 'pass' for c in ran)} pass, "
        f"{sum(c.get('status') == 'skipped' for c in results['cases'])} skipped, "
        f"{len(over_budget)} not run (time budget), "
        f"{failures} failed or errored; {results['elapsed_s']} s; {out_dir / 'estimate.json'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
