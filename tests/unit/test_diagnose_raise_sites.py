"""Tracebacks cut at `raise SomeError(` in a library: the raise site names the cause
(console/core/diagnose/raise_sites.json, read from the libraries' source by
benchmarks/diagnose_raise_sites.py)."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from console.core.diagnose import CAUSE_IDS, diagnose_text
from console.core.diagnose.engine import RAISE_SITES_FILE, parse_raise_sites


def _cut_at_raise(path: str, function: str, kind: str = "ValueError") -> str:
    return (
        "Traceback (most recent call last):\n"
        '  File "/home/me/run.py", line 12, in <module>\n'
        "    model = model.cuda()\n"
        f'  File "{path}", line 2543, in {function}\n'
        f"    raise {kind}(\n"
    )


def test_a_traceback_cut_at_a_known_raise_site_names_what_it_raises() -> None:
    log = _cut_at_raise("/usr/lib/python3.10/site-packages/transformers/modeling_utils.py",
                        "cuda")
    causes = diagnose_text(log)
    assert causes and causes[0].id == "quantization_error", [(c.id, c.confidence)
                                                             for c in causes]
    assert "transformers/modeling_utils.py (cuda)" in causes[0].explanation, causes[0].explanation


def test_a_windows_path_to_the_same_site_counts() -> None:
    log = _cut_at_raise(r"E:\ComfyUI\python\Lib\site-packages\transformers\modeling_utils.py",
                        "cuda")
    assert [c.id for c in diagnose_text(log)][:1] == ["quantization_error"]


@pytest.mark.parametrize(("path", "function", "kind"), [
    ("/home/me/project/modeling_utils.py", "cuda", "ValueError"),  # the user's own file
    ("/usr/lib/python3.10/site-packages/transformers/modeling_utils.py", "cuda", "TypeError"),
    ("/usr/lib/python3.10/site-packages/transformers/modeling_utils.py", "nowhere", "ValueError"),
])
def test_another_file_function_or_type_is_not_that_site(path: str, function: str,
                                                        kind: str) -> None:
    causes = diagnose_text(_cut_at_raise(path, function, kind))
    assert not any(c.id == "quantization_error" and not c.lead for c in causes), [
        (c.id, c.confidence, c.lead) for c in causes]


def test_a_message_that_is_printed_wins_over_the_site() -> None:
    log = (_cut_at_raise("/usr/lib/python3.10/site-packages/transformers/modeling_utils.py",
                         "cuda")
           + "ValueError: Error no file named pytorch_model.bin found in directory /models/x.\n")
    assert [c.id for c in diagnose_text(log)][:1] == ["missing_file"]


def test_the_shipped_sites_are_well_formed() -> None:
    data = json.loads(resources.files("console.core.diagnose").joinpath(RAISE_SITES_FILE)
                      .read_text())
    sites = parse_raise_sites(data)
    assert len(sites) >= 200
    for (function, kind), entries in sites.items():
        assert function and kind
        for site in entries:
            assert site.signature.cause in CAUSE_IDS
            assert not site.file.startswith("/") and site.file.endswith(".py")
            assert 0.5 <= site.signature.confidence <= 0.8


@pytest.mark.parametrize(("data", "says"), [
    ({"sites": {}}, "'sites' must be a list"),
    ([], "'sites' must be a list"),
    ({"sites": [{"file": "a.py", "function": "f", "type": "ValueError", "cause": "cuda_oom"}]},
     "site 0 needs file, function, type, cause and confidence"),
    ({"sites": [{"file": "a.py", "function": "f", "type": "ValueError", "cause": "gremlins",
                 "confidence": 0.7}]}, "site 0: unknown cause 'gremlins'"),
])
def test_a_bad_sites_file_names_the_site_and_the_fix(data: object, says: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_raise_sites(data)
    assert str(err.value).startswith(f"{RAISE_SITES_FILE}: ")
    assert says in str(err.value)
    assert "rerun benchmarks/diagnose_raise_sites.py --write" in str(err.value)
