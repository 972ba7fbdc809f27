"""A 2D parallel-beam projector for slice-wise PET, as one sparse matrix.

Joseph's method (IEEE TMI 1982;1(3):192-196): each line of response is
followed across the image one row (or column) at a time along its dominant
axis, the image is interpolated linearly between the two nearest pixels, and
each sample is weighted by the path length per step, so a row of the matrix
gives the line integral (in mm × image units) along its line. The back
projection is the same matrix transposed, so forward and back projection are
exact adjoints (⟨Ax, y⟩ = ⟨x, Aᵀy⟩) by construction, which MLEM needs.

Slice-wise 2D leaves out the oblique lines of response of a 3D scanner (as a
2D acquisition, or 3D data after single-slice rebinning, would): attenuation
along them is not modelled. Every axial slice of a volume is projected with
the same matrix in one sparse product.

Geometry: pixel (i, j) of an (nx, ny) slice is centred at
x = (i - (nx-1)/2)·d, y = (j - (ny-1)/2)·d; angle θ_m = m·180°/n_angles; the
line at (θ, t) is {t·(cos θ, sin θ) + s·(-sin θ, cos θ)}; bin k at
t = (k - (n_bins-1)/2)·d, with n_bins covering the slice's diagonal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse


@dataclass(frozen=True, eq=False)
class Projector:
    """The system matrix of an (nx, ny) slice of pixel size `pixel_mm`."""

    shape: tuple[int, int]
    pixel_mm: float
    n_angles: int
    matrix: sparse.csr_matrix = field(repr=False)

    @property
    def n_bins(self) -> int:
        return self.matrix.shape[0] // self.n_angles

    def forward(self, volume: np.ndarray) -> np.ndarray:
        """Sinograms (n_angles·n_bins, nz) of a volume (nx, ny, nz) or a slice (nx, ny)."""
        flat = volume.reshape(self.shape[0] * self.shape[1], -1)
        out = self.matrix @ flat
        return out if volume.ndim == 3 else out[:, 0]

    def back(self, sinograms: np.ndarray) -> np.ndarray:
        """Aᵀ: back projection onto (nx, ny, nz), or (nx, ny) for one sinogram."""
        flat = sinograms.reshape(self.matrix.shape[0], -1)
        out = (self.matrix.T @ flat).reshape(*self.shape, -1)
        return out if sinograms.ndim == 2 else out[..., 0]

    def subset(self, index: int, n_subsets: int) -> sparse.csr_matrix:
        """Rows of the angles index, index + n_subsets, … (OSEM's interleaved subsets)."""
        angles = np.arange(index, self.n_angles, n_subsets)
        rows = (angles[:, None] * self.n_bins + np.arange(self.n_bins)[None, :]).ravel()
        return self.matrix[rows]


def make_projector(shape: tuple[int, int], pixel_mm: float, n_angles: int,
                   dtype=np.float32) -> Projector:
    """Joseph's projector for slices of `shape` (see the module docstring)."""
    nx, ny = (int(n) for n in shape)
    d = float(pixel_mm)
    n_bins = int(math.ceil(math.hypot(nx, ny))) | 1  # odd: a bin through the centre
    t = (np.arange(n_bins) - (n_bins - 1) / 2) * d
    rows, cols, vals = [], [], []
    for m in range(n_angles):
        theta = math.pi * m / n_angles
        c, s = math.cos(theta), math.sin(theta)
        if abs(c) >= abs(s):  # steps along y (index j), interpolates along x
            y = (np.arange(ny) - (ny - 1) / 2) * d
            along = (y[None, :] - t[:, None] * s) / c
            x = t[:, None] * c - along * s
            u, fixed, n_u, weight = x / d + (nx - 1) / 2, np.arange(ny), nx, d / abs(c)
        else:  # steps along x (index i), interpolates along y
            x = (np.arange(nx) - (nx - 1) / 2) * d
            along = (t[:, None] * c - x[None, :]) / s
            y = t[:, None] * s + along * c
            u, fixed, n_u, weight = y / d + (ny - 1) / 2, np.arange(nx), ny, d / abs(s)
        lo = np.floor(u).astype(np.int64)
        frac = u - lo
        bins = np.broadcast_to(np.arange(n_bins)[:, None], u.shape)
        steps = np.broadcast_to(fixed[None, :], u.shape)
        for index, w in ((lo, 1.0 - frac), (lo + 1, frac)):
            ok = (index >= 0) & (index < n_u) & (w > 0)
            pixel = (index * ny + steps) if abs(c) >= abs(s) else (steps * ny + index)
            rows.append(m * n_bins + bins[ok])
            cols.append(pixel[ok])
            vals.append(w[ok] * weight)
    matrix = sparse.csr_matrix(
        (np.concatenate(vals).astype(dtype), (np.concatenate(rows), np.concatenate(cols))),
        shape=(n_angles * n_bins, nx * ny))
    return Projector((nx, ny), d, n_angles, matrix)
