"""Split fit of the estimate's constants: fit on one half of the measured cases, score the other.

Pure: no torch, no I/O. The input is what gpu/check_estimate.py writes (estimate.json): per
measured case the predicted parts that do not depend on the fitted constants (`PeakParts`) and
what the GPU run measured (the engine's NVML peak, its CUDA context, what the load and the first
generate added outside torch's pool, cuBLAS's workspace).

The rule (issue 19, item 3: never score a case with constants fitted on it):

1. `split_halves`: the measured cases sorted by (model, dtype, context); within each model the
   cases alternate between the halves A and B. A model's first case goes to the half with fewer
   cases so far; on a tie, to the half the previous model did not start in (so a run of
   two-case models does not put every short context in A). Deterministic, and every model and
   dtype with two cases or more lands in both halves.
2. `fit_constants` on one half: the CUDA context, the kernels outside the pool and cuBLAS's
   workspace are the medians of their measured values; then the fragmentation factor (x the
   largest activation tensor) is the one that minimises the worst |error| of the half's cases
   that do not run sdpa's math kernel, subject to none under-predicted by more than 2%
   (exact: the minimum of a convex piecewise-linear function, found among its breakpoints);
   then, with that factor fixed, the math kernel's extra (x one fp32 score tensor, batch x
   heads x context^2 x 4) by the same rule on the half's math-kernel cases (fp32 with GQA on
   CUDA). Two terms, two disjoint sets of cases: one fragmentation factor for everything was
   misspecified (the H200 run: a half holding an fp32 16k case fitted 15x and over-predicted
   the rest by up to +69%).
3. `split_fit`: A's constants score B, B's constants score A; the shipped constants (fitted on
   another machine) score every case, which is out of sample as well.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from console.core.estimate import SHIPPED_CONSTANTS, Estimate, EstimateConstants

MIB = 1024**2
GIB = 1024**3
LOWER_PCT, UPPER_PCT = -2.0, 5.0
MEASURED_STATUSES = ("pass", "fail")


class FitError(ValueError):
    """The results cannot be split-fitted (names the file, the case and the key)."""


@dataclass(frozen=True, slots=True)
class PeakParts:
    """The parts of a single-GPU peak that the fitted constants do not change."""

    weights_reserved_bytes: int
    kv_cache_bytes: int
    kv_rounding_bytes: int  # the allocator's rounding of the K and V tensors
    activation_bytes: int
    largest_tensor_bytes: int  # the fragmentation factor multiplies this
    math_scores_bytes: int = 0  # one fp32 score tensor on the math kernel (else 0): the
    # math-kernel extra multiplies it


def peak_parts(e: Estimate) -> PeakParts:
    """The constant-free parts of a one-device GPU estimate."""
    if len(e.devices) != 1 or not e.devices[0].device.startswith("cuda"):
        raise FitError(f"peak_parts: one GPU estimate needed, got {[d.device for d in e.devices]}")
    share = e.devices[0]
    fragmentation = int(e.constants.fragmentation_blocks * e.activations.largest_tensor_bytes)
    math_extra = int(e.constants.math_scores_extra * e.activations.math_scores_bytes)
    return PeakParts(
        weights_reserved_bytes=share.weights_bytes, kv_cache_bytes=share.kv_cache_bytes,
        kv_rounding_bytes=share.slack_bytes - fragmentation - math_extra,
        activation_bytes=share.activation_bytes,
        largest_tensor_bytes=e.activations.largest_tensor_bytes,
        math_scores_bytes=e.activations.math_scores_bytes,
    )


def predict_peak(parts: PeakParts, constants: EstimateConstants) -> int:
    """The peak `estimate()` gives for these parts with these constants (same arithmetic)."""
    return (constants.cuda_context_bytes + constants.runtime_bytes
            + parts.weights_reserved_bytes + parts.kv_cache_bytes + parts.activation_bytes
            + int(constants.fragmentation_blocks * parts.largest_tensor_bytes)
            + int(constants.math_scores_extra * parts.math_scores_bytes)
            + parts.kv_rounding_bytes)


@dataclass(frozen=True, slots=True)
class FitCase:
    """One measured case: its predicted parts and what the GPU run measured."""

    case: str
    model: str
    dtype: str
    context: int
    parts: PeakParts
    measured_peak_bytes: int
    context_bytes: int  # NVML used after the child's first CUDA call
    kernels_bytes: int  # outside torch's pool: what the load and the first generate added
    cublas_workspace_bytes: int | None  # freed by clearing cuBLAS's workspaces; None: unknown

    @property
    def math_kernel(self) -> bool:
        """The case ran sdpa's math kernel (fp32 with GQA on CUDA)."""
        return self.parts.math_scores_bytes > 0


def _int_at(row: Mapping[str, Any], path: str, where: str) -> int:
    value: Any = row
    for key in path.split("."):
        if not isinstance(value, Mapping) or key not in value:
            raise FitError(f"{where}: no {path} (a file from before the split fit: re-run "
                           "gpu/check_estimate.py)")
        value = value[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise FitError(f"{where}: {path} is {value!r}, not an integer byte count")
    return value


MathScores = Callable[[Mapping[str, Any]], int]


def cases_from_results(data: Any, source: str = "estimate.json",
                       math_scores: MathScores | None = None) -> list[FitCase]:
    """The measured cases (status pass or fail) of a check_estimate.py result.

    A file written before the math-kernel term has no `parts.math_scores_bytes`: a case whose
    `estimate.attention_kernel` is "math" then takes it from `math_scores(row)` (the caller
    knows the model's heads); without that callback such a file is refused with one line.
    """
    if not isinstance(data, Mapping) or not isinstance(data.get("cases"), list):
        raise FitError(f"{source}: no 'cases' list (not a gpu/check_estimate.py result)")
    out: list[FitCase] = []
    for i, row in enumerate(data["cases"]):
        if not isinstance(row, Mapping):
            raise FitError(f"{source}: cases[{i}] is not an object")
        if row.get("status") not in MEASURED_STATUSES:
            continue
        where = f"{source}: cases[{i}] ({row.get('case', '?')})"
        model, dtype, context = row.get("model"), row.get("dtype"), row.get("context")
        if not isinstance(model, str) or not isinstance(dtype, str) or not isinstance(context, int):
            raise FitError(f"{where}: model, dtype and context must be a string, a string and "
                           "an integer")
        fields = {key: _int_at(row, f"estimate.parts.{key}", where)
                  for key in PeakParts.__dataclass_fields__ if key != "math_scores_bytes"}
        recorded = row.get("estimate", {}).get("parts", {}).get("math_scores_bytes")
        if recorded is not None:
            fields["math_scores_bytes"] = _int_at(row, "estimate.parts.math_scores_bytes", where)
        elif row.get("estimate", {}).get("attention_kernel") == "math":
            if math_scores is None:
                raise FitError(f"{where}: no estimate.parts.math_scores_bytes for a math-kernel "
                               "case (a file from before that term): refit it with "
                               "gpu/check_estimate.py --refit-from, which knows the heads")
            fields["math_scores_bytes"] = math_scores(row)
        parts = PeakParts(**fields)
        measured = row.get("measured")
        cublas_raw = measured.get("cublas_workspace_bytes") if isinstance(measured,
                                                                          Mapping) else None
        cublas = cublas_raw if isinstance(cublas_raw, int) and cublas_raw >= 0 else None
        out.append(FitCase(
            case=str(row.get("case") or f"{model} {dtype} ctx {context}"), model=model,
            dtype=dtype, context=context, parts=parts,
            measured_peak_bytes=_int_at(row, "measured.measured_peak_bytes", where),
            context_bytes=_int_at(row, "measured.context_bytes", where),
            kernels_bytes=_int_at(row, "measured.outside_pool_added_bytes", where),
            cublas_workspace_bytes=cublas,
        ))
    return out


# ----------------------------------------------------------------------------------------------
# The split


def split_halves(cases: Sequence[FitCase]) -> tuple[tuple[FitCase, ...], tuple[FitCase, ...]]:
    """(A, B): see the module docstring. The input order does not matter."""
    ordered = sorted(cases, key=lambda c: (c.model, c.dtype, c.context, c.case))
    a: list[FitCase] = []
    b: list[FitCase] = []
    previous_start = "B"  # so the first model starts in A
    i = 0
    while i < len(ordered):
        j = i
        while j < len(ordered) and ordered[j].model == ordered[i].model:
            j += 1
        if len(a) != len(b):
            start = "A" if len(a) < len(b) else "B"
        else:
            start = "A" if previous_start == "B" else "B"
        previous_start = start
        for k, case in enumerate(ordered[i:j]):
            in_a = (k % 2 == 0) == (start == "A")
            (a if in_a else b).append(case)
        i = j
    return tuple(a), tuple(b)


# ----------------------------------------------------------------------------------------------
# The fit


@dataclass(frozen=True, slots=True)
class FittedConstants:
    constants: EstimateConstants
    cases: int
    worst_under_pct: float  # on the half it was fitted on (in sample)
    worst_over_pct: float
    notes: tuple[str, ...] = ()


def _errors(cases: Sequence[FitCase], constants: EstimateConstants) -> list[float]:
    return [100.0 * (predict_peak(c.parts, constants) - c.measured_peak_bytes)
            / c.measured_peak_bytes for c in cases]


def fit_fragmentation(cases: Sequence[FitCase], constants: EstimateConstants,
                      lower_pct: float = LOWER_PCT) -> tuple[float, bool]:
    """(factor, feasible): the factor >= 0 minimising the worst |error| over `cases` with the
    other constants fixed, subject to no error below `lower_pct`. Infeasible (a case under by
    more than that whatever the factor): the factor is the smallest that minimises the worst
    error."""
    base = replace(constants, fragmentation_blocks=0.0)
    # error_i(f) = a_i + s_i * f, as fractions
    return minimax_factor([((predict_peak(c.parts, base) - c.measured_peak_bytes)
                      / c.measured_peak_bytes,
                      c.parts.largest_tensor_bytes / c.measured_peak_bytes) for c in cases],
                    lower_pct)


def fit_math_extra(cases: Sequence[FitCase], constants: EstimateConstants,
                   lower_pct: float = LOWER_PCT) -> tuple[float, bool]:
    """(extra, feasible): the math-kernel extra (x one score tensor) by the same rule as
    `fit_fragmentation`, the other constants (fragmentation included) fixed."""
    base = replace(constants, math_scores_extra=0.0)
    return minimax_factor([((predict_peak(c.parts, base) - c.measured_peak_bytes)
                      / c.measured_peak_bytes,
                      c.parts.math_scores_bytes / c.measured_peak_bytes) for c in cases],
                    lower_pct)


def minimax_factor(lines: Sequence[tuple[float, float]], lower_pct: float) -> tuple[float, bool]:
    """The f >= 0 minimising max |a + s f| over `lines` with every a + s f >= lower_pct %."""
    floor = lower_pct / 100.0
    lowest = 0.0
    feasible = True
    for a, s in lines:
        if s > 0:
            lowest = max(lowest, (floor - a) / s)
        elif a < floor:
            feasible = False  # no factor lifts a case whose largest tensor is 0
    # the candidates: the bound and every crossing of two of the lines +-(a + s f)
    signed = [(sign * a, sign * s) for a, s in lines for sign in (1.0, -1.0)]
    candidates = {lowest}
    for n, (a1, s1) in enumerate(signed):
        for a2, s2 in signed[n + 1:]:
            if s1 != s2:
                f = (a2 - a1) / (s1 - s2)
                if f >= lowest:
                    candidates.add(f)

    def worst(f: float) -> float:
        return max(abs(a + s * f) for a, s in lines)

    best = min(sorted(candidates), key=worst)
    return best, feasible


def fit_constants(cases: Sequence[FitCase],
                  shipped: EstimateConstants = SHIPPED_CONSTANTS) -> FittedConstants:
    """The constants fitted on `cases` only (see the module docstring)."""
    if not cases:
        raise FitError("no measured case to fit on")
    notes: list[str] = []
    cublas = [c.cublas_workspace_bytes for c in cases if c.cublas_workspace_bytes is not None]
    if cublas:
        cublas_bytes = int(statistics.median(cublas))
    else:
        cublas_bytes = shipped.cublas_workspace_bytes
        notes.append("cuBLAS workspace not measured: the shipped value kept")
    constants = EstimateConstants(
        cuda_context_bytes=int(statistics.median(c.context_bytes for c in cases)),
        generate_kernels_bytes=int(statistics.median(c.kernels_bytes for c in cases)),
        cublas_workspace_bytes=cublas_bytes,
        fragmentation_blocks=0.0, math_scores_extra=0.0,
    )
    plain = [c for c in cases if not c.math_kernel]
    math_cases = [c for c in cases if c.math_kernel]
    if plain:
        factor, feasible = fit_fragmentation(plain, constants)
        if not feasible:
            notes.append("a case is under by more than 2% whatever the fragmentation factor")
    else:
        factor = shipped.fragmentation_blocks
        notes.append("no case off the math kernel: the shipped fragmentation factor kept")
    constants = replace(constants, fragmentation_blocks=factor)
    if math_cases:
        extra, feasible = fit_math_extra(math_cases, constants)
        if not feasible:
            notes.append("a math-kernel case is under by more than 2% whatever the extra")
    else:
        extra = shipped.math_scores_extra
        notes.append("no math-kernel case: the shipped math-kernel extra kept")
    constants = replace(constants, math_scores_extra=extra)
    errors = _errors(cases, constants)
    return FittedConstants(constants, len(cases), min(errors), max(errors), tuple(notes))


# ----------------------------------------------------------------------------------------------
# Scoring


@dataclass(frozen=True, slots=True)
class ScoredCase:
    case: FitCase
    half: str  # "A" | "B"
    shipped_bytes: int  # predicted with the shipped constants
    a_fit_bytes: int  # predicted with the constants fitted on A
    b_fit_bytes: int  # ... on B

    @property
    def out_of_sample_bytes(self) -> int:
        """Predicted with the constants of the other half (never the one holding this case)."""
        return self.b_fit_bytes if self.half == "A" else self.a_fit_bytes

    def diff_pct(self, predicted: int) -> float:
        return 100.0 * (predicted - self.case.measured_peak_bytes) / self.case.measured_peak_bytes


@dataclass(frozen=True, slots=True)
class Summary:
    what: str
    cases: int
    worst_under_pct: float  # the lowest (predicted - measured) / measured
    worst_over_pct: float  # the highest
    within: int  # cases within [LOWER_PCT, UPPER_PCT]


@dataclass(frozen=True, slots=True)
class SplitFit:
    half_a: tuple[FitCase, ...]
    half_b: tuple[FitCase, ...]
    fit_a: FittedConstants
    fit_b: FittedConstants
    shipped: EstimateConstants
    rows: tuple[ScoredCase, ...]
    summaries: tuple[Summary, ...]

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "rule": "sorted by (model, dtype, context), alternating within each model; fit on "
                    "one half (medians; fragmentation: minimise the worst error, none under "
                    f"{LOWER_PCT}%), scored on the other",
            "half_a": [c.case for c in self.half_a], "half_b": [c.case for c in self.half_b],
            "shipped": asdict(self.shipped),
            "fit_a": asdict(self.fit_a), "fit_b": asdict(self.fit_b),
            "rows": [{"case": r.case.case, "half": r.half,
                      "measured_bytes": r.case.measured_peak_bytes,
                      "shipped_bytes": r.shipped_bytes, "a_fit_bytes": r.a_fit_bytes,
                      "b_fit_bytes": r.b_fit_bytes,
                      "out_of_sample_diff_pct": round(r.diff_pct(r.out_of_sample_bytes), 3),
                      "shipped_diff_pct": round(r.diff_pct(r.shipped_bytes), 3)}
                     for r in self.rows],
            "summaries": [asdict(s) for s in self.summaries],
        }


def _summary(what: str, diffs: Sequence[float]) -> Summary:
    return Summary(what, len(diffs), round(min(diffs), 3), round(max(diffs), 3),
                   sum(LOWER_PCT <= d <= UPPER_PCT for d in diffs))


def split_fit(cases: Sequence[FitCase],
              shipped: EstimateConstants = SHIPPED_CONSTANTS) -> SplitFit:
    """Fit on A, score B; fit on B, score A; and the shipped constants on every case."""
    if len(cases) < 2:
        raise FitError(f"{len(cases)} measured case(s): the split fit needs at least 2")
    half_a, half_b = split_halves(cases)
    fit_a, fit_b = fit_constants(half_a, shipped), fit_constants(half_b, shipped)
    rows = tuple(
        ScoredCase(case, half, predict_peak(case.parts, shipped),
                   predict_peak(case.parts, fit_a.constants),
                   predict_peak(case.parts, fit_b.constants))
        for half, members in (("A", half_a), ("B", half_b)) for case in members
    )
    summaries: tuple[Summary, ...] = (
        _summary("B scored with A's constants",
                 [r.diff_pct(r.a_fit_bytes) for r in rows if r.half == "B"]),
        _summary("A scored with B's constants",
                 [r.diff_pct(r.b_fit_bytes) for r in rows if r.half == "A"]),
        _summary("all, out of sample (each with the other half's)",
                 [r.diff_pct(r.out_of_sample_bytes) for r in rows]),
        _summary("all with the shipped constants", [r.diff_pct(r.shipped_bytes) for r in rows]),
    )
    math_rows = [r for r in rows if r.case.math_kernel]
    if math_rows:
        summaries += (
            _summary("math-kernel cases, out of sample (each with the other half's)",
                     [r.diff_pct(r.out_of_sample_bytes) for r in math_rows]),
            _summary("math-kernel cases with the shipped constants",
                     [r.diff_pct(r.shipped_bytes) for r in math_rows]),
        )
    return SplitFit(half_a, half_b, fit_a, fit_b, shipped, rows, summaries)


# ----------------------------------------------------------------------------------------------
# The tables (markdown)


def _gib(n: int) -> str:
    return f"{n / GIB:.2f}"


def render(result: SplitFit, shipped_label: str = "shipped") -> str:
    """The split-fit tables as markdown: per case, per half, and the constants."""
    lines = [
        "| case | half | predicted, A-fit GiB | predicted, B-fit GiB | measured GiB | "
        "difference (other half's fit) | predicted, shipped GiB | difference (shipped) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in result.rows:
        a = f"**{_gib(r.a_fit_bytes)}**" if r.half == "B" else _gib(r.a_fit_bytes)
        b = f"**{_gib(r.b_fit_bytes)}**" if r.half == "A" else _gib(r.b_fit_bytes)
        lines.append(
            f"| {r.case.case} | {r.half} | {a} | {b} | {_gib(r.case.measured_peak_bytes)} | "
            f"{r.diff_pct(r.out_of_sample_bytes):+.1f}% | {_gib(r.shipped_bytes)} | "
            f"{r.diff_pct(r.shipped_bytes):+.1f}% |")
    lines += ["", "(bold: the prediction scored, made with the constants of the other half)", "",
              f"| scored | cases | lowest (worst under) | highest (worst over) | within "
              f"{LOWER_PCT:+.0f}%/{UPPER_PCT:+.0f}% |",
              "|---|---|---|---|---|"]
    for s in result.summaries:
        lines.append(f"| {s.what} | {s.cases} | {s.worst_under_pct:+.2f}% | "
                     f"{s.worst_over_pct:+.2f}% | {s.within}/{s.cases} |")
    fa, fb, sh = result.fit_a.constants, result.fit_b.constants, result.shipped
    lines += ["", f"| constant | {shipped_label} | fitted on A ({result.fit_a.cases} cases) | "
              f"fitted on B ({result.fit_b.cases} cases) |", "|---|---|---|---|"]
    for label, attr in (("CUDA context", "cuda_context_bytes"),
                        ("kernels outside the pool", "generate_kernels_bytes"),
                        ("cuBLAS workspace", "cublas_workspace_bytes")):
        lines.append(f"| {label} MiB | {getattr(sh, attr) / MIB:.1f} | "
                     f"{getattr(fa, attr) / MIB:.1f} | {getattr(fb, attr) / MIB:.1f} |")
    lines.append(f"| fragmentation (x largest tensor) | {sh.fragmentation_blocks:.3f} | "
                 f"{fa.fragmentation_blocks:.3f} | {fb.fragmentation_blocks:.3f} |")
    lines.append(f"| math-kernel extra (x one fp32 score tensor) | {sh.math_scores_extra:.3f} | "
                 f"{fa.math_scores_extra:.3f} | {fb.math_scores_extra:.3f} |")
    lines.append(f"| cases it was fitted on (fragmentation / math extra) | | "
                 f"{sum(not c.math_kernel for c in result.half_a)} / "
                 f"{sum(c.math_kernel for c in result.half_a)} | "
                 f"{sum(not c.math_kernel for c in result.half_b)} / "
                 f"{sum(c.math_kernel for c in result.half_b)} |")
    lines.append(f"| in-sample error on its own half | | {result.fit_a.worst_under_pct:+.2f}% to "
                 f"{result.fit_a.worst_over_pct:+.2f}% | {result.fit_b.worst_under_pct:+.2f}% "
                 f"to {result.fit_b.worst_over_pct:+.2f}% |")
    for name, fitted in (("A", result.fit_a), ("B", result.fit_b)):
        for note in fitted.notes:
            lines.append(f"\nfit on {name}: {note}")
    return "\n".join(lines) + "\n"
