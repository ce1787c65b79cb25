"""`autoglm-console diagnose`: JSON schema, exit codes, stdin; the diagnosis stays light (no
torch/transformers/textual); and failures really triggered now are diagnosed right."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from console.cli import main
from console.core.diagnose import diagnose_text
from tests.fixtures.logs import generate
from tests.fixtures.logs.corpus import LOGS_DIR

OOM_LOG = LOGS_DIR / "cuda_oom" / "other_process_holds_memory.log"
NONE_LOG = LOGS_DIR / "_none" / "deprecation_warnings.log"


class _Stdin:
    def __init__(self, data: bytes, tty: bool = False) -> None:
        self.buffer = io.BytesIO(data)
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


def test_json_schema_best_first(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diagnose", str(OOM_LOG), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert list(data) == ["causes"]
    causes = data["causes"]
    assert causes and causes[0]["id"] == "cuda_oom"
    for cause in causes:
        assert {"id", "confidence", "title", "evidence", "fixes"} <= set(cause)
        assert isinstance(cause["evidence"], list) and isinstance(cause["fixes"], list)
        assert 0 < cause["confidence"] <= 1
    assert [c["confidence"] for c in causes] == sorted((c["confidence"] for c in causes),
                                                       reverse=True)


def test_nothing_recognised_is_an_empty_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diagnose", str(NONE_LOG), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"causes": []}
    assert main(["diagnose", str(NONE_LOG)]) == 0
    assert "No known root cause" in capsys.readouterr().out


def test_readable_report(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diagnose", str(OOM_LOG)]) == 0
    out = capsys.readouterr().out
    assert "[cuda_oom, confidence" in out and "evidence:" in out and "fixes:" in out
    assert "another process holds" in out


def test_reads_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "stdin", _Stdin(b"OSError: [Errno 98] Address already in use\n"))
    assert main(["diagnose", "-", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["causes"][0]["id"] == "port_in_use"
    monkeypatch.setattr(sys, "stdin",
                        _Stdin(b"\xff\xfe not utf-8 Killed\n"))  # undecodable bytes are replaced
    assert main(["diagnose", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["causes"][0]["id"] == "host_oom"


def test_usage_errors_exit_2_with_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.log"
    assert main(["diagnose", str(missing)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"autoglm-console diagnose: {missing}: no such file"
    assert main(["diagnose", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err
    monkeypatch.setattr(sys, "stdin", _Stdin(b"", tty=True))
    assert main(["diagnose"]) == 2
    assert "no log given" in capsys.readouterr().err


def test_diagnosis_imports_no_torch_transformers_or_textual() -> None:
    code = (
        "import sys\nfrom console.cli import main\n"
        f"main(['diagnose', {str(OOM_LOG)!r}, '--json'])\n"
        "bad = [m for m in ('torch', 'transformers', 'textual', 'safetensors') if m in "
        "sys.modules]\nassert not bad, bad\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("name, expected", [
    ("bind_twice", "port_in_use"),
    ("python_memory_error", "host_oom"),
    ("killed_shell_child", "host_oom"),
    ("subprocess_sigkill", "host_oom"),
    ("user_code_bug", None),
])
def test_failures_triggered_now_are_diagnosed(name: str, expected: str | None,
                                              tmp_path: Path) -> None:
    """The generator's quick scenarios (no torch), run for real in this test."""
    scenario = next(s for s in generate.SCENARIOS if s.name == name)
    work = tmp_path / "work"
    work.mkdir()
    log = generate.run_scenario(scenario, work, out_root=tmp_path / "out")
    ids = [c.id for c in diagnose_text(log.read_text(errors="replace"))]
    assert ids[:1] == ([expected] if expected else [])
