"""Redaction over the real formats secrets are written in (tests/corpus/secrets.py)."""

from __future__ import annotations

import json

import pytest

from console.core.redact import MASK, redact, redact_json_line
from tests.corpus.secrets import NOT_SECRETS, SECRETS


def test_the_corpus_has_at_least_40_formats() -> None:
    assert len(SECRETS) >= 40
    assert len({label for label, *_ in SECRETS}) == len(SECRETS)


@pytest.mark.parametrize(("text", "secret", "kept"), [row[1:] for row in SECRETS],
                         ids=[row[0] for row in SECRETS])
def test_secret_is_removed_and_its_name_kept(text: str, secret: str, kept: str) -> None:
    out = redact(text)
    assert secret not in out, out
    assert MASK in out
    assert kept in out


@pytest.mark.parametrize("text", NOT_SECRETS)
def test_model_facts_stay(text: str) -> None:
    assert redact(text) == text


def test_all_formats_in_one_prompt_inside_a_protocol_line() -> None:
    prompt = "\n".join(text for _, text, _, _ in SECRETS)
    line = json.dumps({"cmd": "generate", "id": 3, "prompt": prompt})
    out = redact_json_line(line)
    for label, _, secret, _ in SECRETS:
        assert secret not in out, label
    assert json.loads(out)["cmd"] == "generate"
