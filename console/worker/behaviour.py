"""How a loaded model behaves over the probe set: greedy tokens and top-k log-probabilities.

Engine side (torch). Each probe goes through the model's chat template (as a served engine's
/v1/chat/completions would apply it), is generated greedily, and every step records the chosen
token (its id, and its text: the form an OpenAI-API server reports), its log-probability and
the top-k alternatives (`[text, logprob, id]`) from the raw logits (`output_logits`, before any
logits processor). The whole set is run twice in the process; the largest difference between
the two runs is the noise floor.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from console.core.probes import Probe

# Builds the model inputs of an image probe (the image engine provides it); None: text only.
ImageInputs = Callable[[Probe], dict[str, Any]]


def _text_inputs(tok: Any, prompt: str) -> dict[str, Any]:
    if getattr(tok, "chat_template", None):
        enc = tok.apply_chat_template([{"role": "user", "content": prompt}],
                                      add_generation_prompt=True, return_tensors="pt",
                                      return_dict=True)
    else:
        enc = tok(prompt, return_tensors="pt")
    return dict(enc)


def _token_text(tok: Any, token_id: int) -> str:
    return str(tok.decode([token_id], skip_special_tokens=False,
                          clean_up_tokenization_spaces=False))


def run_probe(model: Any, tok: Any, probe: Probe, top_k: int, torch: Any, *,
              image_inputs: ImageInputs | None = None) -> dict[str, Any]:
    enc = image_inputs(probe) if probe.images and image_inputs is not None \
        else _text_inputs(tok, probe.prompt)
    enc = {k: (v.to(model.device) if hasattr(v, "to") else v) for k, v in enc.items()}
    n_prompt = int(enc["input_ids"].shape[-1])
    kwargs: dict[str, Any] = {"max_new_tokens": probe.max_new_tokens, "do_sample": False,
                              "output_logits": True, "return_dict_in_generate": True}
    if getattr(model.generation_config, "pad_token_id", None) is None:
        pad = tok.pad_token_id if getattr(tok, "pad_token_id", None) is not None \
            else getattr(tok, "eos_token_id", None)
        if pad is not None:
            kwargs["pad_token_id"] = pad
    # Greedy means greedy: no sampling knobs inherited from the checkpoint's config.
    for key in ("temperature", "top_p", "top_k"):
        kwargs[key] = None
    with torch.inference_mode():
        out = model.generate(**enc, **kwargs)
    ids = out.sequences[0, n_prompt:].tolist()
    steps: list[dict[str, Any]] = []
    for i, logits in enumerate(out.logits):
        if i >= len(ids):
            break
        lp = torch.log_softmax(logits[0].float(), dim=-1)
        vals, idx = torch.topk(lp, k=min(top_k, lp.shape[-1]))
        chosen = int(ids[i])
        steps.append({
            "id": chosen,
            "token": _token_text(tok, chosen),
            "logprob": float(lp[chosen]),
            "top": [[_token_text(tok, int(j)), float(v), int(j)]
                    for v, j in zip(vals.tolist(), idx.tolist(), strict=True)],
        })
    del out
    text = "".join(s["token"] for s in steps)
    # The whole answer decoded at once, as a served engine returns it (bytes split over
    # tokens join up; special tokens left out): what a server without log-probabilities
    # is compared on.
    decoded = str(tok.decode(ids[:len(steps)], skip_special_tokens=True))
    return {"id": probe.id, "prompt_tokens": n_prompt, "images": list(probe.images),
            "steps": steps, "text": text, "decoded": decoded}


def noise_floor(run1: Sequence[dict[str, Any]], run2: Sequence[dict[str, Any]]) -> float:
    """Largest |log-prob difference| between two runs over the steps where both agree."""
    worst = 0.0
    for p, q in zip(run1, run2, strict=False):
        for x, y in zip(p["steps"], q["steps"], strict=False):
            if x["id"] != y["id"]:
                return math.inf  # a token flipped inside one process: report it as it is
            worst = max(worst, abs(x["logprob"] - y["logprob"]))
    return worst


def record(model: Any, tok: Any, probes: Sequence[Probe], top_k: int, torch: Any, *,
           image_inputs: ImageInputs | None = None,
           on_probe: Callable[[int, int, str], None] | None = None) -> dict[str, Any]:
    """Run the probe set twice; return the first run and the noise floor between the two."""
    runs: list[list[dict[str, Any]]] = []
    total = 2 * len(probes)
    for r in range(2):
        results = []
        for i, probe in enumerate(probes):
            if on_probe is not None:
                on_probe(r * len(probes) + i, total, probe.id)
            results.append(run_probe(model, tok, probe, top_k, torch, image_inputs=image_inputs))
        runs.append(results)
    noise = noise_floor(runs[0], runs[1])
    return {"probes": runs[0], "noise": noise if math.isfinite(noise) else None,
            "noise_token_flip": not math.isfinite(noise)}


def runtime_env(model: Any, torch: Any) -> dict[str, Any]:
    """Where the probes ran, as the engine sees it: versions, device, dtype, attention."""
    import platform

    import transformers

    device = str(getattr(model, "device", "cpu"))
    env: dict[str, Any] = {
        "engine": "transformers", "engine_version": transformers.__version__,
        "torch": torch.__version__, "transformers": transformers.__version__,
        "cuda": getattr(torch.version, "cuda", None), "device": device,
        "dtype": str(getattr(model, "dtype", "")).replace("torch.", ""),
        "attn_implementation": getattr(getattr(model, "config", None), "_attn_implementation",
                                       None),
        "python": platform.python_version(), "machine": platform.machine(),
    }
    if device.startswith("cuda"):
        idx = torch.device(device).index or 0
        env["gpu"] = torch.cuda.get_device_name(idx)
        env["gpu_capability"] = ".".join(map(str, torch.cuda.get_device_capability(idx)))
        env["driver"] = _driver_version()
    else:
        env["gpu"] = None
    return env


def _driver_version() -> str | None:
    from console.host.nvml import nvml, text

    nv = nvml()
    if nv.start() is not None:
        return None
    try:
        return text(nv.call("nvmlSystemGetDriverVersion"))
    finally:
        nv.shutdown()
