"""Run the app's runtime paths headless and print which engine-side modules got loaded.

`python tests/walls/runtime_paths.py MODEL_DIR OUT_DIR` (run from a source tree's root, with
that tree first on sys.path): start the app with Pilot, switch to the Model view, pre-flight
MODEL_DIR, open the doctor (it runs its probe in a subprocess), write a bundle into OUT_DIR,
then print one JSON line: {"loaded": [...], "done": [...]} (`done`: the paths that ran).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

ENGINE_SIDE = ("torch", "transformers", "safetensors", "console.worker")


async def main(model_dir: str, out_dir: str) -> list[str]:
    from console.app import ConsoleApp
    from console.host.config import MIN_INTERVAL_S, Config
    from console.host.telemetry import Telemetry

    done: list[str] = []
    app = ConsoleApp(Config(interval_s=MIN_INTERVAL_S), Telemetry(), hostname="walls",
                     cursor_blink=False)
    async with app.run_test(size=(120, 40)) as pilot:
        done.append("start")
        print("step", done[-1], time.monotonic(), file=sys.stderr, flush=True)
        await pilot.press("2")
        assert app.active_tab == "model"
        done.append("model view")
        print("step", done[-1], time.monotonic(), file=sys.stderr, flush=True)
        app.model_panel.set_model(model_dir)
        app.run_check(model_dir)
        deadline = time.monotonic() + 60
        while (app.session.check is None or app.session.check.result is None) \
                and time.monotonic() < deadline:
            await pilot.pause(0.05)
        assert app.session.check is not None and app.session.check.result is not None
        done.append("pre-flight")
        print("step", done[-1], time.monotonic(), file=sys.stderr, flush=True)
        await pilot.press("D")
        deadline = time.monotonic() + 120
        while app.doctor_report is None and time.monotonic() < deadline:
            await pilot.pause(0.1)
        assert app.doctor_report is not None
        done.append("doctor")
        print("step", done[-1], time.monotonic(), file=sys.stderr, flush=True)
        await app.pop_screen()
        os.chdir(out_dir)
        await pilot.press("B")
        deadline = time.monotonic() + 60
        while not list(Path(out_dir).glob("*")) and time.monotonic() < deadline:
            await pilot.pause(0.05)
        # The bundle's own worker (not the sampler, which runs until the app ends).
        for worker in [w for w in app.workers if w.group == "bundle"]:
            await worker.wait()
        assert list(Path(out_dir).glob("*")), "no bundle written"
        done.append("bundle")
        print("step", done[-1], time.monotonic(), file=sys.stderr, flush=True)
    return done


if __name__ == "__main__":
    done = asyncio.run(main(sys.argv[1], sys.argv[2]))
    loaded = [heavy for heavy in ENGINE_SIDE
              if heavy in sys.modules or any(n.startswith(heavy + ".") for n in sys.modules)]
    print(json.dumps({"loaded": loaded, "done": done}))
