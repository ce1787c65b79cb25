"""The learned lead from a failure's words (console/core/diagnose/lexical.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.core.diagnose import DiagnosisContext, calibration, diagnose_text, lexical
from console.core.diagnose.parser import parse_lines, split_lines
from tests.fixtures.corpus.corpus import corpus_cases
from tests.fixtures.logs.corpus import dev_cases, fixture_cases

LEXICAL_JSON = Path(lexical.__file__).with_name("lexical.json")


@pytest.fixture
def toy_model(monkeypatch: pytest.MonkeyPatch) -> Iterator[lexical.Model]:
    """Word counts of a few made-up reports: 'gizmo' goes with host memory, 'wobble' with
    overflow. No rule of the engine knows either word."""
    words = lexical.text_features
    samples = [
        (words("the gizmo process flopped while the wobble counter grew"), "host_oom"),
        (words("gizmo flopped again during the run"), "host_oom"),
        (words("gizmo flopped, reran, gizmo flopped"), "host_oom"),
        (words("the wobble grew until the loss went bad"), "numeric_overflow"),
        (words("wobble grew in the second epoch"), "numeric_overflow"),
    ]
    fitted = lexical.fit(samples, sharpness=4.0)
    monkeypatch.setattr(lexical, "model", lambda: fitted)
    yield fitted


def test_features_read_the_errors_and_pairs_of_words() -> None:
    words = lexical.text_features("Traceback (most recent call last):\n"
                      '  File "/x/safetensors/torch.py", line 3, in load_file\n'
                      "safetensors_rust.SafetensorError: Error while deserializing header: "
                      "HeaderTooLarge\n")
    assert {"safetensors", "load_file", "headertoolarge", "deserializing header"} <= words
    assert "traceback" not in words  # a stop word: every Python error has it


def test_features_of_a_long_log_are_bounded() -> None:
    chatter = "".join(f"step {i}: loss 0.{i % 10} error-free\n" for i in range(5000))
    words = lexical.text_features(chatter + "RuntimeError: gizmo exploded\n")
    parsed = parse_lines(split_lines(chatter))
    texts = lexical._texts(parsed.lines, parsed.blocks)
    assert len(texts) <= lexical.MAX_LINES
    assert "gizmo" in words  # the error itself is read first, whatever the chatter


def test_posterior_ranks_the_cause_whose_reports_share_the_words(
        toy_model: lexical.Model) -> None:
    p = lexical.posterior(frozenset({"gizmo", "flopped"}), toy_model)
    assert next(iter(p)) == "host_oom" and p["host_oom"] > 0.5
    assert abs(sum(p.values()) - 1.0) < 1e-9
    q = lexical.posterior(frozenset({"wobble", "grew"}), toy_model)
    assert next(iter(q)) == "numeric_overflow"
    assert lexical.posterior(frozenset({"unheard", "of"}), toy_model) == {}
    flat = lexical.Model(toy_model.docs, toy_model.counts, toy_model.totals, 0.5)
    assert lexical.posterior(frozenset({"gizmo"}), flat)["host_oom"] < p["host_oom"]


def test_words_alone_start_a_ranking_of_leads(toy_model: lexical.Model) -> None:
    causes = diagnose_text("RuntimeError: the gizmo flopped again\n")
    assert causes and causes[0].id == "host_oom", [(c.id, c.confidence) for c in causes]
    assert all(c.lead for c in causes) and len(causes) == 3
    assert "word statistics" in " ".join(causes[0].evidence)
    # A lead in its own calibrated band, under what a library message named with 0.8 gets.
    assert causes[0].confidence < calibration.calibrate(0.8)


def test_words_never_turn_a_clean_log_or_the_consoles_own_kill_into_a_cause(
        toy_model: lexical.Model) -> None:
    assert diagnose_text("INFO the gizmo is warming up\nINFO gizmo ready\n" * 5) == []
    ctx = DiagnosisContext(exit_code=-9, exit_signal=9, killed_by_console=True)
    assert diagnose_text("loading gizmo\nKilled\n", ctx) == []


def test_the_shipped_counts_are_the_tune_split_and_fixture_logs_only() -> None:
    """lexical.json is current (rerun benchmarks/diagnose_calibrate.py --write after the corpus
    changes) and holds no held-back log: recounting the tune split and the fixture logs gives
    exactly its numbers."""
    data = json.loads(LEXICAL_JSON.read_text())
    samples = [(lexical.text_features(c.text), c.expected[0]) for c in corpus_cases("tune")]
    samples += [(lexical.text_features(c.text), c.expected[0])
                for c in (*dev_cases(), *fixture_cases()) if c.expected]
    recount = lexical.fit(samples)
    assert data["docs"] == dict(sorted(recount.docs.items()))
    assert data["counts"] == {w: dict(sorted(r.items())) for w, r in sorted(recount.counts.items())}
    assert data["sharpness"] > 0


def test_posterior_is_the_naive_bayes_mean_over_every_cause_of_every_word(
        toy_model: lexical.Model) -> None:
    # The posterior sums only the causes in each word's row (rows are sparse); written out
    # over every cause, the definition gives the same numbers. A word of 5,000 logs is past
    # the table of precomputed gains.
    import math

    big = lexical.Model({**toy_model.docs}, {**toy_model.counts, "common": {"host_oom": 5000}},
                        {**toy_model.totals, "host_oom": toy_model.totals["host_oom"] + 5000},
                        toy_model.sharpness)
    for model, words in ((toy_model, {"gizmo", "wobble", "grew", "unheard"}),
                         (big, {"gizmo", "common"})):
        known = [w for w in words if w in model.counts]
        scores = {}
        for cause, n_docs in model.docs.items():
            likelihood = sum(math.log(model.counts[w].get(cause, 0) + lexical.ALPHA)
                             for w in known)
            mean = likelihood / len(known) - math.log(
                model.totals.get(cause, 0) + lexical.ALPHA * model.vocabulary)
            scores[cause] = math.log(n_docs / sum(model.docs.values())) + model.sharpness * mean
        norm = sum(math.exp(s) for s in scores.values())
        got = lexical.posterior(frozenset(words), model)
        assert got.keys() == scores.keys()
        for cause, score in scores.items():
            assert abs(got[cause] - math.exp(score) / norm) < 1e-12
