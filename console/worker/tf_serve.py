"""`python -m console.worker.tf_serve [ARGS]`: `transformers serve ARGS`, able to serve a vision
model (glm4v, ...) where torchvision cannot be installed.

transformers serve loads a model's processor with `AutoProcessor`, which in transformers 5.x
builds glm4v's video processor and so needs torchvision; a CPU-only torch (this project's CI, a
user's laptop) has no torchvision that imports, and the server then answers every image
request with an error. This launcher runs the stock `transformers serve` command with one
change: when `AutoProcessor` fails with ImportError for a local model directory, the processor
is built the way the console's own engine builds it (console/worker/images.py: the image
processor's Pillow backend, the tokenizer, the chat template, no video processor). Everything
else (the HTTP server, the chat template, image decoding from data: URLs, generation,
streaming) is transformers serve's own code. Engine side: imports transformers.

Use it as the engine command of a served engine:
`--engine-cmd "python -m console.worker.tf_serve"` (the console adds `serve`'s arguments).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any


def _patch_processor_loader() -> bool:
    """Install the fallback into transformers serve's model manager; False when this
    transformers has no such hook point (then the stock behaviour stays)."""
    try:
        from transformers.cli.serving import model_manager
    except ImportError:
        return False
    manager = getattr(model_manager, "ModelManager", None)
    original = getattr(manager, "_load_processor", None)
    if manager is None or original is None:
        return False

    def _load_processor(self: Any, model_id_and_revision: str, *args: Any,
                        **kwargs: Any) -> Any:
        try:
            return original(self, model_id_and_revision, *args, **kwargs)
        except ImportError as exc:
            path = Path(model_id_and_revision.split("@", 1)[0])
            if kwargs.get("gguf_file") or not (path / "preprocessor_config.json").is_file():
                raise
            from console.worker.images import ImageError, load_processor

            try:
                processor, how = load_processor(
                    path, trust_remote_code=bool(getattr(self, "trust_remote_code", False)))
            except ImageError:
                raise exc from None
            print(f"autoglm-console: processor of {path}: {how}", file=sys.stderr, flush=True)
            return processor

    manager._load_processor = _load_processor
    return True


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["serve"]:
        args = args[1:]
    if not _patch_processor_loader():
        print("autoglm-console: this transformers has no serve model manager to adapt; "
              "running transformers serve as it is", file=sys.stderr, flush=True)
    from transformers.cli.transformers import main as transformers_main

    sys.argv = ["transformers", "serve", *args]
    result = transformers_main()  # type: ignore[no-untyped-call]
    return int(result) if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
