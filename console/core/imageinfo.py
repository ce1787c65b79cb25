"""An image file's format and size from its header, without Pillow (the app side lists attached
images with their resolution; the engine decodes them). PNG, JPEG, GIF, BMP and WebP; anything
else is `ImageInfoError` with one line. Pure apart from reading the file's first bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

_READ = 256 * 1024  # a JPEG's size marker can sit after EXIF data and thumbnails


class ImageInfoError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class ImageHeader:
    path: str
    format: str
    width: int
    height: int
    file_bytes: int


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
            i += 1 if marker == 0xFF else 2
            continue
        (length,) = struct.unpack(">H", data[i + 2:i + 4])
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE,
                      0xCF):
            height, width = struct.unpack(">HH", data[i + 5:i + 9])
            return width, height
        i += 2 + length
    return None


def read_header(path_text: str) -> ImageHeader:
    """Format and size of the image at `path_text`; ImageInfoError naming the file."""
    path = Path(path_text).expanduser()
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            data = f.read(_READ)
    except FileNotFoundError:
        raise ImageInfoError(f"image {path_text}: no such file") from None
    except IsADirectoryError:
        raise ImageInfoError(f"image {path_text}: a directory, not an image file") from None
    except OSError as exc:
        raise ImageInfoError(f"image {path_text}: cannot be read ({exc.strerror})") from None
    dims: tuple[int, int] | None = None
    fmt = ""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR" and len(data) >= 24:
        fmt, dims = "PNG", struct.unpack(">II", data[16:24])
    elif data.startswith(b"\xff\xd8"):
        fmt, dims = "JPEG", _jpeg_size(data)
    elif data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        fmt, dims = "GIF", struct.unpack("<HH", data[6:10])
    elif data.startswith(b"BM") and len(data) >= 26:
        w, h = struct.unpack("<ii", data[18:26])
        fmt, dims = "BMP", (abs(w), abs(h))
    elif data.startswith(b"RIFF") and data[8:12] == b"WEBP" and len(data) >= 30:
        fmt = "WebP"
        chunk = data[12:16]
        if chunk == b"VP8 ":
            w, h = struct.unpack("<HH", data[26:30])
            dims = (w & 0x3FFF, h & 0x3FFF)
        elif chunk == b"VP8L":
            bits = int.from_bytes(data[21:25], "little")
            dims = ((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
        elif chunk == b"VP8X":
            dims = (int.from_bytes(data[24:27], "little") + 1,
                    int.from_bytes(data[27:30], "little") + 1)
    if not fmt:
        raise ImageInfoError(f"image {path_text}: not a PNG, JPEG, GIF, BMP or WebP file")
    if dims is None or dims[0] <= 0 or dims[1] <= 0:
        raise ImageInfoError(f"image {path_text}: {fmt} header without a size (damaged?)")
    return ImageHeader(str(path), fmt, int(dims[0]), int(dims[1]), size)
