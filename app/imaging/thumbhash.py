"""ThumbHash (Evan Wallace's compact placeholder format), encoder and average-colour reader.

Written from the published algorithm; numpy does the DCT sums.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

Float = NDArray[np.float64]


def encode(rgba: NDArray[np.uint8]) -> bytes:
    """Hash an RGBA image of at most 100x100 pixels (shape h x w x 4)."""
    h, w = rgba.shape[:2]
    if w > 100 or h > 100:
        raise ValueError(f"{w}x{h} does not fit in 100x100")
    px = rgba.astype(np.float64) / 255.0
    alpha = px[..., 3]
    total_alpha = float(alpha.sum())
    avg = (px[..., :3] * alpha[..., None]).sum(axis=(0, 1))
    if total_alpha > 0:
        avg /= total_alpha
    has_alpha = total_alpha < w * h
    l_limit = 5 if has_alpha else 7
    lx = max(1, round(l_limit * w / max(w, h)))
    ly = max(1, round(l_limit * h / max(w, h)))
    # Composite over the average colour, then split into luminance, yellow-blue, red-green.
    rgb = avg * (1 - alpha[..., None]) + px[..., :3] * alpha[..., None]
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    l_dc, l_ac, l_scale = _channel((r + g + b) / 3, max(3, lx), max(3, ly))
    p_dc, p_ac, p_scale = _channel((r + g) / 2 - b, 3, 3)
    q_dc, q_ac, q_scale = _channel(r - g, 3, 3)
    landscape = w > h
    header24 = (
        round(63 * l_dc)
        | (round(31.5 + 31.5 * p_dc) << 6)
        | (round(31.5 + 31.5 * q_dc) << 12)
        | (round(31 * l_scale) << 18)
        | (int(has_alpha) << 23)
    )
    header16 = (
        (ly if landscape else lx)
        | (round(63 * p_scale) << 3)
        | (round(63 * q_scale) << 9)
        | (int(landscape) << 15)
    )
    out = bytearray(
        [header24 & 255, (header24 >> 8) & 255, header24 >> 16, header16 & 255, header16 >> 8]
    )
    acs = [l_ac, p_ac, q_ac]
    if has_alpha:
        a_dc, a_ac, a_scale = _channel(alpha, 5, 5)
        out.append(round(15 * a_dc) | (round(15 * a_scale) << 4))
        acs.append(a_ac)
    nibbles = [round(15 * f) for ac in acs for f in ac]
    for i in range(0, len(nibbles), 2):
        high = nibbles[i + 1] if i + 1 < len(nibbles) else 0
        out.append(nibbles[i] | (high << 4))
    return bytes(out)


def _channel(values: Float, nx: int, ny: int) -> tuple[float, list[float], float]:
    h, w = values.shape
    xs = (np.arange(w) + 0.5) * math.pi / w
    ys = (np.arange(h) + 0.5) * math.pi / h
    dc, ac, scale = 0.0, [], 0.0
    for cy in range(ny):
        cx = 0
        while cx * ny < nx * (ny - cy):
            f = float(np.cos(ys * cy) @ values @ np.cos(xs * cx)) / (w * h)
            if cx or cy:
                ac.append(f)
                scale = max(scale, abs(f))
            else:
                dc = f
            cx += 1
    if scale:
        ac = [0.5 + 0.5 / scale * f for f in ac]
    return dc, ac, scale


def average_rgba(hash_: bytes) -> tuple[float, float, float, float]:
    """The average colour the hash encodes, each channel in 0..1."""
    header = hash_[0] | (hash_[1] << 8) | (hash_[2] << 16)
    l_ = (header & 63) / 63
    p = ((header >> 6) & 63) / 31.5 - 1
    q = ((header >> 12) & 63) / 31.5 - 1
    has_alpha = header >> 23
    a = (hash_[5] & 15) / 15 if has_alpha else 1.0
    b = l_ - 2 / 3 * p
    r = (3 * l_ - b + q) / 2
    g = r - q
    return (_clamp(r), _clamp(g), _clamp(b), a)


def _clamp(v: float) -> float:
    return min(1.0, max(0.0, v))
