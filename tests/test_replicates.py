"""Training seeds: method folders, rows that carry their seed, tables that average over seeds."""

import pandas as pd
import pytest

from medsynth import replicates
from medsynth.model_records import read_model_table, write_model_table
from medsynth.report.tables import summary_table
from medsynth.results_table import ID_COLUMNS, SEED, collect_rows, write_rows


def test_the_runs_seed_is_the_one_training_seed_unless_seeds_are_given():
    assert replicates.training_seeds({"seed": 42}) == [42]
    assert replicates.training_seeds({"seed": 42, "seeds": [7, 42]}) == [7, 42]


def test_the_first_seed_keeps_the_plain_folder_and_folders_parse_back():
    folders = replicates.method_folders("unet", [42, 7, 11])
    assert folders == ["unet", "unet.seed-7", "unet.seed-11"]
    assert [replicates.parse_folder(f, [42, 7, 11]) for f in folders] == [
        ("unet", 42), ("unet", 7), ("unet", 11)]
    assert replicates.method_folders("unet", [42]) == ["unet"]
    for bad in ("unet.seed-", "unet.seed-x", "Unet", "unet/seed-7"):
        with pytest.raises(ValueError, match="method folder"):
            replicates.parse_folder(bad, [42])


def _row(method, subject, seed, mae):
    return dict(dataset="phantom", task="t1_to_t2", condition="default", method=method,
                seed=seed, subject=subject, mae=mae)


def test_the_seed_column_follows_the_method_and_stays_an_integer(tmp_path):
    write_rows([_row("unet", "001", 42, 0.2), _row("unet", "001", 7, 0.4)], tmp_path / "a.tsv")
    write_rows([_row("none", "001", None, 0.5)], tmp_path / "b.tsv")
    table = collect_rows([tmp_path / "a.tsv", tmp_path / "b.tsv"], tmp_path / "all.tsv")
    assert list(table.columns) == [*ID_COLUMNS[:4], SEED, "subject", "mae"]
    assert (tmp_path / "all.tsv").read_text().splitlines()[1].split("\t")[4] == "42"
    assert table[SEED].isna().tolist() == [False, False, True]


def test_summary_averages_each_subject_over_seeds_and_costs_the_mean_model(tmp_path):
    rows = pd.DataFrame([_row("unet", s, seed, mae) for s, seed, mae in
                         [("001", 42, 0.2), ("001", 7, 0.4), ("002", 42, 0.6), ("002", 7, 0.4)]]
                        + [_row("none", s, None, 0.9) for s in ("001", "002")])
    for seed, wall in ((42, 10.0), (7, 30.0)):
        bench = tmp_path / f"train-{seed}.tsv"
        bench.write_text("s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\t"
                         f"mean_load\tcpu_time\n{wall}\t0:00:10\t100\t0\t0\t0\t0\t0\t0\t{wall}\n")
    write_model_table([("t1_to_t2", "default", "unet", seed, None, [tmp_path / f"train-{seed}.tsv"],
                        []) for seed in (42, 7)]
                      + [("t1_to_t2", "default", "none", None, None, [], [])],
                      tmp_path / "compute.tsv")
    compute = read_model_table(tmp_path / "compute.tsv")
    table = summary_table(rows, "t1_to_t2", compute=compute)
    assert table.loc["unet", "seeds"] == 2 and table.loc["none", "seeds"] == 1
    assert table.loc["unet", "n"] == 2
    # subject means over seeds 0.3 and 0.5: mean 0.4, sample sd 0.1414
    assert table.loc["unet"].iloc[2].startswith("0.4000 ± 0.1414")
    assert table.loc["unet", "train (s)"] == "20"
    single = summary_table(rows[rows[SEED] != 7], "t1_to_t2", compute=compute)
    assert "seeds" not in single.columns
