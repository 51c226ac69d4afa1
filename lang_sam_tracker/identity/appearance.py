"""Appearance vectors: what an object looks like, to tell a returning object from a newcomer.

The segmenter hands the tracker one L2-normalised vector per object with each result (SAM 2:
image-encoder features pooled under the mask, see `sam2_stream`). For segmenters that give none,
`colour_appearance` derives one from the pixels. Vectors of different segmenters are never
compared with each other: one video uses one segmenter.
"""

from __future__ import annotations

import numpy as np

_BINS = 8  # per channel: a 512-bin joint colour histogram


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return np.where(norms > 0, vectors / np.maximum(norms, 1e-12), 0.0).astype(np.float32)


def cosine(a: np.ndarray | None, b: np.ndarray | None) -> float:
    """Cosine similarity of two vectors; 0 when either is missing or zero."""
    if a is None or b is None:
        return 0.0
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0 or nb == 0:
        return 0.0
    return float(np.dot(a, b) / (na * nb))


def colour_histogram(pixels: np.ndarray) -> np.ndarray:
    """Unit-length 512-bin joint RGB histogram of (K, 3) uint8 pixels (square-rooted: Hellinger)."""
    pixels = np.asarray(pixels, dtype=np.uint8).reshape(-1, 3)
    if len(pixels) == 0:
        return np.zeros(_BINS**3, np.float32)
    q = (pixels // (256 // _BINS)).astype(np.int64)
    codes = (q[:, 0] * _BINS + q[:, 1]) * _BINS + q[:, 2]
    hist = np.bincount(codes, minlength=_BINS**3).astype(np.float32)
    return normalise(np.sqrt(hist))


def colour_appearance(rgb: np.ndarray, boxes: np.ndarray, max_pixels: int = 4096) -> np.ndarray:
    """(N, 512) colour appearance of the inner half of each pixel xyxy box of an (H, W, 3) frame.

    The inner half keeps most of the background out of a box that is only roughly the object's.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    height, width = rgb.shape[:2]
    out = np.zeros((len(boxes), _BINS**3), np.float32)
    for n, (x0, y0, x1, y1) in enumerate(boxes):
        cx, cy, hw, hh = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 4, (y1 - y0) / 4
        xa, xb = int(max(0, np.floor(cx - hw))), int(min(width, np.ceil(cx + hw)))
        ya, yb = int(max(0, np.floor(cy - hh))), int(min(height, np.ceil(cy + hh)))
        if xb <= xa or yb <= ya:
            continue
        patch = rgb[ya:yb, xa:xb]
        stride = max(1, int(np.sqrt(patch.shape[0] * patch.shape[1] / max_pixels)))
        out[n] = colour_histogram(patch[::stride, ::stride])
    return out
