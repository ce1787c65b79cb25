"""The walls, checked at run time and statically, and shown to catch a planted import.

- The app's runtime paths (start headless, the Model view, a pre-flight, the doctor, a
  bundle: tests/walls/runtime_paths.py) run in a fresh process: torch, transformers,
  safetensors and console.worker never load.
- The same run on a copy of the tree with `import torch` planted in a module the app uses
  at run time reports torch: the check can fail.
- import-linter (pyproject.toml, no indirect imports allowed) holds on the tree, and breaks on
  a copy where a host module imports the engine side.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = Path("tests") / "walls" / "runtime_paths.py"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from console.worker import tinymodels

    return tinymodels.build("llama", tmp_path_factory.mktemp("walls") / "llama")


def copy_tree(dest: Path) -> Path:
    """The package sources, the tests' walls script and pyproject.toml, copied to `dest`."""
    for name in ("console", "widgets"):
        shutil.copytree(REPO / name, dest / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (dest / "tests" / "walls").mkdir(parents=True)
    shutil.copy(REPO / SCRIPT, dest / SCRIPT)
    shutil.copy(REPO / "pyproject.toml", dest / "pyproject.toml")
    return dest


def run_paths(root: Path, model: Path, out: Path) -> dict[str, list[str]]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(root)
    env["AUTOGLM_CONSOLE_LOG_DIR"] = str(out.parent / "logs")
    out.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([sys.executable, str(root / SCRIPT), str(model), str(out)], cwd=root,
                          env=env, capture_output=True, text=True, timeout=200, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    result: dict[str, list[str]] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def test_the_app_runtime_paths_never_load_the_engine_side(tiny_model: Path,
                                                           tmp_path: Path) -> None:
    found = run_paths(REPO, tiny_model, tmp_path / "bundle")
    assert found["done"] == ["start", "model view", "pre-flight", "doctor", "bundle"]
    assert found["loaded"] == []


def test_a_planted_import_is_caught(tiny_model: Path, tmp_path: Path) -> None:
    root = copy_tree(tmp_path / "tree")
    planted = root / "console" / "host" / "demo.py"  # the app imports it at start
    text = planted.read_text()
    future = "from __future__ import annotations\n"
    planted.write_text(text.replace(future, future + "\nimport torch  # planted\n", 1))
    found = run_paths(root, tiny_model, tmp_path / "bundle")
    assert "torch" in found["loaded"]


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    tool = Path(sys.executable).parent / "lint-imports"
    if not tool.exists():
        pytest.fail("lint-imports is not installed: pip install -e '.[dev]'")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(root)
    return subprocess.run([str(tool), "--no-cache"], cwd=root, env=env, capture_output=True,
                          text=True, timeout=200, check=False)


def test_import_contracts_hold_without_indirect_imports_allowed() -> None:
    config = (REPO / "pyproject.toml").read_text()
    assert "allow_indirect_imports" not in config
    out = lint_imports(REPO)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "0 broken" in out.stdout


def test_import_contracts_catch_an_indirect_engine_import(tmp_path: Path) -> None:
    root = copy_tree(tmp_path / "tree")
    # host.demo (imported by the app) -> console.worker.demo: the app reaches the engine
    # side indirectly, which the contracts must see.
    planted = root / "console" / "host" / "demo.py"
    planted.write_text(planted.read_text()
                       + "\nfrom console.worker import demo as _demo  # planted\n")
    out = lint_imports(root)
    assert out.returncode != 0, out.stdout[-3000:]
    assert "1 broken" in out.stdout
    # The app reaches the engine side only through the planted line: the chain is named.
    assert "console.app -> console.host.demo" in out.stdout
    assert "console.host.demo -> console.worker.demo" in out.stdout
