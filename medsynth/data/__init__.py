"""Datasets: where subjects come from, stored BIDS-like."""


def phantom_subject_ids(n_subjects: int) -> list[str]:
    """Subject ids of the built-in phantom cohort: "001", "002", …"""
    return [f"{i:03d}" for i in range(1, n_subjects + 1)]
