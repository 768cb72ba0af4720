"""Per-photo features that need no model: perceptual hashes, dominant colour, resolution, blur.

Plain numpy/OpenCV functions on decoded RGB arrays; the Spark UDFs in `spark_transforms.vision`
call them inside each batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.fft import dctn
from scipy.spatial import cKDTree

HASH_BITS = 64


def _signed(bits: np.ndarray) -> int:
    """64 booleans -> a signed 64-bit integer (Spark's bigint)."""
    value = 0
    for bit in bits.ravel():
        value = (value << 1) | int(bit)
    return value - (1 << 64) if value >= 1 << 63 else value


def _gray(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float64)


def phash(rgb: np.ndarray) -> int:
    """DCT perceptual hash: the 8x8 lowest frequencies of a 32x32 grayscale copy, above or below their median."""
    small = cv2.resize(_gray(rgb), (32, 32), interpolation=cv2.INTER_AREA)
    low = dctn(small, norm="ortho")[:8, :8]
    return _signed(low > np.median(low.ravel()[1:]))


def dhash(rgb: np.ndarray) -> int:
    """Difference hash: is each pixel of a 9x8 grayscale copy brighter than its right neighbour."""
    small = cv2.resize(_gray(rgb), (9, 8), interpolation=cv2.INTER_AREA)
    return _signed(small[:, 1:] > small[:, :-1])


def hamming(a: int, b: int) -> int:
    return int(bin((a ^ b) & ((1 << 64) - 1)).count("1"))


def blur_score(rgb: np.ndarray) -> float:
    """Variance of the Laplacian: low for blurred or flat photos."""
    return float(cv2.Laplacian(_gray(rgb), cv2.CV_64F).var())


@dataclass(frozen=True)
class Colour:
    name: str
    rgb: tuple[int, int, int]
    distance: float


def nearest_colour(rgb: np.ndarray, palette: dict[str, tuple[int, int, int]]) -> Colour:
    """The palette entry closest to `rgb` in CIELAB."""
    names = list(palette)
    reference = cv2.cvtColor(np.array([[palette[n] for n in names]], dtype=np.uint8), cv2.COLOR_RGB2LAB)[0].astype(float)
    target = cv2.cvtColor(np.array([[rgb]], dtype=np.uint8), cv2.COLOR_RGB2LAB)[0, 0].astype(float)
    distances = np.linalg.norm(reference - target, axis=1)
    best = int(np.argmin(distances))
    return Colour(names[best], tuple(int(v) for v in rgb), float(distances[best]))


def dominant_colour(rgb: np.ndarray, box: tuple[float, float, float, float] | None = None, *, levels: int = 12) -> np.ndarray:
    """The most common colour of the vehicle: inside `box` when a detector gave one; otherwise of the
    pixels unlike the photo's border (the background), weighted towards the centre, on a copy
    96 pixels wide.

    Colours are quantized to `levels` steps per channel; the answer is the mean of the winning bin."""
    if box is None and rgb.shape[1] > 96:
        scale = 96 / rgb.shape[1]
        rgb = cv2.resize(rgb, (96, max(int(rgb.shape[0] * scale), 1)), interpolation=cv2.INTER_AREA)
    height, width = rgb.shape[:2]
    if box is not None:
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        region = rgb[max(y1, 0):max(y2, y1 + 1), max(x1, 0):max(x2, x1 + 1)].reshape(-1, 3)
        weights = np.ones(len(region))
    else:
        border = np.concatenate([rgb[:3].reshape(-1, 3), rgb[-3:].reshape(-1, 3),
                                 rgb[:, :3].reshape(-1, 3), rgb[:, -3:].reshape(-1, 3)]).astype(float)
        lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).reshape(-1, 3).astype(float)
        border_lab = cv2.cvtColor(border.astype(np.uint8)[np.newaxis], cv2.COLOR_RGB2LAB)[0].astype(float)
        quantized = (np.round(border_lab / 4) * 4).astype(np.int64)
        keys = np.unique((quantized[:, 0] << 20) | (quantized[:, 1] << 10) | quantized[:, 2])
        samples = np.stack([keys >> 20, (keys >> 10) & 1023, keys & 1023], axis=1).astype(float)
        distance, _ = cKDTree(samples).query(lab, k=1)
        ys, xs = np.mgrid[0:height, 0:width]
        centre = 1.0 - np.hypot((xs - width / 2) / width, (ys - height / 2) / height).ravel()
        keep = distance > 12
        region = rgb.reshape(-1, 3)[keep] if keep.any() else rgb.reshape(-1, 3)
        weights = centre[keep] if keep.any() else centre
    step = 256 // levels
    bins = (region // step).astype(np.int64)
    keys = (bins[:, 0] * levels + bins[:, 1]) * levels + bins[:, 2]
    totals = np.bincount(keys, weights=weights)
    winner = int(np.argmax(totals))
    return region[keys == winner].mean(axis=0)
