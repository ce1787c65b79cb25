"""Shared test set-up: every test session (each xdist worker) gets its own config, cache and
log dirs; in workers, the tests that start servers run in one of them, one after another."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

_ROOT = Path(tempfile.mkdtemp(prefix="autoglm-tests-"))
for _name in ("CONFIG", "CACHE", "LOG", "DATA"):
    os.environ.setdefault(f"AUTOGLM_CONSOLE_{_name}_DIR", str(_ROOT / _name.lower()))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # Workers share the machine's cores: one OpenMP thread per process (torch in the worker and
    # in every engine it starts), and vLLM's CPU build unbound, which otherwise binds a thread
    # to every core and keeps them busy. Measured on the 2-core CI machine: an engine test
    # beside a vLLM start took 67 s instead of 10.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", "nobind")


# The real servers (vLLM's CPU build, `transformers serve`) take seconds to minutes to start and
# gigabytes of memory each: `./dev test` runs the suite in two workers (`-n 2 --dist
# loadgroup`; AUTOGLM_TEST_WORKERS=0 for one process), and these go to one of them, sharing its
# session's servers, never two at once.
_SERVER_DIRS = ("served", "served_diagnosis")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.parent.name in _SERVER_DIRS:
            item.add_marker(pytest.mark.xdist_group("servers"))
