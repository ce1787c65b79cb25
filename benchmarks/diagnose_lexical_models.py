#!/usr/bin/env python3
"""Would another word model lead better on logs it has not seen? Forward in time, tune side only.

    .venv/bin/python benchmarks/diagnose_lexical_models.py [--skip N] [--logistic]

The words' lead (console/core/diagnose/lexical.py) is a naive-Bayes posterior fitted on the tune
split. Here every model is fitted, for each corpus batch in the order the fresh scores
(tests/fixtures/corpus/fresh-scores.jsonl) were taken, on the tune logs of the batches before it
and the project's fixture logs only, and scored on that batch's logs: as a model meets new logs.
Models: the shipped naive Bayes (its sharpness), a tf-idf nearest-neighbour vote, the mean of
the two, and with --logistic a multinomial logistic regression (numpy). Prints, per model, top-1
and top-3 of the words alone on every scored log and on the logs the engine of the day missed
(top-1 wrong there, per the fresh scores): where the words' lead matters. The held-back split is
never read.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from diagnose_calibrate import fresh_batches  # noqa: E402

from console.core.diagnose import lexical  # noqa: E402
from tests.fixtures.corpus.corpus import corpus_cases  # noqa: E402
from tests.fixtures.logs.corpus import dev_cases, fixture_cases  # noqa: E402

Sample = tuple[frozenset[str], str]
Ranking = list[str]
Model = Callable[[Sequence[Sample], Sequence[frozenset[str]]], list[Ranking]]
NEIGHBOURS = 15


def _fit_naive_bayes(train: Sequence[Sample]) -> lexical.Model:
    """The shipped method on `train`, with the shipped sharpness."""
    shipped = lexical.model()
    return lexical.fit(train, shipped.sharpness if shipped else 4.0)


def naive_bayes(train: Sequence[Sample], logs: Sequence[frozenset[str]]) -> list[Ranking]:
    fitted = _fit_naive_bayes(train)
    return [list(lexical.posterior(words, fitted)) for words in logs]


def _votes(train: Sequence[Sample], logs: Sequence[frozenset[str]]) -> list[dict[str, float]]:
    docs = Counter(w for words, _ in train for w in words)
    idf = {w: math.log(len(train) / n) for w, n in docs.items() if n >= lexical.MIN_DOCS}

    def unit(words: frozenset[str]) -> dict[str, float]:
        vec = {w: idf[w] for w in words if w in idf}
        norm = math.sqrt(sum(x * x for x in vec.values())) or 1.0
        return {w: x / norm for w, x in vec.items()}

    postings: dict[str, list[tuple[int, float]]] = defaultdict(list)
    labels = [label for _, label in train]
    for i, (words, _) in enumerate(train):
        for w, x in unit(words).items():
            postings[w].append((i, x))
    out = []
    for words in logs:
        sims: dict[int, float] = defaultdict(float)
        for w, x in unit(words).items():
            for i, y in postings[w]:
                sims[i] += x * y
        votes: dict[str, float] = defaultdict(float)
        for i, s in sorted(sims.items(), key=lambda kv: -kv[1])[:NEIGHBOURS]:
            votes[labels[i]] += s
        total = sum(votes.values()) or 1.0
        out.append({c: votes[c] / total for c in sorted(votes, key=lambda c: -votes[c])})
    return out


def neighbours(train: Sequence[Sample], logs: Sequence[frozenset[str]]) -> list[Ranking]:
    return [list(v) for v in _votes(train, logs)]


def mean_of_both(train: Sequence[Sample], logs: Sequence[frozenset[str]]) -> list[Ranking]:
    fitted = _fit_naive_bayes(train)
    out = []
    for words, votes in zip(logs, _votes(train, logs), strict=True):
        nb = lexical.posterior(words, fitted)
        mixed = {c: (nb.get(c, 0.0) + votes.get(c, 0.0)) / 2 for c in {*nb, *votes}}
        out.append(sorted(mixed, key=lambda c: -mixed[c]))
    return out


def logistic(train: Sequence[Sample], logs: Sequence[frozenset[str]]) -> list[Ranking]:
    """Multinomial logistic regression on the words (L2, Adam, 300 full-batch steps)."""
    import numpy as np

    docs = Counter(w for words, _ in train for w in words)
    index = {w: i for i, w in enumerate(w for w, n in docs.items() if n >= lexical.MIN_DOCS)}
    causes = sorted({label for _, label in train})

    def rows(batch: Sequence[frozenset[str]]) -> Any:
        x = np.zeros((len(batch), len(index)), np.float32)
        for r, words in enumerate(batch):
            for w in words:
                if w in index:
                    x[r, index[w]] = 1.0
        return x / np.sqrt(np.maximum(x.sum(1, keepdims=True), 1.0))

    x = rows([words for words, _ in train])
    y = np.zeros((len(train), len(causes)), np.float32)
    for r, (_, label) in enumerate(train):
        y[r, causes.index(label)] = 1.0
    w = np.zeros((len(index), len(causes)), np.float32)
    b = np.zeros(len(causes), np.float32)
    moments: list[list[Any]] = [[np.zeros_like(w), np.zeros_like(w)],
                                [np.zeros_like(b), np.zeros_like(b)]]
    for step in range(1, 301):
        z = x @ w + b
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        g = (p - y) / len(train)
        _adam(w, x.T @ g + w / len(train), moments[0], step)
        _adam(b, g.sum(0), moments[1], step)
    out: list[Ranking] = []
    for words, row in zip(logs, rows(logs), strict=True):
        known = any(word in index for word in words)
        out.append([causes[i] for i in np.argsort(-(row @ w + b))] if known else [])
    return out


def _adam(param: Any, grad: Any, moments: list[Any], step: int) -> None:
    """One Adam step (learning rate 0.1), in place."""
    mean, var = moments
    mean *= 0.9
    mean += 0.1 * grad
    var *= 0.999
    var += 0.001 * grad * grad
    param -= 0.1 * (mean / (1 - 0.9**step)) / ((var / (1 - 0.999**step)) ** 0.5 + 1e-8)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skip", type=int, default=3,
                        help="the first batches only fit, never scored (default 3)")
    parser.add_argument("--logistic", action="store_true",
                        help="also fit a logistic regression (numpy; about a minute)")
    args = parser.parse_args()
    tune = {c.name: (lexical.text_features(c.text), c.expected[0]) for c in corpus_cases("tune")}
    fixtures = [(lexical.text_features(c.text), c.expected[0])
                for c in (*dev_cases(), *fixture_cases()) if c.expected]
    batches: dict[str, list[str]] = {}
    engine_hit: dict[str, bool] = {}
    for code, rows in fresh_batches():
        for row in rows:
            if row["id"] in tune:
                batches.setdefault(code, []).append(row["id"])
                engine_hit[row["id"]] = bool(row["top1"])
    order = list(batches)
    models: dict[str, Model] = {"naive Bayes (shipped)": naive_bayes,
                                f"tf-idf {NEIGHBOURS} neighbours": neighbours,
                                "mean of both": mean_of_both}
    if args.logistic:
        models["logistic regression"] = logistic
    tally: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for i, code in enumerate(order[args.skip:], start=args.skip):
        later = {name for c in order[i:] for name in batches[c]}
        train = [sample for name, sample in tune.items() if name not in later] + fixtures
        names = batches[code]
        for label, model in models.items():
            for name, ranking in zip(names, model(train, [tune[n][0] for n in names]),
                                     strict=True):
                truth = tune[name][1]
                for subset in ("all", "missed") if not engine_hit[name] else ("all",):
                    t = tally[(label, subset)]
                    t[0] += 1
                    t[1] += ranking[:1] == [truth]
                    t[2] += truth in ranking[:3]
    print(f"{len(order) - args.skip} batches, each scored by models fitted on the batches "
          "before it; the words alone")
    print("| model | logs | top-1 | top-3 | engine-missed logs | top-1 | top-3 |")
    print("|---|---|---|---|---|---|---|")
    for label in models:
        a, m = tally[(label, "all")], tally[(label, "missed")]
        print(f"| {label} | {a[0]} | {100 * a[1] / a[0]:.1f}% | {100 * a[2] / a[0]:.1f}% "
              f"| {m[0]} | {100 * m[1] / max(m[0], 1):.1f}% | {100 * m[2] / max(m[0], 1):.1f}% |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
