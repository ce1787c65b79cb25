"""Image prompts over the OpenAI API (served engines: vLLM, SGLang, `transformers serve`).

`user_message(prompt, paths)` is one OpenAI chat message whose content parts are the images
(each an `image_url` part holding a `data:` URL: the file's bytes, base64) followed by the
prompt's text part, the order the console's own engine puts them in (images before the text,
as GLM-4.1V's template does). Each file is checked before anything is sent: its header must
be a PNG, JPEG, GIF, BMP or WebP (console.core.imageinfo), its size within `max_image_bytes`
and all of them within `max_total_bytes`; every failure is one `ApiImageError` line naming the
file and the fix. Pure apart from reading the files.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from console.core.imageinfo import ImageHeader, ImageInfoError, read_header
from console.core.units import fmt_bytes

# OpenAI's API takes images up to 20 MB each; vLLM and SGLang take what fits their request
# body limit. A data: URL is 4/3 of the file.
MAX_IMAGE_BYTES = 20 * 2**20
MAX_TOTAL_BYTES = 64 * 2**20
MAX_IMAGES = 32  # per prompt, as the console's own engine (Open-AutoGLM serves 10)

MIME_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "BMP": "image/bmp",
              "WebP": "image/webp"}


class ApiImageError(ValueError):
    """An image that cannot be sent: one line naming the file and the fix."""


@dataclass(frozen=True, slots=True)
class ApiImage:
    header: ImageHeader
    data_url: str

    def to_json_dict(self) -> dict[str, Any]:
        """The image as `Generated.images` lists it (no pixels, no URL)."""
        h = self.header
        return {"path": h.path, "width": h.width, "height": h.height,
                "file_bytes": h.file_bytes, "format": h.format}


def encode_image(path_text: str, max_image_bytes: int = MAX_IMAGE_BYTES) -> ApiImage:
    """One image file as a `data:` URL, after its header and size are checked."""
    try:
        header = read_header(path_text)
    except ImageInfoError as exc:
        raise ApiImageError(str(exc)) from None
    if header.file_bytes > max_image_bytes:
        raise ApiImageError(
            f"image {path_text}: {fmt_bytes(header.file_bytes)} is over the "
            f"{fmt_bytes(max_image_bytes)} one image may carry in a request; "
            "shrink it or save it as JPEG")
    try:
        data = Path(header.path).read_bytes()
    except OSError as exc:
        raise ApiImageError(f"image {path_text}: cannot be read ({exc.strerror})") from None
    if len(data) > max_image_bytes:  # it grew since its header was read
        raise ApiImageError(
            f"image {path_text}: {fmt_bytes(len(data))} is over the "
            f"{fmt_bytes(max_image_bytes)} one image may carry in a request; shrink it")
    mime = MIME_TYPES[header.format]
    return ApiImage(header, f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}")


def user_message(
    prompt: str,
    paths: Sequence[str] = (),
    *,
    max_image_bytes: int = MAX_IMAGE_BYTES,
    max_total_bytes: int = MAX_TOTAL_BYTES,
    max_images: int = MAX_IMAGES,
) -> tuple[dict[str, Any], list[ApiImage]]:
    """(the OpenAI user message, the images in it). Text only: `content` is the prompt as a
    string; with images: content parts, the images first."""
    if not paths:
        return {"role": "user", "content": prompt}, []
    if len(paths) > max_images:
        raise ApiImageError(f"{len(paths)} images attached: at most {max_images} per prompt; "
                            "remove some (ctrl+r)")
    images: list[ApiImage] = []
    total = 0
    for path in paths:
        image = encode_image(path, max_image_bytes)
        total += image.header.file_bytes
        if total > max_total_bytes:
            raise ApiImageError(
                f"image {path}: the attached images come to {fmt_bytes(total)}, over the "
                f"{fmt_bytes(max_total_bytes)} one request may carry; attach fewer or "
                "smaller ones")
        images.append(image)
    parts: list[dict[str, Any]] = [
        {"type": "image_url", "image_url": {"url": image.data_url}} for image in images
    ]
    parts.append({"type": "text", "text": prompt})
    return {"role": "user", "content": parts}, images
