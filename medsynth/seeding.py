"""Random generators fixed per subject, so a subject's draw (its noise, its
misregistration, its PET replicates) is the same whatever order jobs run in
and whichever other subjects a run holds."""

from __future__ import annotations

import zlib

import numpy as np


def subject_rng(seed: int, subject: str, *extra: int) -> np.random.Generator:
    """A generator seeded by the run's `seed`, the subject's id and any `extra` integers."""
    return np.random.default_rng([int(seed), zlib.crc32(subject.encode()), *extra])
