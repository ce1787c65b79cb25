"""Draw the probe images demo-vl ships (console/assets/probe/*.png): flat shapes, palette PNGs
of a few KB. Run once by hand (needs Pillow); the PNGs are committed:
`python -m console.assets.make_probes`.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

OUT = Path(__file__).resolve().parent / "probe"


def phone_screen() -> Image.Image:
    """540 x 1200: a status bar, a search box, a 4 x 5 grid of app icons, a dock."""
    img = Image.new("RGB", (540, 1200), (236, 240, 246))
    d = ImageDraw.Draw(img)
    d.rectangle([0, 0, 540, 48], fill=(30, 34, 44))
    d.text((20, 16), "12:30", fill=(255, 255, 255))
    d.rounded_rectangle([30, 90, 510, 150], radius=28, fill=(255, 255, 255),
                        outline=(180, 186, 196))
    d.text((60, 112), "Search", fill=(120, 124, 132))
    colours = [(66, 133, 244), (52, 168, 83), (251, 188, 5), (234, 67, 53), (154, 80, 200)]
    for row in range(5):
        for col in range(4):
            x, y = 40 + col * 125, 200 + row * 150
            d.rounded_rectangle([x, y, x + 90, y + 90], radius=20,
                                fill=colours[(row + col) % len(colours)])
            d.text((x + 10, y + 100), f"App {row * 4 + col + 1}", fill=(40, 40, 40))
    d.rectangle([0, 1060, 540, 1200], fill=(210, 216, 226))
    for col in range(4):
        x = 40 + col * 125
        d.ellipse([x + 10, 1090, x + 80, 1160], fill=colours[col])
    return img.quantize(colors=16)


def icon() -> Image.Image:
    """96 x 96: one settings-like icon (smaller than the processor's minimum: upscaled)."""
    img = Image.new("RGB", (96, 96), (255, 255, 255))
    d = ImageDraw.Draw(img)
    d.ellipse([8, 8, 88, 88], fill=(90, 96, 110))
    d.ellipse([32, 32, 64, 64], fill=(255, 255, 255))
    return img.quantize(colors=4)


def banner() -> Image.Image:
    """800 x 240: a wide notification banner with a button."""
    img = Image.new("RGB", (800, 240), (250, 250, 250))
    d = ImageDraw.Draw(img)
    d.rounded_rectangle([10, 10, 790, 230], radius=24, fill=(255, 255, 255),
                        outline=(200, 200, 200))
    d.ellipse([30, 60, 130, 160], fill=(52, 168, 83))
    d.text((160, 70), "Messages: 2 new", fill=(20, 20, 20))
    d.rounded_rectangle([600, 150, 760, 205], radius=12, fill=(66, 133, 244))
    d.text((650, 170), "Open", fill=(255, 255, 255))
    return img.quantize(colors=8)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, img in (("phone_screen", phone_screen()), ("icon", icon()), ("banner", banner())):
        img.save(OUT / f"{name}.png", optimize=True)


if __name__ == "__main__":
    main()
