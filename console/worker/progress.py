"""Load progress: which weight files a load reads, each checkpoint tensor's bytes and file
(from the safetensors headers, read by `console.core.preflight`), and `LoadTracker`, which hooks
transformers' "Loading weights" bar, emits `progress` and runs the `before_tensor` hooks."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from console.core.preflight import read_safetensors_header
from console.worker.events import Emit
from console.worker.hooks import TensorStep

PROGRESS_INTERVAL_S = 0.1

def safetensors_index(files: list[Path]) -> dict[str, tuple[int, str]]:
    """checkpoint key -> (bytes, file name), from the safetensors headers only (the one header
    reader: `console.core.preflight.read_safetensors_header`). A file whose header cannot be
    read is skipped: the loader raises its own error for it."""
    keys: dict[str, tuple[int, str]] = {}
    for path in files:
        if path.suffix != ".safetensors":
            continue
        header, _ = read_safetensors_header(path)
        if header is None:
            continue
        for name, (start, end) in header.data_offsets.items():
            keys[name] = (int(end) - int(start), path.name)
    return keys


class LoadTracker:
    """Counts tensors and bytes as transformers materialises them and emits `progress`.

    transformers 5.17+: `transformers.utils.logging.set_tqdm_hook` sees the "Loading weights"
    bar, which iterates the target parameters one per tensor before materialising each; we wrap
    that iteration. 5.0-5.16: the same bar through a patch of `core_model_loading.tqdm`.
    Otherwise (4.x) only start and end are reported. `before_tensor` hooks run on the loading
    thread before each tensor and may block (pause) or raise (abort): the guard plugs in here.
    """

    def __init__(self, emit: Emit, reply_to: int, files: list[Path],
                 before_tensor: list[Callable[[TensorStep], None]],
                 device_for: Callable[[str], str] | None = None) -> None:
        self.emit = emit
        self.device_for = device_for or (lambda name: "cpu")
        self.reply_to = reply_to
        self.key_info = safetensors_index(files)
        known = sum(n for n, _ in self.key_info.values())
        # .bin pickles have no header: count their file sizes and spread them over tensors.
        self.bytes_total = known + sum(p.stat().st_size for p in files
                                       if p.suffix != ".safetensors")
        self.bytes_exact = all(p.suffix == ".safetensors" for p in files)
        self.tensors_total = len(self.key_info)
        self.tensors_done = 0
        self.bytes_done = 0
        self.current_file: str | None = files[0].name if files else None
        self.before_tensor = before_tensor
        self.slow_s = float(os.environ.get("AUTOGLM_ENGINE_TEST_SLOW_LOAD_S", "0") or 0)
        self.method = "none"
        self.t_start = time.perf_counter()
        self._last_emit = 0.0
        self._pending = False
        self._pending_bytes = 0
        # Which loader runs ("fast" / "stock", None until decided) and why not fast: the
        # console.worker.fastload Outcome of this load, shown in every progress event.
        self.outcome: Any = None

    # -- hook installation (feature-detected; these are private and move between versions)
    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        from transformers.utils import logging as hf_logging

        forced = os.environ.get("AUTOGLM_ENGINE_PROGRESS_METHOD", "")
        set_hook = getattr(hf_logging, "set_tqdm_hook", None)
        if set_hook is not None and forced != "patch":
            previous = set_hook(self._tqdm_hook)
            self.method = "set_tqdm_hook"
            try:
                yield
            finally:
                set_hook(previous)
            return
        try:
            import transformers.core_model_loading as cml_module

            cml: Any = cml_module
        except ImportError:
            cml = None
        if cml is not None and hasattr(cml, "tqdm"):
            original = cml.tqdm
            cml.tqdm = lambda *a, **kw: self._tqdm_hook(original, a, kw)
            self.method = "patch core_model_loading.tqdm"
            try:
                yield
            finally:
                cml.tqdm = original
            return
        yield

    def _tqdm_hook(self, factory: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        bar = factory(*args, **kwargs)
        if kwargs.get("desc") == "Loading weights" and args:
            return _CountingBar(bar, self)
        return bar

    # -- counting
    def begin(self, total: int) -> None:
        self.tensors_total = total
        self.t_start = time.perf_counter()
        self.report(force=True)

    def step(self, item: Any) -> None:
        """Called with the next ("target name", mapping) item, before it is materialised."""
        self._finish_pending()
        name, mapping = item if isinstance(item, tuple) and len(item) == 2 else (str(item), None)
        nbytes, file = self._bytes_and_file(name, mapping)
        if file:
            self.current_file = file
        self._pending_bytes = nbytes
        self._pending = True
        step = TensorStep(name, nbytes, file, self.tensors_done, self.tensors_total,
                          self.device_for(name))
        for hook in self.before_tensor:
            hook(step)
        if self.slow_s:
            time.sleep(self.slow_s)
        self.report()

    def step_exact(self, step: TensorStep) -> None:
        """The fast loader's per-tensor call (console/worker/fastload.py): it knows each tensor's
        device bytes, file and device itself; progress counts the checkpoint bytes."""
        if step.index == 0:
            self.method = "fast loader"
            self.begin(step.total)
        self._finish_pending()
        if step.file:
            self.current_file = step.file
        self._pending_bytes = self.key_info.get(step.name, (step.nbytes, None))[0]
        self._pending = True
        for hook in self.before_tensor:
            hook(step)
        if self.slow_s:
            time.sleep(self.slow_s)
        self.report()

    def end(self) -> None:
        self._finish_pending()
        if not self.bytes_exact:
            self.bytes_done = self.bytes_total
        self.report(force=True)

    def _finish_pending(self) -> None:
        """The tensor handed out last is materialised once the loop asks for the next one."""
        if self._pending:
            self.tensors_done += 1
            self.bytes_done += self._pending_bytes
        self._pending = False
        self._pending_bytes = 0

    def _bytes_and_file(self, name: str, mapping: Any) -> tuple[int, str | None]:
        sources: set[str] = set()
        targets = getattr(mapping, "layer_targets", None)
        if isinstance(targets, dict):
            for keys in targets.values():
                sources.update(keys)
        if not sources:
            sources = {name}
        nbytes, file = 0, None
        for key in sources:
            info = self.key_info.get(key)
            if info is not None:
                nbytes += info[0]
                file = info[1]
        if not self.bytes_exact and self.tensors_total:
            nbytes = self.bytes_total // self.tensors_total
        return nbytes, file

    def report(self, force: bool = False) -> None:
        now = time.perf_counter()
        if not force and now - self._last_emit < PROGRESS_INTERVAL_S:
            return
        self._last_emit = now
        elapsed = now - self.t_start
        rate = self.bytes_done / elapsed if elapsed > 0 and self.bytes_done else None
        eta = (self.bytes_total - self.bytes_done) / rate if rate else None
        self.emit("progress", self.reply_to, tensors_done=self.tensors_done,
                  tensors_total=self.tensors_total, bytes_done=self.bytes_done,
                  bytes_total=self.bytes_total, rate_bytes_per_s=rate, eta_s=eta,
                  current_file=self.current_file, elapsed_s=elapsed, method=self.method,
                  loader=getattr(self.outcome, "loader", None),
                  fallback_reason=getattr(self.outcome, "fallback_reason", None))


class _CountingBar:
    """Wraps transformers' "Loading weights" bar: the real bar still prints (raw output)."""

    def __init__(self, bar: Any, tracker: LoadTracker) -> None:
        self._bar = bar
        self._tracker = tracker

    def __iter__(self) -> Iterator[Any]:
        items = self._bar
        try:
            total = len(items)
        except TypeError:
            total = self._tracker.tensors_total
        self._tracker.begin(total)
        for item in items:
            self._tracker.step(item)
            yield item
        self._tracker.end()

    def __len__(self) -> int:
        return len(self._bar)

    def __enter__(self) -> _CountingBar:
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            self._bar.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._bar, name)


def weight_files(directory: Path) -> list[Path]:
    """The weight files a load reads: safetensors first (what transformers prefers), else .bin."""
    st = sorted(directory.glob("*.safetensors"))
    if st:
        return st
    return sorted(p for p in directory.glob("*.bin") if p.name.startswith(("pytorch_model", "model")))
