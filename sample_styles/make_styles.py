"""Generate the procedural sample styles in this folder.

    python sample_styles/make_styles.py [--size 384] [--out sample_styles]

Every image is drawn from scratch with numpy and Pillow from a fixed seed, so the output is the
same on every run. Nothing is copied from elsewhere; the images are free to use for any purpose
(CC0).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

Painter = Callable[[int, np.random.Generator], Image.Image]


def _palette(rng: np.random.Generator, count: int, saturation: float = 0.8) -> list[tuple[int, int, int]]:
    hues = (rng.random() + np.arange(count) / count + rng.normal(0, 0.03, count)) % 1.0
    colours = []
    for hue in hues:
        sector, frac = divmod(hue * 6, 1)
        value, low = 235, 235 * (1 - saturation)
        rise, fall = low + (value - low) * frac, value - (value - low) * frac
        rgb = [
            (value, rise, low),
            (fall, value, low),
            (low, value, rise),
            (low, fall, value),
            (rise, low, value),
            (value, low, fall),
        ][int(sector) % 6]
        colours.append(tuple(int(c) for c in rgb))
    return colours


def stained_glass(size: int, rng: np.random.Generator) -> Image.Image:
    """Voronoi cells in jewel colours, separated by dark lead lines."""
    points = rng.random((60, 2)) * size
    yy, xx = np.mgrid[0:size, 0:size]
    distances = np.stack([np.hypot(xx - x, yy - y) for x, y in points])
    order = np.sort(distances, axis=0)
    nearest = distances.argmin(axis=0)
    colours = np.array(_palette(rng, len(points), 0.9), dtype=np.float32)
    image = colours[nearest]
    image *= (0.8 + 0.2 * rng.random((size, size, 1))).astype(np.float32)
    lead = (order[1] - order[0]) < 3.0
    image[lead] = (25, 22, 20)
    return Image.fromarray(image.astype(np.uint8)).filter(ImageFilter.SMOOTH)


def brush_strokes(size: int, rng: np.random.Generator) -> Image.Image:
    """Short thick strokes following a swirling flow field, layered like impasto."""
    image = Image.new("RGB", (size, size), (40, 50, 90))
    draw = ImageDraw.Draw(image)
    colours = _palette(rng, 5, 0.7)
    for _ in range(size * 6):
        x, y = rng.random(2) * size
        angle = np.sin(x / size * 6.0) * 2.0 + np.cos(y / size * 5.0) * 2.0
        length = rng.uniform(6, 18)
        dx, dy = np.cos(angle) * length, np.sin(angle) * length
        colour = colours[int((x + y) / (2 * size) * len(colours) + rng.integers(0, 2)) % len(colours)]
        jitter = tuple(int(np.clip(c + rng.normal(0, 18), 0, 255)) for c in colour)
        draw.line([(x - dx, y - dy), (x + dx, y + dy)], fill=jitter, width=int(rng.integers(3, 7)))
    return image


def waves(size: int, rng: np.random.Generator) -> Image.Image:
    """Stacked breaking-wave bands in indigo, teal and foam white."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    phase = rng.random() * 6.28
    field = np.sin(yy * 28 + np.sin(xx * 9 + phase) * 2.2 + np.sin(xx * 23) * 0.4)
    bands = np.digitize(field, [-0.6, -0.1, 0.4, 0.85])
    colours = np.array([(18, 30, 80), (30, 70, 140), (60, 130, 170), (150, 200, 210), (245, 242, 230)], np.uint8)
    return Image.fromarray(colours[bands]).filter(ImageFilter.SMOOTH_MORE)


def mosaic(size: int, rng: np.random.Generator) -> Image.Image:
    """Small square tesserae with grout, in terracotta and ochre."""
    image = Image.new("RGB", (size, size), (205, 200, 190))
    draw = ImageDraw.Draw(image)
    colours = [(170, 80, 50), (200, 140, 60), (120, 60, 40), (225, 190, 120), (70, 90, 110)]
    tile = max(6, size // 32)
    for top in range(0, size, tile):
        for left in range(0, size, tile):
            band = int((np.hypot(left - size / 2, top - size / 2) / tile) // 3)
            colour = colours[(band + int(rng.integers(0, 2))) % len(colours)]
            shade = tuple(int(np.clip(c + rng.normal(0, 12), 0, 255)) for c in colour)
            inset = rng.integers(1, 3)
            draw.rectangle([left + inset, top + inset, left + tile - 2, top + tile - 2], fill=shade)
    return image


def ink(size: int, rng: np.random.Generator) -> Image.Image:
    """Sumi-e style ink washes and splatters on warm paper."""
    noise = Image.fromarray((rng.random((size // 8, size // 8)) * 255).astype(np.uint8))
    wash = np.asarray(noise.resize((size, size), Image.Resampling.BICUBIC).filter(ImageFilter.GaussianBlur(6)))
    wash = wash.astype(np.float32) / 255.0
    darkness = np.clip((wash - 0.45) * 3.0, 0, 1) ** 1.5
    paper = np.array([236, 226, 204], np.float32)
    image = paper * (1 - darkness[..., None] * 0.92)
    pil = Image.fromarray(image.astype(np.uint8))
    draw = ImageDraw.Draw(pil)
    for _ in range(120):
        x, y = rng.random(2) * size
        radius = rng.exponential(2.0)
        draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=(25, 22, 24))
    return pil


def pointillism(size: int, rng: np.random.Generator) -> Image.Image:
    """Dense dabs of pure colour that blend at a distance, like Seurat."""
    image = Image.new("RGB", (size, size), (240, 236, 220))
    draw = ImageDraw.Draw(image)
    colours = _palette(rng, 6, 0.85)
    for _ in range(size * 14):
        x, y = rng.random(2) * size
        region = int((np.sin(x / size * 5) + np.cos(y / size * 4) + 2) / 4 * len(colours))
        colour = colours[(region + int(rng.integers(0, 3)) - 1) % len(colours)]
        radius = rng.uniform(1.5, 3.2)
        draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=colour)
    return image


def cubist(size: int, rng: np.random.Generator) -> Image.Image:
    """Overlapping translucent facets in muted browns and greys."""
    image = Image.new("RGB", (size, size), (120, 110, 95))
    colours = [(160, 140, 110), (90, 80, 70), (190, 175, 140), (70, 75, 80), (140, 100, 70), (210, 200, 180)]
    for _ in range(90):
        layer = Image.new("RGBA", (size, size), (0, 0, 0, 0))
        centre = rng.random(2) * size
        corners = [tuple(centre + rng.normal(0, size / 6, 2)) for _ in range(int(rng.integers(3, 6)))]
        colour = colours[int(rng.integers(0, len(colours)))]
        ImageDraw.Draw(layer).polygon(corners, fill=(*colour, 150), outline=(30, 25, 20, 220))
        image.paste(layer, (0, 0), layer)
    return image


def marbling(size: int, rng: np.random.Generator) -> Image.Image:
    """Domain-warped stripes, like marbled endpapers."""
    yy, xx = np.mgrid[0:size, 0:size] / size * 6.28
    warp = np.sin(yy * 1.7 + rng.random() * 6) * 1.4 + np.sin(xx * 2.3 + yy * 0.8) * 0.9
    stripes = np.sin(xx * 3.0 + warp * 2.5 + np.sin(yy * 3.1 + warp) * 1.5)
    t = (stripes + 1) / 2
    a, b, c = np.array([30, 60, 90]), np.array([200, 90, 60]), np.array([240, 220, 190])
    image = np.where(t[..., None] < 0.5, a + (b - a) * (t[..., None] * 2), b + (c - b) * (t[..., None] * 2 - 1))
    return Image.fromarray(image.astype(np.uint8))


STYLES: dict[str, Painter] = {
    "stained_glass": stained_glass,
    "brush_strokes": brush_strokes,
    "waves": waves,
    "mosaic": mosaic,
    "ink": ink,
    "pointillism": pointillism,
    "cubist": cubist,
    "marbling": marbling,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for index, (name, paint) in enumerate(STYLES.items()):
        image = paint(args.size, np.random.default_rng(1000 + index))
        image.convert("RGB").save(args.out / f"{name}.jpg", quality=90)
        print(args.out / f"{name}.jpg")


if __name__ == "__main__":
    main()
