"""Simulated listing photos: a car-like shape in the ad's paint colour on a showroom background.

The real ads have no photos, so replay v1 renders one image per photo id, seeded by the id: body
and cabin in the car's colour (brightness varied), dark wheels and windows, a two-tone background
whose hues are unlike any paint colour, wall panels, and position, size and lighting varied per
photo. Ground
truth (the colour) is known, which is what the colour and hash features are tested against.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from autolake.lakehouse.vocabulary import colour_palette

UNKNOWN_COLOUR = "silver"


def _rng(photo_id: str) -> np.random.Generator:
    return np.random.default_rng(int.from_bytes(hashlib.sha256(photo_id.encode()).digest()[:8], "big"))


def render(photo_id: str, colour: str | None, size: tuple[int, int] = (192, 144)) -> Image.Image:
    """The photo `photo_id` of a car painted `colour` (an unknown colour renders as silver)."""
    rng = _rng(photo_id)
    width, height = size
    base = np.array(colour_palette().get(colour or "", colour_palette()[UNKNOWN_COLOUR]), dtype=float)
    wall = np.array([150, 205, 172]) * rng.uniform(0.92, 1.05)
    floor = np.array([64, 104, 86]) * rng.uniform(0.9, 1.1)
    horizon = int(height * rng.uniform(0.55, 0.7))
    image = Image.new("RGB", size)
    pixels = np.zeros((height, width, 3))
    pixels[:horizon] = wall
    pixels[horizon:] = floor
    shade = np.linspace(1.04, 0.94, height)[:, np.newaxis, np.newaxis]
    for _ in range(int(rng.integers(2, 6))):
        x0 = int(rng.uniform(0, width))
        x1 = min(width, x0 + int(rng.uniform(0.06, 0.3) * width))
        pixels[:horizon, x0:x1] = wall * rng.choice([0.8, 0.88, 1.1])
    for _ in range(int(rng.integers(1, 4))):
        y0 = int(rng.uniform(0.05, 0.35) * height)
        x0 = int(rng.uniform(0, 0.85) * width)
        pixels[y0:y0 + int(0.08 * height), x0:x0 + int(rng.uniform(0.08, 0.2) * width)] = wall * 0.7
    image = Image.fromarray(np.clip(pixels * shade, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    body = tuple(int(v) for v in np.clip(base * rng.uniform(0.93, 1.07), 0, 255))
    car_w = width * rng.uniform(0.55, 0.75)
    car_h = car_w * rng.uniform(0.32, 0.4)
    left = rng.uniform(0.05, 0.95 - car_w / width) * width
    bottom = horizon + (height - horizon) * rng.uniform(0.35, 0.75)
    top = bottom - car_h
    draw.rounded_rectangle([left, top + car_h * 0.35, left + car_w, bottom - car_h * 0.12], radius=car_h * 0.12, fill=body)
    cabin_left = left + car_w * rng.uniform(0.2, 0.3)
    cabin_right = left + car_w * rng.uniform(0.65, 0.75)
    draw.polygon([(cabin_left, top + car_h * 0.36), (cabin_left + car_w * 0.08, top), (cabin_right - car_w * 0.06, top),
                  (cabin_right, top + car_h * 0.36)], fill=body)
    glass = (40, 52, 60)
    draw.polygon([(cabin_left + car_w * 0.05, top + car_h * 0.32), (cabin_left + car_w * 0.1, top + car_h * 0.06),
                  (cabin_right - car_w * 0.08, top + car_h * 0.06), (cabin_right - car_w * 0.03, top + car_h * 0.32)],
                 fill=glass)
    wheel = car_h * 0.2
    for centre in (left + car_w * 0.2, left + car_w * 0.8):
        draw.ellipse([centre - wheel, bottom - car_h * 0.12 - wheel, centre + wheel, bottom - car_h * 0.12 + wheel],
                     fill=(18, 18, 18))
    return image.filter(ImageFilter.GaussianBlur(rng.uniform(0.0, 0.6)))


def jpeg_bytes(image: Image.Image, quality: int = 88) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def write_photo(path: Path, photo_id: str, colour: str | None, size: tuple[int, int] = (192, 144)) -> Path:
    """Render and write atomically (temporary name, then rename), like every landing file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(jpeg_bytes(render(photo_id, colour, size)))
    temporary.replace(path)
    return path
