"""Image prompts over the OpenAI API (console/core/apiimages.py): the message on the wire and
the one-line refusals, on the real probe images and real files."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from console.core import apiimages
from console.host.demo_vl import probe_images

PROBES = {p.name: p for p in probe_images()}


def test_text_only_is_a_plain_string_message() -> None:
    assert apiimages.user_message("hi") == ({"role": "user", "content": "hi"}, [])


def test_images_come_first_as_data_urls_of_the_file_bytes() -> None:
    paths = [PROBES["banner.png"], PROBES["icon.png"]]
    message, images = apiimages.user_message("look", [str(p) for p in paths])
    parts = message["content"]
    assert message["role"] == "user"
    assert [p["type"] for p in parts] == ["image_url", "image_url", "text"]
    assert parts[2] == {"type": "text", "text": "look"}
    for part, path in zip(parts, paths, strict=False):
        url = part["image_url"]["url"]
        assert url.startswith("data:image/png;base64,")
        assert base64.b64decode(url.split(",", 1)[1]) == path.read_bytes()
    assert [i.to_json_dict()["file_bytes"] for i in images] == [p.stat().st_size for p in paths]
    assert images[1].to_json_dict() == {"path": str(paths[1]), "width": 96, "height": 96,
                                        "file_bytes": paths[1].stat().st_size, "format": "PNG"}


def test_jpeg_gets_its_own_mime_type(tmp_path: Path) -> None:
    jpeg = tmp_path / "shot.jpg"
    # SOI, a SOF0 segment for 4x3, EOI: enough header for the size
    jpeg.write_bytes(b"\xff\xd8\xff\xc0\x00\x11\x08\x00\x03\x00\x04\x03" + b"\x00" * 9
                     + b"\xff\xd9")
    image = apiimages.encode_image(str(jpeg))
    assert image.data_url.startswith("data:image/jpeg;base64,")
    assert (image.header.width, image.header.height) == (4, 3)


def test_an_image_over_the_size_limit_is_refused_naming_it() -> None:
    path = str(PROBES["phone_screen.png"])
    size = PROBES["phone_screen.png"].stat().st_size
    with pytest.raises(apiimages.ApiImageError) as err:
        apiimages.user_message("x", [path], max_image_bytes=size - 1)
    assert str(err.value).startswith(f"image {path}: ")
    assert "one image may carry in a request; shrink it" in str(err.value)
    assert apiimages.user_message("x", [path], max_image_bytes=size)[1]


def test_the_images_together_over_the_request_limit_are_refused() -> None:
    paths = [str(PROBES["icon.png"]), str(PROBES["banner.png"])]
    first = PROBES["icon.png"].stat().st_size
    with pytest.raises(apiimages.ApiImageError) as err:
        apiimages.user_message("x", paths, max_total_bytes=first + 1)
    assert str(err.value).startswith(f"image {paths[1]}: the attached images come to ")


def test_bad_files_and_too_many_images_are_one_line(tmp_path: Path) -> None:
    text = tmp_path / "notes.png"
    text.write_text("hello")
    cases = {str(tmp_path / "missing.png"): "no such file",
             str(text): "not a PNG, JPEG, GIF, BMP or WebP file",
             str(tmp_path): "a directory, not an image file"}
    for path, why in cases.items():
        with pytest.raises(apiimages.ApiImageError) as err:
            apiimages.user_message("x", [path])
        assert str(err.value) == f"image {path}: {why}"
        assert "\n" not in str(err.value)
    with pytest.raises(apiimages.ApiImageError, match=r"^3 images attached: at most 2"):
        apiimages.user_message("x", [str(PROBES["icon.png"])] * 3, max_images=2)
