"""Image prompts in the engine: the model's own processor, image checks, the inputs.

`load_processor(path)` is the model's processor: `AutoProcessor` first. transformers 5.x's
`AutoProcessor` / `AutoImageProcessor` need torchvision (for the video processor and the fast
image backend); without it the processor is assembled from the same files: the image
processor's Pillow backend (`<Name>Pil`, the same resize rule), the tokenizer, the chat
template, and the model's processor class without a video processor (images only).

`open_image(path)` reads one image fully (so a truncated file fails here, not in the model)
and returns RGB; every failure is one `ImageError` line naming the file and the fix.
`build_inputs(processor, prompt, images)` renders the chat template with one image placeholder
per image, runs the processor (which expands each placeholder to the image's tokens) and
returns the model inputs and the number of image tokens in them, counted from input_ids and
checked against the processor's own count (image_grid_thw / merge^2). Engine side only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from console.core import vision

MAX_IMAGES = 32  # per prompt: Open-AutoGLM serves 10 (../shared/FACTS.md)


class ImageError(Exception):
    """A bad image or an image prompt the model cannot take: one line, with a fix."""

    error_type = "BadImage"

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


@dataclass(frozen=True)
class ImageInfo:
    path: str
    width: int
    height: int
    file_bytes: int
    format: str


@dataclass
class Prepared:
    inputs: dict[str, Any]
    image_tokens: int
    tokens_per_image: list[int]
    images: list[ImageInfo]
    processor_path: str  # "AutoProcessor" or "pillow fallback"


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ImageError(f"{path}: cannot be read as JSON ({exc})",
                         "restore the model's processor files") from None
    if not isinstance(data, dict):
        raise ImageError(f"{path}: not a JSON object", "restore the model's processor files")
    return data


def load_processor(path: Path, *, trust_remote_code: bool = False) -> tuple[Any, str]:
    """(processor, how it was loaded). ImageError when the model has no image processor."""
    import transformers as tf

    pre_path = path / "preprocessor_config.json"
    if not pre_path.is_file():
        raise ImageError(f"{path} has no preprocessor_config.json: no image processor for "
                         "this model", "a vision model's directory holds its processor files")
    try:
        auto: Any = tf.AutoProcessor
        return auto.from_pretrained(str(path), local_files_only=True,
                                    trust_remote_code=trust_remote_code), "AutoProcessor"
    except (ImportError, TypeError, ValueError, OSError) as first:
        first_line = (str(first).strip().splitlines() or [""])[0]
        reason = f"{type(first).__name__}: {first_line.split('. ')[0][:120]}"
    pre = _read_json(pre_path)
    ip_name = str(pre.get("image_processor_type") or "")
    proc_name = str(pre.get("processor_class") or "")
    pil_cls = getattr(tf, ip_name + "Pil", None) if ip_name else None
    proc_cls = getattr(tf, proc_name, None) if proc_name else None
    if pil_cls is None or proc_cls is None:
        raise ImageError(f"{path}: AutoProcessor failed ({reason}) and no Pillow fallback "
                         f"for image processor {ip_name or '?'} / processor {proc_name or '?'}",
                         "install torchvision matching your torch, or the processor's needs")
    image_processor = pil_cls.from_pretrained(str(path), local_files_only=True)
    tokenizer = tf.AutoTokenizer.from_pretrained(str(path), local_files_only=True,
                                                 trust_remote_code=trust_remote_code)
    template_path = path / "chat_template.jinja"
    template = template_path.read_text() if template_path.is_file() else \
        getattr(tokenizer, "chat_template", None)

    class _ImagesOnly(proc_cls):  # type: ignore[misc,valid-type]
        """The model's processor class with its video processor left out."""

        @classmethod
        def get_attributes(cls) -> list[str]:
            return [a for a in super().get_attributes() if a != "video_processor"]

    _ImagesOnly.__name__ = proc_cls.__name__
    try:
        if "video_processor" in proc_cls.get_attributes():
            processor = _ImagesOnly(image_processor, tokenizer, None, chat_template=template)
        else:
            processor = proc_cls(image_processor, tokenizer, chat_template=template)
    except (TypeError, ValueError) as exc:
        raise ImageError(f"{path}: the processor {proc_name} cannot be built without "
                         f"torchvision ({type(exc).__name__}: {exc})",
                         "install torchvision matching your torch") from None
    return processor, f"pillow fallback ({reason})"


def processor_limits(processor: Any) -> vision.ProcessorLimits | None:
    """The processor's own sizing, in console.core.vision's terms (None if not smart-resize)."""
    ip = getattr(processor, "image_processor", None)
    size = getattr(ip, "size", None)
    if ip is None or size is None:
        return None
    lo = getattr(size, "shortest_edge", None) or (size.get("shortest_edge")
                                                  if isinstance(size, dict) else None)
    hi = getattr(size, "longest_edge", None) or (size.get("longest_edge")
                                                 if isinstance(size, dict) else None)
    if lo is None:
        lo = getattr(ip, "min_pixels", None)
        hi = getattr(ip, "max_pixels", None)
    if not isinstance(lo, int) or not isinstance(hi, int):
        return None
    return vision.ProcessorLimits(
        patch_size=int(ip.patch_size), temporal_patch_size=int(ip.temporal_patch_size),
        merge_size=int(ip.merge_size), min_pixels=lo, max_pixels=hi,
        temporal_in_limit=type(ip).__name__.startswith("Glm4v"), source="processor")


def open_image(path_text: str, limits: vision.ProcessorLimits | None = None
               ) -> tuple[Any, ImageInfo]:
    """Read an image fully and return (RGB PIL image, info); ImageError on anything wrong."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path_text).expanduser()
    if not path.exists():
        raise ImageError(f"image {path_text}: no such file", "check the path")
    if not path.is_file():
        raise ImageError(f"image {path_text}: not a file", "give an image file (PNG, JPEG, ...)")
    try:
        with Image.open(path) as img:
            width, height = img.size
            fmt = img.format or "?"
            if width * height > (Image.MAX_IMAGE_PIXELS or 0) > 0:
                raise ImageError(
                    f"image {path_text}: {width}x{height} = {width * height:,} pixels is over "
                    f"the {Image.MAX_IMAGE_PIXELS:,}-pixel limit for decoding",
                    "resize it; the processor shrinks images to its max_pixels anyway")
            img.load()
            rgb = img.convert("RGB")
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError(f"image {path_text}: not an image Pillow can read",
                         "give a PNG, JPEG, WebP, GIF or BMP file") from None
    except Image.DecompressionBombError as exc:
        raise ImageError(f"image {path_text}: too many pixels to decode safely ({exc})",
                         "resize it first") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"image {path_text}: truncated or damaged ({exc})",
                         "copy the file again or re-save it") from None
    if limits is not None:
        try:
            vision.smart_resize(height, width, limits)
        except vision.VisionError as exc:
            raise ImageError(f"image {path_text}: {exc}", "crop or pad it") from None
    return rgb, ImageInfo(str(path), width, height, path.stat().st_size, fmt)


def build_inputs(processor: Any, prompt: str, paths: list[str], *, how: str = "") -> Prepared:
    """Model inputs for `prompt` with the images at `paths` before it, and the image tokens."""
    if len(paths) > MAX_IMAGES:
        raise ImageError(f"{len(paths)} images: at most {MAX_IMAGES} per prompt",
                         "send fewer images")
    limits = processor_limits(processor)
    opened = [open_image(p, limits) for p in paths]
    images = [img for img, _ in opened]
    infos = [info for _, info in opened]
    template = getattr(processor, "chat_template", None)
    content: list[dict[str, Any]] = [{"type": "image"} for _ in images]
    content.append({"type": "text", "text": prompt})
    messages = [{"role": "user", "content": content}]
    if template:
        text = processor.apply_chat_template(messages, tokenize=False,
                                             add_generation_prompt=True)
    else:
        token = getattr(processor, "image_token", "<|image|>")
        text = token * len(images) + prompt
    enc = processor(text=[text], images=images or None, return_tensors="pt")
    image_token_id = getattr(processor, "image_token_id", None)
    counted = int((enc["input_ids"] == image_token_id).sum()) if image_token_id is not None else 0
    per_image: list[int] = []
    grid = enc.get("image_grid_thw")
    if grid is not None:
        merge = int(getattr(processor.image_processor, "merge_size", 1))
        per_image = [int(g.prod()) // (merge * merge) for g in grid]
    if per_image and sum(per_image) != counted:
        raise ImageError(f"the chat template placed {counted} image tokens for "
                         f"{len(images)} images of {sum(per_image)} tokens",
                         "the chat template needs one image placeholder per image")
    inputs = {k: v for k, v in enc.items() if hasattr(v, "to")}
    return Prepared(inputs, counted, per_image, infos, how)


class PeakRss:
    """The process's peak RSS growth over a stretch of work (Linux): writing 5 to
    /proc/self/clear_refs resets VmHWM to the current RSS; VmHWM afterwards is the exact peak.
    None where /proc does not allow it."""

    def __init__(self, start_rss: int | None) -> None:
        self.start_rss = start_rss

    @staticmethod
    def _status(field: str) -> int | None:
        try:
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError):
            return None
        return None

    @classmethod
    def start(cls) -> PeakRss:
        try:
            Path("/proc/self/clear_refs").write_text("5")
        except OSError:
            return cls(None)
        return cls(cls._status("VmRSS"))

    def growth(self) -> int | None:
        peak = self._status("VmHWM")
        if self.start_rss is None or peak is None:
            return None
        return max(0, peak - self.start_rss)
