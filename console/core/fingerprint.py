"""Migration check: a model's fingerprint (what it is, where it ran, how it behaves) and the
comparison of two fingerprints into one verdict with its evidence.

A fingerprint is a JSON document (schema `FINGERPRINT_SCHEMA`) written by
`autoglm-console fingerprint`:

- `model`: config / tokenizer file hashes, every weight file's header hash and one content
  hash per tensor (console.host.weighthash), the numerics-relevant config fields;
- `env`: GPU, driver, CUDA, torch, transformers, the engine and its version, dtype, attention;
- `behaviour`: for each probe of a fixed, versioned probe set (console.core.probes), the greedy
  tokens and, at each step, the chosen token's log-probability and the top-k alternatives;
  `noise` is the largest log-probability difference between two runs in the same process
  (the noise floor of the machine itself).

`compare(a, b)` answers, in this order of precedence:
  different_weights   a tensor's bytes differ, or tensors are missing or extra (named);
  different_tokenizer_or_config   a tokenizer or config file differs (named, keys listed);
  identical           same tokens and bit-equal log-probabilities everywhere;
  close               same weights; every difference within the tolerance, and any divergence
                      only where the top two candidates were within the tolerance (a near tie);
  diverged            past the tolerance: the first divergent token in context, the probe, and
                      the likely cause from the environment differences.
`equivalent` (exit 0) is identical or close.

Probe by probe: a probe one side skipped (a prompt longer than the server's context) or only
one side has is listed in `not_compared` with why, never dropped silently; a probe one side
recorded as text only (a server that ignores `logprobs`) is compared on the greedy text, and
the verdict names that side in `logprobs_missing` (such a pair is at best `close`).

Pure: no I/O, no torch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

FINGERPRINT_SCHEMA = "autoglm-console/fingerprint/1"

# Largest log-probability difference (nats) that the precision of each dtype explains on its
# own, for a model of a few dozen layers. Measured on the demo models (docs/migration.md):
# fp32 runs on different kernels (sdpa vs eager) differ by < 1e-4; bf16 against fp32 by up
# to ~0.1. The tolerance of a pair is the coarser dtype's, or 3x the worse rerun noise floor.
DTYPE_TOLERANCE = {"float32": 2e-3, "float16": 0.08, "bfloat16": 0.25}
DEFAULT_TOLERANCE = 0.25
NOISE_FACTOR = 3.0

VERDICTS = ("identical", "close", "different_weights", "different_tokenizer_or_config",
            "diverged", "incomparable")
EQUIVALENT = ("identical", "close")


class FingerprintError(ValueError):
    """A fingerprint file that is not one, or of another schema."""


@dataclass(frozen=True, slots=True)
class Divergence:
    probe: str
    position: int
    context: str  # the text generated before the divergence (both agree on it)
    token_a: str
    token_b: str
    logprob_a: float | None
    logprob_b: float | None
    gap_a: float | None  # top-1 minus top-2 log-probability in A at that step
    gap_b: float | None
    near_tie: bool
    unit: str = "token"  # "character" where one side has text only (no log-probabilities)


@dataclass(frozen=True, slots=True)
class Verdict:
    verdict: str
    summary: str
    equivalent: bool
    tolerance: float
    changed_tensors: tuple[str, ...] = ()
    missing_tensors: tuple[str, ...] = ()  # in A, not in B
    extra_tensors: tuple[str, ...] = ()  # in B, not in A
    changed_files: tuple[str, ...] = ()
    config_changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    max_logprob_diff: float | None = None
    logprob_diff_p50: float | None = None
    logprob_diff_p99: float | None = None
    steps_compared: int = 0
    first_divergence: Divergence | None = None
    divergences: int = 0
    env_changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    likely_causes: tuple[str, ...] = ()
    # Probes not compared, each with why (one side skipped it, or only one side has it).
    not_compared: tuple[tuple[str, str], ...] = ()
    # The sides that recorded no log-probabilities (a server that ignores `logprobs`), as
    # "B (transformers at http://...)": their probes were compared on the greedy text alone.
    logprobs_missing: tuple[str, ...] = ()
    text_only_probes: int = 0

    @property
    def exit_code(self) -> int:
        return 0 if self.equivalent else 1

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["config_changes"] = {k: list(v) for k, v in self.config_changes.items()}
        out["env_changes"] = {k: list(v) for k, v in self.env_changes.items()}
        out["not_compared"] = [list(x) for x in self.not_compared]
        return out


def validate(doc: Any, name: str = "fingerprint") -> dict[str, Any]:
    """The document if it is a fingerprint of this schema; else one clear `FingerprintError`."""
    if not isinstance(doc, dict):
        raise FingerprintError(f"{name}: not a JSON object (is it a fingerprint file?)")
    schema = doc.get("schema")
    if schema != FINGERPRINT_SCHEMA:
        raise FingerprintError(
            f"{name}: schema {schema!r}, expected {FINGERPRINT_SCHEMA!r}: record it again with "
            "this version's `autoglm-console fingerprint`")
    for key in ("model", "env", "behaviour"):
        if not isinstance(doc.get(key), dict):
            raise FingerprintError(f"{name}: field {key!r} missing or not an object")
    probes = doc["behaviour"].get("probes")
    if not isinstance(probes, list):
        raise FingerprintError(f"{name}: field 'behaviour.probes' missing or not a list")
    return doc


def _tensors(doc: Mapping[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for f in doc["model"].get("files", []):
        if isinstance(f, dict) and isinstance(f.get("tensors"), dict):
            out.update({str(k): str(v) for k, v in f["tensors"].items()})
    return out


def _file_hashes(doc: Mapping[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for group in ("config", "tokenizer"):
        files = doc["model"].get(group, {})
        if isinstance(files, dict):
            out.update({str(k): str(v) for k, v in files.items()})
    return out


def _weight_files(doc: Mapping[str, Any]) -> dict[str, str]:
    """Non-safetensors weight files (pickles, gguf) compare by their whole-file hash."""
    out: dict[str, str] = {}
    for f in doc["model"].get("files", []):
        if isinstance(f, dict) and f.get("sha256"):
            out[str(f.get("name"))] = str(f["sha256"])
    return out


def _diff_maps(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}


def tolerance_for(a: Mapping[str, Any], b: Mapping[str, Any]) -> float:
    dtypes = [str(d.get("env", {}).get("dtype", "")) for d in (a, b)]
    tol = max(DTYPE_TOLERANCE.get(d, DEFAULT_TOLERANCE) for d in dtypes)
    noises = [d.get("behaviour", {}).get("noise") for d in (a, b)]
    worst = max((float(n) for n in noises if isinstance(n, (int, float)) and math.isfinite(n)),
                default=0.0)
    return max(tol, NOISE_FACTOR * worst)


def _alts(step: Mapping[str, Any], by_id: bool) -> dict[Any, float]:
    """The step's top-k alternatives keyed as the comparison keys tokens: id or text."""
    out: dict[Any, float] = {}
    for t in step.get("top") or []:
        if isinstance(t, (list, tuple)) and len(t) >= 2 and isinstance(t[1], (int, float)):
            key = t[2] if by_id and len(t) >= 3 else str(t[0])
            out.setdefault(key, float(t[1]))
    return out


def _named(step: Mapping[str, Any], other: Mapping[str, Any], by_id: bool) -> str:
    """The step's token as text: a server that names tokens by id only (vLLM's
    `token_id:N`) gets the text the other side's alternatives give that id, where they do."""
    text = str(step.get("token"))
    if by_id and text.startswith("token_id:"):
        for alt in (*(other.get("top") or []), *(step.get("top") or [])):
            if isinstance(alt, (list, tuple)) and len(alt) >= 3 and alt[2] == step.get("id") \
                    and not str(alt[0]).startswith("token_id:"):
                return str(alt[0])
    return text


def _gap(step: Mapping[str, Any]) -> float | None:
    lps = sorted(_alts(step, False).values(), reverse=True)
    return lps[0] - lps[1] if len(lps) >= 2 else None


def _percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))]


ENV_CAUSES = (
    ("dtype", "the dtype differs ({a} vs {b}): rounding changes every logit"),
    ("attn_implementation", "the attention kernel differs ({a} vs {b})"),
    ("gpu", "the GPU differs ({a} vs {b}): other kernels and reduction orders"),
    ("device", "the device differs ({a} vs {b}): CPU and GPU kernels round differently"),
    ("engine", "the engine differs ({a} vs {b}): its own kernels, batching and sampling path"),
    ("torch", "torch differs ({a} vs {b})"),
    ("transformers", "transformers differs ({a} vs {b}): model code or defaults may have changed"),
    ("engine_version", "the engine's version differs ({a} vs {b})"),
    ("cuda", "CUDA differs ({a} vs {b})"),
    ("driver", "the driver differs ({a} vs {b})"),
)


def has_logprobs(probe: Mapping[str, Any]) -> bool:
    """False for a probe recorded as text only (the server returned no log-probabilities)."""
    return probe.get("logprobs") is not False


def probe_text(probe: Mapping[str, Any]) -> str:
    """The probe's answer as one decoded text: what the server returned, or the engine's
    whole-sequence decode (older fingerprints: the steps' texts joined)."""
    for key in ("decoded", "text"):
        if isinstance(probe.get(key), str) and (key == "decoded" or not probe.get("steps")):
            return str(probe[key])
    return "".join(str(s.get("token")) for s in probe.get("steps") or [])


def _text_divergence(pid: str, ta: str, tb: str) -> Divergence | None:
    if ta == tb:
        return None
    i = next((k for k, (x, y) in enumerate(zip(ta, tb, strict=False)) if x != y),
             min(len(ta), len(tb)))
    return Divergence(pid, i, ta[:i][-200:], ta[i:i + 12] or "<end>", tb[i:i + 12] or "<end>",
                      None, None, None, None, False, unit="character")


@dataclass(slots=True)
class _Compared:
    diffs: list[float] = field(default_factory=list)
    divs: list[Divergence] = field(default_factory=list)
    steps: int = 0
    not_compared: list[tuple[str, str]] = field(default_factory=list)
    text_only: int = 0
    compared: int = 0


def _compare_behaviour(a: Mapping[str, Any], b: Mapping[str, Any], tol: float) -> _Compared:
    pa = {str(p.get("id")): p for p in a["behaviour"]["probes"] if isinstance(p, dict)}
    pb = {str(p.get("id")): p for p in b["behaviour"]["probes"] if isinstance(p, dict)}
    out = _Compared()
    diffs, divs = out.diffs, out.divs
    steps = 0
    for pid in sorted(set(pa) | set(pb)):
        if pid not in pb or pid not in pa:
            out.not_compared.append((pid, f"only {'A' if pid in pa else 'B'} has it"))
            continue
        skipped = [(side, str(p.get("skipped"))) for side, p in (("A", pa[pid]),
                                                                 ("B", pb[pid]))
                   if p.get("skipped")]
        if skipped:
            out.not_compared.append((pid, "; ".join(f"{side} skipped it: {why}"
                                                    for side, why in skipped)))
            continue
        out.compared += 1
        if not (has_logprobs(pa[pid]) and has_logprobs(pb[pid])):
            # A side without log-probabilities: the greedy answers' texts, character by
            # character (no near-tie test is possible without the probabilities).
            out.text_only += 1
            ta, tb = probe_text(pa[pid]), probe_text(pb[pid])
            steps += max(len(pa[pid].get("steps") or []), len(pb[pid].get("steps") or []))
            div = _text_divergence(pid, ta, tb)
            if div is not None:
                divs.append(div)
            continue
        sa, sb = pa[pid].get("steps") or [], pb[pid].get("steps") or []
        # Token ids when both sides recorded them (the same tokenizer); else the token text
        # (an OpenAI-API server reports text): several byte tokens decode to the same text.
        by_id = all("id" in s for s in (*sa, *sb))
        for i, (x, y) in enumerate(zip(sa, sb, strict=False)):
            steps += 1
            ka, kb = (x.get("id"), y.get("id")) if by_id else (str(x.get("token")),
                                                                 str(y.get("token")))
            la, lb = x.get("logprob"), y.get("logprob")
            alt_a, alt_b = _alts(x, by_id), _alts(y, by_id)
            if ka != kb:
                # A near tie: on both sides the other side's token was within the tolerance
                # of the chosen one (drift flipped a coin that was already on its edge).
                near = (
                    isinstance(la, (int, float)) and kb in alt_a
                    and float(la) - alt_a[kb] <= tol
                    and isinstance(lb, (int, float)) and ka in alt_b
                    and float(lb) - alt_b[ka] <= tol
                )
                context = "".join(str(s.get("token")) for s in sa[:i])
                divs.append(Divergence(pid, i, context[-200:], _named(x, y, by_id),
                                       _named(y, x, by_id),
                                       float(la) if isinstance(la, (int, float)) else None,
                                       float(lb) if isinstance(lb, (int, float)) else None,
                                       _gap(x), _gap(y), bool(near)))
                break  # after a divergence the contexts differ: nothing more to compare
            if isinstance(la, (int, float)) and isinstance(lb, (int, float)):
                diffs.append(abs(float(la) - float(lb)))
            # The alternatives both sides list, too: drift shows there before it flips a token.
            diffs.extend(abs(v - alt_b[k]) for k, v in alt_a.items() if k in alt_b)
        if len(sa) != len(sb) and not (divs and divs[-1].probe == pid):
            n = min(len(sa), len(sb))
            longer = sa if len(sa) > len(sb) else sb
            ta = str(sa[n].get("token")) if len(sa) > n else "<end>"
            tb = str(sb[n].get("token")) if len(sb) > n else "<end>"
            context = "".join(str(s.get("token")) for s in longer[:n])
            divs.append(Divergence(pid, n, context[-200:], ta, tb, None, None, None, None, False))
    out.steps = steps
    return out


def _engine_of(doc: Mapping[str, Any]) -> str:
    env = doc.get("env", {})
    engine = str(env.get("engine") or "unknown engine")
    return f"{engine} at {env['url']}" if env.get("url") else engine


def compare(a: Mapping[str, Any], b: Mapping[str, Any]) -> Verdict:
    """One verdict for two validated fingerprints (A is the reference)."""
    tol = tolerance_for(a, b)
    env_changes = _diff_maps(a.get("env", {}), b.get("env", {}))
    for key in ("created", "requested_device"):  # what the CLI was asked; `device` is the fact
        env_changes.pop(key, None)
    ta, tb = _tensors(a), _tensors(b)
    changed = tuple(sorted(k for k in set(ta) & set(tb) if ta[k] != tb[k]))
    missing = tuple(sorted(set(ta) - set(tb)))
    extra = tuple(sorted(set(tb) - set(ta)))
    wa, wb = _weight_files(a), _weight_files(b)
    changed_weight_files = tuple(sorted(k for k in set(wa) | set(wb) if wa.get(k) != wb.get(k)))
    if changed or missing or extra or changed_weight_files:
        parts = []
        if changed:
            parts.append(f"{len(changed)} tensor(s) changed: {', '.join(changed[:5])}"
                         + (" ..." if len(changed) > 5 else ""))
        if missing:
            parts.append(f"{len(missing)} missing in B: {', '.join(missing[:5])}")
        if extra:
            parts.append(f"{len(extra)} only in B: {', '.join(extra[:5])}")
        if changed_weight_files:
            parts.append(f"weight files differ: {', '.join(changed_weight_files)}")
        return Verdict("different_weights", "different weights: " + "; ".join(parts), False, tol,
                       changed_tensors=changed, missing_tensors=missing, extra_tensors=extra,
                       changed_files=changed_weight_files, env_changes=env_changes)
    fa, fb = _file_hashes(a), _file_hashes(b)
    changed_files = tuple(sorted(k for k in set(fa) | set(fb) if fa.get(k) != fb.get(k)))
    config_changes = _diff_maps(a["model"].get("config_fields", {}),
                                b["model"].get("config_fields", {}))
    if changed_files or config_changes:
        what = ", ".join(changed_files) or "config fields"
        keys = f" (config keys: {', '.join(config_changes)})" if config_changes else ""
        return Verdict("different_tokenizer_or_config",
                       f"same weights, different tokenizer or config: {what}{keys}", False, tol,
                       changed_files=changed_files, config_changes=config_changes,
                       env_changes=env_changes)
    va, vb = a["behaviour"].get("probe_set"), b["behaviour"].get("probe_set")
    if va != vb:
        return Verdict("incomparable", f"probe sets differ ({va} vs {vb}): record both with the "
                       "same version", False, tol, env_changes=env_changes)
    cmp = _compare_behaviour(a, b, tol)
    diffs, divs, steps = cmp.diffs, cmp.divs, cmp.steps
    mx = max(diffs, default=0.0)
    p50, p99 = _percentile(diffs, 0.5), _percentile(diffs, 0.99)
    first = divs[0] if divs else None
    hard = [d for d in divs if not d.near_tie]
    missing = tuple(f"{side} ({_engine_of(d)})" for side, d in (("A", a), ("B", b))
                    if any(isinstance(p, dict) and not has_logprobs(p)
                           for p in d["behaviour"]["probes"]))
    common = {"max_logprob_diff": mx if diffs else None, "logprob_diff_p50": p50,
              "logprob_diff_p99": p99, "steps_compared": steps, "first_divergence": first,
              "divergences": len(divs), "env_changes": env_changes,
              "not_compared": tuple(cmp.not_compared), "logprobs_missing": missing,
              "text_only_probes": cmp.text_only}
    left_out = (f"; {len(cmp.not_compared)} probe(s) not compared"
                if cmp.not_compared else "")
    if cmp.compared == 0:
        return Verdict("incomparable", "no probe could be compared" + left_out, False, tol,
                       **common)  # type: ignore[arg-type]
    if not divs and mx == 0.0 and not cmp.text_only:
        return Verdict("identical", f"identical: same weights, same tokens and log-probabilities "
                       f"over {steps} steps{left_out}", True, tol,
                       **common)  # type: ignore[arg-type]
    if not hard and mx <= tol:
        tie = f"; {len(divs)} divergence(s), all at near ties" if divs else ""
        text = (f"; {cmp.text_only} probe(s) on the greedy text only ({' and '.join(missing)} "
                "recorded no log-probabilities): the same text") if cmp.text_only else ""
        head = (f"largest log-probability difference {mx:.3g} within the tolerance {tol:.3g}"
                if diffs else "no log-probabilities to compare")
        return Verdict("close", f"same weights, numerically close: {head}{tie}{text}{left_out}",
                       True, tol, **common)  # type: ignore[arg-type]
    causes = []
    for key, text in ENV_CAUSES:
        if key in env_changes:
            x, y = env_changes[key]
            causes.append(text.format(a=x, b=y))
    if not causes:
        causes.append("nothing in the recorded environment differs: suspect the serving path "
                      "(chat template, sampling defaults) or a non-deterministic kernel")
    if first is not None and first.unit == "character":
        causes.append(f"{' and '.join(missing)} recorded no log-probabilities: whether this "
                      "is a near tie cannot be told; fingerprint that engine with log-"
                      "probabilities to know")
    where = (f"probe {first.probe!r} {first.unit} {first.position}: {first.token_a!r} vs "
             f"{first.token_b!r}" if first
             else f"largest log-probability difference {mx:.3g} > {tol:.3g}")
    return Verdict("diverged", f"diverged past the tolerance {tol:.3g} at {where}{left_out}",
                   False, tol, likely_causes=tuple(causes), **common)  # type: ignore[arg-type]


def served_noise(run1: Sequence[Mapping[str, Any]], run2: Sequence[Mapping[str, Any]]) -> \
        float | None:
    """The noise floor of two runs of the probe set on one server (steps keyed by token
    text): the largest log-probability difference where both chose the same token; None
    when a token flipped between the runs (a server that is not deterministic at temperature
    0, e.g. batching with other requests)."""
    worst = 0.0
    for p, q in zip(run1, run2, strict=False):
        if not (has_logprobs(p) and has_logprobs(q)) and probe_text(p) != probe_text(q):
            return None
        for x, y in zip(p.get("steps") or [], q.get("steps") or [], strict=False):
            if x.get("token") != y.get("token"):
                return None
            la, lb = x.get("logprob"), y.get("logprob")
            if isinstance(la, (int, float)) and isinstance(lb, (int, float)):
                worst = max(worst, abs(float(la) - float(lb)))
    return worst


def render_text(v: Verdict) -> list[str]:
    """The verdict as plain lines (the CLI and the TUI card share them)."""
    lines = [f"verdict: {v.verdict} (exit {v.exit_code})", v.summary]
    if v.max_logprob_diff is not None:
        lines.append(f"log-probability difference: max {v.max_logprob_diff:.3g}, p50 "
                     f"{v.logprob_diff_p50:.3g}, p99 {v.logprob_diff_p99:.3g} over "
                     f"{v.steps_compared} steps (tolerance {v.tolerance:.3g})")
    for side in v.logprobs_missing:
        lines.append(f"log-probabilities: {side} has none; {v.text_only_probes} probe(s) "
                     "compared on the greedy text only")
    d = v.first_divergence
    if d is not None:
        lines.append(f"first divergence: probe {d.probe!r}, {d.unit} {d.position}: "
                     f"{d.token_a!r} vs {d.token_b!r}" + (" (a near tie)" if d.near_tie else ""))
        if d.context:
            lines.append(f"  after: ...{d.context[-80:]!r}")
    for pid, why in v.not_compared:
        lines.append(f"probe {pid!r} not compared: {why}")
    for name in v.changed_tensors[:20]:
        lines.append(f"changed tensor: {name}")
    for name in v.missing_tensors[:20]:
        lines.append(f"missing tensor (in A only): {name}")
    for name in v.extra_tensors[:20]:
        lines.append(f"extra tensor (in B only): {name}")
    for name in v.changed_files:
        lines.append(f"changed file: {name}")
    for key, (x, y) in v.config_changes.items():
        lines.append(f"config {key}: {x!r} -> {y!r}")
    for key, (x, y) in v.env_changes.items():
        lines.append(f"environment {key}: {x!r} -> {y!r}")
    for cause in v.likely_causes:
        lines.append(f"likely cause: {cause}")
    return lines
