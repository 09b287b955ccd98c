"""Where STS's pattern-3 blocks sit on the frame, shared by the labels (``data/statistics.py``) and
the 2D-label regression loss (``losses/sts.py``), which must not import each other."""

from __future__ import annotations

import numpy as np

__all__ = ["pattern3_coordinates"]


def pattern3_coordinates() -> np.ndarray:
    """(8, 2) (row, col) of each triangle on a 4×2 grid: the quadrant's row, then the triangle's side.

    The paper writes pattern-3 locations as 2D labels without giving the grid;
    we place the eight triangles by their centroids: rows top→bottom (1–4 from
    the triangles touching the top edge down to those touching the bottom),
    columns left/right of the centre line.
    """
    return np.array([[2, 1], [1, 1], [1, 2], [2, 2], [3, 1], [4, 1], [4, 2], [3, 2]])
