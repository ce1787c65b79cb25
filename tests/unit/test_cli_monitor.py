"""`autoglm-console monitor`: output validated against the schema documented in docs/monitor.md."""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from console.cli import main
from console.core.sample import SCHEMA_VERSION
from console.host.config import default_toml
from console.host.telemetry import NO_DRIVER_MESSAGE, RECORDING_ENV
from tests.paths import NVML_FIXTURES as FIXTURES
from tests.paths import REPO

DOC = REPO / "docs" / "monitor.md"
REAL = FIXTURES / "h100_real.json"
TYPES: dict[str, tuple[type, ...]] = {
    "integer": (int,), "number": (int, float), "string": (str,), "boolean": (bool,),
    "array": (list,), "object": (dict,), "null": (type(None),),
}


def documented_schema() -> dict[str, dict[str, tuple[type, ...]]]:
    """{section: {field: allowed JSON types}} from the tables under '## JSON schema'."""
    text = DOC.read_text().split("## JSON schema", 1)[1].split("\n## ", 1)[0]
    schema: dict[str, dict[str, tuple[type, ...]]] = {}
    section = None
    for line in text.splitlines():
        if m := re.match(r"### `([^`]+)`", line):
            section = m.group(1)
            schema[section] = {}
        elif section and (m := re.match(r"\| `(\w+)` \| ([a-z ]+) \|", line)):
            kinds = m.group(2).split(" or ")
            schema[section][m.group(1)] = tuple(t for k in kinds for t in TYPES[k.strip()])
    return schema


def validate(obj: dict[str, Any], schema: dict[str, dict[str, tuple[type, ...]]],
             section: str) -> None:
    fields = schema[section]
    assert set(obj) == set(fields), (
        f"{section}: undocumented {set(obj) - set(fields)}, missing {set(fields) - set(obj)}")
    for name, value in obj.items():
        allowed = fields[name]
        # JSON has no int/bool distinction problem for us except bool being an int in Python.
        ok = isinstance(value, allowed) and not (isinstance(value, bool) and bool not in allowed)
        assert ok, f"{section}.{name} = {value!r} is not {allowed}"


def validate_sample(data: dict[str, Any]) -> None:
    schema = documented_schema()
    assert set(schema) == {"sample", "nvml", "gpus[]", "gpus[].processes[]", "host", "watched[]"}
    validate(data, schema, "sample")
    assert data["schema_version"] == SCHEMA_VERSION == 1
    validate(data["nvml"], schema, "nvml")
    validate(data["host"], schema, "host")
    for gpu in data["gpus"]:
        validate(gpu, schema, "gpus[]")
        for proc in gpu["processes"]:
            validate(proc, schema, "gpus[].processes[]")
    for w in data["watched"]:
        validate(w, schema, "watched[]")


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> list[dict[str, Any]]:
    assert main(["monitor", "--json", *argv]) == 0
    out = capsys.readouterr().out
    return [json.loads(line) for line in out.splitlines()]


def test_once_json_on_this_machine(capsys: pytest.CaptureFixture[str]) -> None:
    (data,) = run_json(capsys, "--once")
    validate_sample(data)
    host = data["host"]
    # The priming sample makes the rates and CPU % real on --once.
    assert host["cpu_percent"] is not None and len(host["cpu_percent_per_core"]) == os.cpu_count()
    assert host["swap_in_bytes_per_s"] is not None and host["ram_total_bytes"] > 0
    if data["nvml"]["state"] == "no_driver":  # CI; on the GPU host the state is "ok"
        assert data["nvml"]["message"] == NO_DRIVER_MESSAGE and data["gpus"] == []


@pytest.mark.parametrize("recording", ["h100_real.json", "h100_handmade.json", "gpu_lost.json",
                                       "process_memory_unavailable.json", "v1_memory_only.json",
                                       "function_not_found.json"])
def test_once_json_with_a_recorded_gpu(
    recording: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(RECORDING_ENV, str(FIXTURES / recording))
    (data,) = run_json(capsys, "--once", "--pid", str(os.getpid()))
    validate_sample(data)
    assert data["gpus"] and data["gpus"][0]["memory_total_bytes"] == 85520809984
    assert data["watched"][0]["pid"] == os.getpid() and data["watched"][0]["alive"] is True


def test_streaming_json_lines_and_count(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--interval", "0.25", "monitor", "--json", "--count", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    samples = [json.loads(line) for line in lines]
    for s in samples:
        validate_sample(s)
    gaps = [b["monotonic"] - a["monotonic"] for a, b in itertools.pairwise(samples)]
    assert all(g >= 0.2 for g in gaps), gaps


def test_text_table(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(RECORDING_ENV,
                       str(REAL if REAL.exists() else FIXTURES / "h100_handmade.json"))
    assert main(["monitor", "--once"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^NVML: ok\s+1 GPU\(s\)\s+driver 580\.159\.04\s+CUDA 13\.0$", out, re.M), out
    assert re.search(r"^GPU 0  NVIDIA H100 80GB HBM3  mem .* / 79\.6 GiB", out, re.M), out
    for start in ("CPU  ", "RAM  ", "Swap ", "Disk read "):
        assert re.search(f"^{start}", out, re.M), start


def test_text_lines_without_gpu(capsys: pytest.CaptureFixture[str],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(RECORDING_ENV, str(FIXTURES / "no_driver.json"))
    assert main(["--interval", "0.25", "monitor", "--count", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and all(f"gpu: {NO_DRIVER_MESSAGE}" in line for line in lines)


def test_installed_script_in_a_subprocess() -> None:
    script = Path(sys.executable).parent / "autoglm-console"
    assert script.exists(), (
        "autoglm-console is not installed in this environment (pip install -e .)")
    env = {k: v for k, v in os.environ.items() if k != RECORDING_ENV}
    out = subprocess.run([str(script), "monitor", "--once", "--json"], capture_output=True,
                         text=True,
                         timeout=60, env=env, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""
    validate_sample(json.loads(out.stdout))


def test_docs_show_the_real_default_config() -> None:
    assert default_toml() in DOC.read_text()
