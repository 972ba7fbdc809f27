"""Subject-level train/validation/test split: seeded, written to a file, and
never putting one subject in two sets."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from medsynth import io

SPLITS = ("train", "val", "test")


def split_subjects(subjects: list[str], seed: int, n_val: int, n_test: int,
                   strata: dict[str, str] | None = None) -> dict[str, list[str]]:
    """Shuffle subjects with `seed` and deal them into test, val, then train.

    Sorting first makes the split depend only on the set of subjects, not on
    the order a dataset adapter lists them in. With `strata` (subject ->
    acquisition site), each site is shuffled on its own and the sites are
    interleaved in proportion to their sizes before dealing, so test and
    validation sets hold every site about as often as the dataset does (IXI's
    three scanners), instead of whatever a global shuffle happens to give.
    """
    subjects = sorted(set(subjects))
    if n_val + n_test >= len(subjects):
        raise ValueError(
            f"{len(subjects)} subjects cannot give {n_test} test and {n_val} validation "
            "subjects and still leave one to train on")
    rng = np.random.default_rng(seed)
    if strata is None:
        shuffled = [subjects[i] for i in rng.permutation(len(subjects))]
    else:
        shuffled = _interleave_strata(subjects, strata, rng)
    test, val, train = shuffled[:n_test], shuffled[n_test:n_test + n_val], shuffled[n_test + n_val:]
    return {"train": sorted(train), "val": sorted(val), "test": sorted(test)}


def _interleave_strata(subjects: list[str], strata: dict[str, str],
                       rng: np.random.Generator) -> list[str]:
    """All subjects in an order whose every prefix samples the strata in
    proportion: the k-th of a stratum's n shuffled subjects sits at (k + 1/2) / n,
    ties between strata broken at random."""
    missing = [s for s in subjects if s not in strata]
    if missing:
        raise ValueError(f"no stratum (site) given for subject(s) {', '.join(missing)}")
    keyed = []
    for stratum in sorted({strata[s] for s in subjects}):
        members = [s for s in subjects if strata[s] == stratum]
        members = [members[i] for i in rng.permutation(len(members))]
        keyed += [((k + 0.5) / len(members), s) for k, s in enumerate(members)]
    ties = rng.random(len(keyed))
    order = sorted(range(len(keyed)), key=lambda i: (keyed[i][0], ties[i]))
    return [keyed[i][1] for i in order]


def write_split(split: dict[str, list[str]], path: str | Path) -> None:
    with io.atomic_path(path) as tmp:
        lines = ["participant_id\tsplit"]
        lines += [f"sub-{s}\t{name}" for name in SPLITS for s in split[name]]
        Path(tmp).write_text("\n".join(lines) + "\n")


def read_split(path: str | Path) -> dict[str, list[str]]:
    split: dict[str, list[str]] = {name: [] for name in SPLITS}
    rows = Path(path).read_text().splitlines()
    if not rows or rows[0].split("\t") != ["participant_id", "split"]:
        raise io.InputError(path, "not a split file (header 'participant_id<TAB>split' expected)")
    for number, row in enumerate(rows[1:], start=2):
        parts = row.split("\t")
        if len(parts) != 2 or parts[1] not in SPLITS or not parts[0].startswith("sub-"):
            raise io.InputError(path, f"line {number} is malformed: {row!r}")
        split[parts[1]].append(parts[0].removeprefix("sub-"))
    seen: dict[str, str] = {}
    for name, subjects in split.items():
        for subject in subjects:
            if subject in seen:
                raise io.InputError(path, f"subject {subject} is in both {seen[subject]} and {name}")
            seen[subject] = name
    return split
