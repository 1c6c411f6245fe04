"""ThumbHash (Evan Wallace's compact placeholder format), encoder and average-colour reader.

Written from the published algorithm; numpy does the DCT sums. Checked byte for byte against the
reference encoder's output (tests/app/imaging/test_thumbhash.py).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

Float = NDArray[np.float64]


def encode(rgba: NDArray[np.uint8]) -> bytes:
    """Hash an RGBA image of at most 100x100 pixels (shape h x w x 4).

    The arithmetic follows the reference encoder operation for operation, sums included (one
    running total in pixel order, which `cumsum` keeps): an AC term of an image with symmetry is
    zero give or take rounding noise, 15 x 0.5 = 7.5 sits exactly on a rounding boundary, and any
    other order of the same sums tips some of those nibbles the other way.
    """
    h, w = rgba.shape[:2]
    if w > 100 or h > 100:
        raise ValueError(f"{w}x{h} does not fit in 100x100")
    values = rgba.reshape(-1, 4).astype(np.float64)
    alpha = values[:, 3] / 255
    avg = [_running_sum(alpha / 255 * values[:, c]) for c in range(3)]
    total_alpha = _running_sum(alpha)
    if total_alpha:
        avg = [a / total_alpha for a in avg]
    has_alpha = total_alpha < w * h
    l_limit = 5 if has_alpha else 7
    lx = max(1, _round(l_limit * w / max(w, h)))
    ly = max(1, _round(l_limit * h / max(w, h)))
    # Composite over the average colour, then split into luminance, yellow-blue, red-green.
    r, g, b = (avg[c] * (1 - alpha) + alpha / 255 * values[:, c] for c in range(3))
    channels = [(r + g + b) / 3, (r + g) / 2 - b, r - g]
    l_dc, l_ac, l_scale = _channel(channels[0].reshape(h, w), max(3, lx), max(3, ly))
    p_dc, p_ac, p_scale = _channel(channels[1].reshape(h, w), 3, 3)
    q_dc, q_ac, q_scale = _channel(channels[2].reshape(h, w), 3, 3)
    landscape = w > h
    header24 = (
        _round(63 * l_dc)
        | (_round(31.5 + 31.5 * p_dc) << 6)
        | (_round(31.5 + 31.5 * q_dc) << 12)
        | (_round(31 * l_scale) << 18)
        | (int(has_alpha) << 23)
    )
    header16 = (
        (ly if landscape else lx)
        | (_round(63 * p_scale) << 3)
        | (_round(63 * q_scale) << 9)
        | (int(landscape) << 15)
    )
    out = bytearray(
        [header24 & 255, (header24 >> 8) & 255, header24 >> 16, header16 & 255, header16 >> 8]
    )
    acs = [l_ac, p_ac, q_ac]
    if has_alpha:
        a_dc, a_ac, a_scale = _channel(alpha.reshape(h, w), 5, 5)
        out.append(_round(15 * a_dc) | (_round(15 * a_scale) << 4))
        acs.append(a_ac)
    nibbles = [_round(15 * f) for ac in acs for f in ac]
    for i in range(0, len(nibbles), 2):
        high = nibbles[i + 1] if i + 1 < len(nibbles) else 0
        out.append(nibbles[i] | (high << 4))
    return bytes(out)


def _round(value: float) -> int:
    """JavaScript's Math.round, as the reference uses: halves go up (Python's round() goes to
    even, which turned a 2:1 transparent image's 2.5 rows into 2 instead of 3)."""
    return math.floor(value + 0.5)


def _running_sum(values: Float) -> float:
    """Left to right, one addition at a time, as a plain loop adds (numpy's sum pairs terms)."""
    return float(np.cumsum(values)[-1]) if values.size else 0.0


def _channel(values: Float, nx: int, ny: int) -> tuple[float, list[float], float]:
    h, w = values.shape
    xs = np.arange(w) + 0.5
    ys = np.arange(h) + 0.5
    dc, ac, scale = 0.0, [], 0.0
    for cy in range(ny):
        fy = np.cos(math.pi / h * cy * ys)
        cx = 0
        while cx * ny < nx * (ny - cy):
            fx = np.cos(math.pi / w * cx * xs)
            f = _running_sum((values * fx[None, :] * fy[:, None]).ravel()) / (w * h)
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
