"""console.core.imageinfo: sizes from headers (checked against Pillow's own reading)."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.core import imageinfo


@pytest.mark.parametrize("fmt,suffix", [("PNG", "png"), ("JPEG", "jpg"), ("GIF", "gif"),
                                        ("BMP", "bmp"), ("WEBP", "webp")])
def test_sizes_match_pillow(tmp_path: Path, fmt: str, suffix: str) -> None:
    from PIL import Image

    for width, height in ((1, 1), (37, 1200), (1080, 2400)):
        path = tmp_path / f"img_{width}x{height}.{suffix}"
        Image.new("RGB", (width, height), (10, 200, 30)).save(path, format=fmt)
        header = imageinfo.read_header(str(path))
        assert (header.width, header.height) == (width, height), (fmt, width, height)
        assert header.format.upper() == fmt and header.file_bytes == path.stat().st_size


def test_jpeg_with_exif_before_the_size(tmp_path: Path) -> None:
    from PIL import Image

    img = Image.new("RGB", (640, 480))
    exif = Image.Exif()
    exif[0x010E] = "x" * 5000  # ImageDescription: a big APP1 segment before SOF
    path = tmp_path / "exif.jpg"
    img.save(path, exif=exif)
    assert (imageinfo.read_header(str(path)).width, imageinfo.read_header(str(path)).height) \
        == (640, 480)


def test_bad_files_one_line(tmp_path: Path) -> None:
    cases = {tmp_path / "missing.png": "no such file", tmp_path: "a directory"}
    text = tmp_path / "a.txt"
    text.write_text("hello")
    cases[text] = "not a PNG, JPEG"
    cut = tmp_path / "cut.png"
    cut.write_bytes(b"\x89PNG\r\n\x1a\n\0\0")
    cases[cut] = "not a PNG"
    for path, why in cases.items():
        with pytest.raises(imageinfo.ImageInfoError, match=why):
            imageinfo.read_header(str(path))
