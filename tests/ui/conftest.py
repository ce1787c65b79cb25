"""UI test set-up: async tests run on asyncio, UTC for stable clock text, app factory.

Async tests need no plugin (pytest-asyncio, anyio): the hook below runs them with
asyncio.run, so the same tests run on the GPU host, which has neither.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable, Iterator

import pytest
from textual.pilot import Pilot

from console.app import ConsoleApp
from console.host.config import MIN_INTERVAL_S, Config
from tests.ui.fakes import FeedSampler, FrozenClock


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--real-nvml", action="store_true", default=False,
        help="the machine has an NVIDIA GPU: the real-telemetry UI tests must see it "
        "(gpu/run_all.sh passes this on the GPU host)",
    )


@pytest.fixture
def real_nvml(request: pytest.FixtureRequest) -> bool:
    # getoption's default covers runs where this conftest was not an initial one.
    return bool(request.config.getoption("--real-nvml", default=False))


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run `async def` tests in a fresh event loop (tests marked for anyio are left to it)."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj) or pyfuncitem.get_closest_marker("anyio"):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    asyncio.run(pyfuncitem.obj(**{name: pyfuncitem.funcargs[name] for name in names}))
    return True


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The status line shows local time: pin it so text and snapshots do not depend on TZ."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


async def wait_until(pilot: Pilot[object], predicate: Callable[[], bool], what: str,
                     timeout_s: float = 5.0) -> None:
    """Let the app run until `predicate()` holds; fail after a deadline (not a timing check)."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.01)
    await pilot.pause()


@pytest.fixture
def feed_samplers() -> Iterator[list[FeedSampler]]:
    """FeedSamplers made by a test are released at the end so no sampler thread stays blocked."""
    made: list[FeedSampler] = []
    yield made
    for sampler in made:
        sampler.release()


def make_app(sampler: object, config: Config | None = None, **kwargs: object) -> ConsoleApp:
    """The app with fakes; the shortest interval so a fed sample is picked up quickly."""
    kwargs.setdefault("clock", FrozenClock())
    kwargs.setdefault("hostname", "gpu-box")
    config = config or Config(interval_s=MIN_INTERVAL_S)
    return ConsoleApp(config, sampler, **kwargs)  # type: ignore[arg-type]
