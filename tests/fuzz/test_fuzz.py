"""The short fuzz run, part of the test command (a few seconds in all): every parser that
takes outside bytes, on raw bytes and on structured hostile inputs. The long run is
tests/fuzz/run_long.py (same targets, the `fuzz-long` profile).

Crashes found are kept as explicit regression cases below (`REGRESSIONS`).
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz import strategies as S
from tests.fuzz.targets import TARGETS

settings.register_profile("fuzz-short", max_examples=25, deadline=None, derandomize=True,
                          suppress_health_check=list(HealthCheck), database=None)
settings.register_profile("fuzz-long",
                          max_examples=int(os.environ.get("AUTOGLM_FUZZ_EXAMPLES", "20000")),
                          deadline=None, suppress_health_check=list(HealthCheck))

STRUCTURED = {
    "safetensors_header": S.safetensors_headers,
    "safetensors_raw": S.any_bytes,
    "config_json": S.hostile_json,
    "index_json": S.weight_maps,
    "log_parser": S.log_texts,
    "toml_config": S.toml_texts,
    "protocol_line": S.protocol_lines,
    "session_log_line": st.one_of(S.any_bytes, S.protocol_lines.map(
        lambda b: b"2026-01-01T00:00:00.000 EVENT  " + b)),
    "redact_text": S.any_bytes,
}


def _profile() -> settings:
    """fuzz-long when run_long.py asks for it (AUTOGLM_FUZZ_EXAMPLES), else the short run."""
    return settings.get_profile("fuzz-long" if os.environ.get("AUTOGLM_FUZZ_EXAMPLES")
                                else "fuzz-short")


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_fuzz_structured(name: str) -> None:
    target = TARGETS[name]

    @_profile()
    @given(STRUCTURED[name])
    def run(data: bytes) -> None:
        target(data)

    run()


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_fuzz_raw_bytes(name: str) -> None:
    target = TARGETS[name]

    @_profile()
    @given(S.any_bytes)
    def run(data: bytes) -> None:
        target(data)

    run()


# Crashes the fuzz (and the issue-14 attack list) found, kept as fixed inputs.
REGRESSIONS: list[tuple[str, bytes]] = [
    ("safetensors_header", b"[" * 200_000 + b"]" * 200_000),  # RecursionError
    ("safetensors_header", b'{"w": {"dtype": ["F32"], "shape": [2], "data_offsets": [0, 8]}}'),
    ("safetensors_header", b'{"w": {"dtype": 5, "shape": [2], "data_offsets": [0, 8]}}'),
    ("config_json", b'{"model_type": "llama", "hidden_size": ' + b"9" * 5000 + b"}"),
    ("config_json", b'{"x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
    ("config_json", b'{"model_type": "llama", "hidden_size": NaN}'),
    ("index_json", b'{"weight_map": {"a": "../../../../etc/passwd"}}'),
    ("index_json", b'{"weight_map": {}}'),
    # IsADirectoryError: "." read (fuzz); IndexError: an index and no shards (fuzz)
    ("index_json", b'{"weight_map": {"": "."}}'),
    ("protocol_line", b"[" * 100_000 + b"]" * 100_000),  # RecursionError in json.loads
    ("protocol_line", b'{"hidden_size": ' + b"9" * 4301 + b"}"),  # ValueError: int digits (fuzz)
]


@pytest.mark.parametrize(("name", "data"), REGRESSIONS,
                         ids=[f"{n}-{i}" for i, (n, _) in enumerate(REGRESSIONS)])
def test_regressions(name: str, data: bytes) -> None:
    TARGETS[name](data)
