"""Subject-level split: seeded, complete, and never leaking a subject."""

import pytest

from medsynth import io
from medsynth.data import catalog
from medsynth.split import read_split, split_subjects, write_split

SUBJECTS = [f"{i:03d}" for i in range(1, 11)]


def test_split_is_a_partition_without_leakage():
    split = split_subjects(SUBJECTS, seed=1, n_val=2, n_test=3)
    sets = [set(split[name]) for name in ("train", "val", "test")]
    assert [len(s) for s in sets] == [5, 2, 3]
    assert set.union(*sets) == set(SUBJECTS)
    assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])


def test_split_is_seeded_and_independent_of_listing_order():
    a = split_subjects(SUBJECTS, seed=7, n_val=1, n_test=2)
    assert a == split_subjects(list(reversed(SUBJECTS)), seed=7, n_val=1, n_test=2)
    assert a != split_subjects(SUBJECTS, seed=8, n_val=1, n_test=2)


def test_split_needs_a_training_subject():
    with pytest.raises(ValueError, match="leave one to train"):
        split_subjects(SUBJECTS[:3], seed=0, n_val=1, n_test=2)


def test_split_file_round_trip(tmp_path):
    split = split_subjects(SUBJECTS, seed=3, n_val=1, n_test=2)
    write_split(split, tmp_path / "split.tsv")
    assert read_split(tmp_path / "split.tsv") == split


def test_split_file_with_a_subject_twice_is_rejected(tmp_path):
    path = tmp_path / "split.tsv"
    path.write_text("participant_id\tsplit\nsub-001\ttrain\nsub-001\ttest\n")
    with pytest.raises(io.InputError, match="both train and test") as err:
        read_split(path)
    assert str(path) in str(err.value)


SITES = {f"{i:03d}": site for i, site in enumerate("AAAAAABBBBCC", start=1)}


@pytest.mark.parametrize("seed", range(5))
def test_stratified_split_holds_each_site_in_proportion(seed):
    split = split_subjects(list(SITES), seed=seed, n_val=3, n_test=6, strata=SITES)
    test_sites = sorted(SITES[s] for s in split["test"])
    assert test_sites == ["A", "A", "A", "B", "B", "C"]  # 6 : 4 : 2 halved
    assert sorted(SITES[s] for s in split["val"]) in (["A", "B", "C"], ["A", "A", "B"])
    assert sorted(sum(split.values(), [])) == sorted(SITES)


def test_stratified_split_is_seeded_and_needs_every_site():
    a = split_subjects(list(SITES), seed=4, n_val=1, n_test=3, strata=SITES)
    assert a == split_subjects(list(reversed(SITES)), seed=4, n_val=1, n_test=3, strata=SITES)
    with pytest.raises(ValueError, match="012"):
        split_subjects(list(SITES), seed=4, n_val=1, n_test=3,
                       strata={s: v for s, v in SITES.items() if s != "012"})


def test_participant_sites_are_read_by_column(tmp_path):
    (tmp_path / "participants.tsv").write_text(
        "participant_id\tixi_scan\tsite\nsub-002\tIXI002-Guys-0828\tGuys\nsub-012\tIXI012-HH-1211\tHH\n")
    assert catalog.read_participant_column(tmp_path, "site") == {"002": "Guys", "012": "HH"}
    with pytest.raises(ValueError, match="no column 'centre'"):
        catalog.read_participant_column(tmp_path, "centre")
