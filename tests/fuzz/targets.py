"""Fuzz targets: every parser that takes bytes from outside, each wrapped so that the only
acceptable outcomes are a result or the parser's own documented error.

Each `target(data: bytes)` raises only on a defect (an unexpected exception type). Used by the
short run in tests/fuzz/test_fuzz.py and the long run in tests/fuzz/run_long.py.
"""

from __future__ import annotations

import contextlib
import io
import json
import struct
import tempfile
from collections.abc import Callable
from pathlib import Path

_ROOT = Path(tempfile.mkdtemp(prefix="autoglm-fuzz-"))


def _fresh(name: str) -> Path:
    d = _ROOT / name
    d.mkdir(exist_ok=True)
    for p in d.iterdir():
        p.unlink()
    return d


def safetensors_header(data: bytes) -> None:
    """8-byte length + header bytes + a little data, as a model.safetensors."""
    from console.core.preflight import read_safetensors_header

    d = _fresh("st")
    path = d / "model.safetensors"
    path.write_bytes(struct.pack("<Q", len(data)) + data + b"\0" * 64)
    header, findings = read_safetensors_header(path)
    assert header is not None or findings


def safetensors_raw(data: bytes) -> None:
    """Any bytes as a whole safetensors file (the length field included)."""
    from console.core.preflight import read_safetensors_header

    d = _fresh("st_raw")
    path = d / "model.safetensors"
    path.write_bytes(data)
    read_safetensors_header(path)


def config_json(data: bytes) -> None:
    """config.json of a model directory with one valid tiny shard; then the estimate."""
    from console.core import estimate
    from console.core.preflight import check_model_dir

    d = _fresh("cfg")
    (d / "config.json").write_bytes(data)
    header = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    (d / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 8)
    report = check_model_dir(d)
    if isinstance(report.config, dict):
        with contextlib.suppress(estimate.EstimateError):
            estimate.geometry(report.config)


def index_json(data: bytes) -> None:
    from console.core.preflight import check_model_dir

    d = _fresh("idx")
    (d / "config.json").write_text('{"model_type": "llama"}')
    (d / "model.safetensors.index.json").write_bytes(data)
    check_model_dir(d)


def log_parser(data: bytes) -> None:
    from console.core.diagnose import diagnose_text
    from console.host.bounded import diagnose_stream

    diagnose_stream(io.BytesIO(data), window_bytes=256)
    diagnose_text(data.decode("utf-8", errors="replace"))


def toml_config(data: bytes) -> None:
    from console.host.config import ConfigError, load_config

    d = _fresh("toml")
    path = d / "config.toml"
    path.write_bytes(data)
    with contextlib.suppress(ConfigError):
        load_config(path)


def protocol_line(data: bytes) -> None:
    from console.core import protocol

    with contextlib.suppress(protocol.ProtocolError):
        protocol.decode(data)


def session_log_line(data: bytes) -> None:
    from console.host.bundle import parse_session_line

    parse_session_line(data.decode("utf-8", errors="replace"))


def redact_text(data: bytes) -> None:
    from console.core.redact import clean, redact_json_line
    from console.core.termsafe import is_safe, safe

    text = data.decode("utf-8", errors="replace")
    clean(text)
    redact_json_line(text)
    assert is_safe(safe(text))


TARGETS: dict[str, Callable[[bytes], None]] = {
    f.__name__: f for f in (safetensors_header, safetensors_raw, config_json, index_json,
                            log_parser, toml_config, protocol_line, session_log_line,
                            redact_text)
}
