"""The walls: the app process never imports torch/transformers/safetensors; the headless core
never imports textual; the import-linter contracts in pyproject.toml hold."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ENGINE_SIDE = ("torch", "transformers", "safetensors")


def run_python(code: str) -> dict[str, list[str]]:
    """Run `code` in a fresh interpreter from the repo root; it prints one JSON line last."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    result: dict[str, list[str]] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_app_cli_and_widgets_never_import_the_engine_side() -> None:
    """Import the app, the CLI, every widget and every sub-command module, build the CLI
    parser, take a sample: none of torch, transformers, safetensors may be loaded."""
    found = run_python(
        "import importlib, json, pkgutil, sys\n"
        "import console.app, console.cli, console.host.telemetry, widgets\n"
        "for m in pkgutil.iter_modules(widgets.__path__):\n"
        "    importlib.import_module('widgets.' + m.name)\n"
        "console.cli.build_parser()  # imports every sub-command module\n"
        "console.host.telemetry.Telemetry().sample()\n"
        f"print(json.dumps({{'loaded': [m for m in {ENGINE_SIDE!r} if m in sys.modules],\n"
        "                   'widgets': [m.name for m in "
        "pkgutil.iter_modules(widgets.__path__)]}))\n"
    )
    assert found["loaded"] == []
    assert found["widgets"], "no widget modules found: the import above proved nothing"


def test_monitor_run_never_imports_the_engine_side_or_textual() -> None:
    found = run_python(
        "import contextlib, io, json, sys\n"
        "from console.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert main(['monitor', '--once', '--json']) == 0\n"
        f"print(json.dumps({{'loaded': [m for m in {(*ENGINE_SIDE, 'textual')!r} if m in sys.modules]}}))\n"
    )
    assert found["loaded"] == []


def test_headless_core_never_imports_textual() -> None:
    core = ["console.core.sample", "console.host.telemetry", "console.host.nvml",
            "console.host.config", "console.core.units",
            "console.host.paths", "console.cli", "console.commands.monitor",
            "console.commands.config"]
    found = run_python(
        "import importlib, json, sys\n"
        f"for name in {core!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps({'loaded': [m for m in ('textual', 'widgets', 'console.app') if m in "
        "sys.modules]}))\n"
    )
    assert found["loaded"] == []


def test_the_check_above_can_fail() -> None:
    """The probe sees a heavy module when one is imported (so an empty list means something)."""
    found = run_python("import json, sys, textual\nprint(json.dumps({'loaded': [m for m in "
                       "('textual',) if m in sys.modules]}))")
    assert found["loaded"] == ["textual"]


def test_import_linter_contracts_hold() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    if not lint_imports.exists():
        pytest.fail("lint-imports is not installed: pip install -e '.[dev]'")
    out = subprocess.run([str(lint_imports)], cwd=REPO, capture_output=True, text=True, timeout=300,
                         check=False)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "broken" not in out.stdout.lower() or "0 broken" in out.stdout.lower(), out.stdout


@pytest.mark.parametrize(("module", "forbidden"), [("host/telemetry", "textual"), ("core/sample",
                                                                                   "torch")])
def test_import_linter_catches_a_forbidden_import(tmp_path: Path, module: str,
                                                  forbidden: str) -> None:
    """In a copy of the tree, a core module that imports textual (or torch) breaks a contract."""
    import shutil

    for name in ("console", "widgets"):
        shutil.copytree(REPO / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / "console" / f"{module}.py"
    target.write_text(target.read_text() + f"\nimport {forbidden}  # planted by the test\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    out = subprocess.run([str(Path(sys.executable).parent / "lint-imports")], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode != 0, out.stdout
    assert f"console.{module.replace('/', '.')} -> {forbidden}" in out.stdout, out.stdout
