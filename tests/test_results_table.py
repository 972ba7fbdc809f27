"""Result rows: ordered columns, subject ids kept as strings, inf survives."""

import math

import pandas as pd
import pytest

from medsynth.results_table import ID_COLUMNS, collect_rows, protocol_of, write_rows


def row(method, subject, **metrics):
    return dict(dataset="phantom", task="mr_to_ct", condition="default", method=method,
                subject=subject, **metrics)


def test_rows_round_trip_with_ordered_columns(tmp_path):
    out = tmp_path / "eval" / "metrics.tsv"
    write_rows([row("unet", "001", dice_mean=0.5, psnr=math.inf, mae=0.125, extra=2.0),
                row("unet", "002", dice_mean=0.25, psnr=30.0, mae=1.0, extra=1.0)], out)
    table = pd.read_csv(out, sep="\t", dtype={"subject": str})
    assert list(table.columns) == [*ID_COLUMNS, "mae", "psnr", "dice_mean", "extra"]
    assert table.subject.tolist() == ["001", "002"]
    assert table.loc[0, "psnr"] == math.inf and table.loc[0, "mae"] == 0.125
    assert [p.name for p in out.parent.iterdir()] == ["metrics.tsv"]


def test_rows_without_an_identifying_column_are_refused(tmp_path):
    bad = row("unet", "001", mae=1.0)
    del bad["method"]
    with pytest.raises(ValueError, match="method"):
        write_rows([bad], tmp_path / "x.tsv")
    assert not (tmp_path / "x.tsv").exists()


def test_collect_concatenates_tasks_with_different_metrics(tmp_path):
    write_rows([row("unet", "001", mae=1.0, dice_bone=0.8, dice_mean=0.8)], tmp_path / "a.tsv")
    mr = dict(row("none", "001", mae=0.1, dice_CSF=0.9, dice_mean=0.9), task="t1_to_t2")
    write_rows([mr], tmp_path / "b.tsv")
    table = collect_rows([tmp_path / "a.tsv", tmp_path / "b.tsv"], tmp_path / "all.tsv")
    assert len(table) == 2 and set(table.task) == {"mr_to_ct", "t1_to_t2"}
    assert table.dice_CSF.isna().sum() == 1 and table.dice_bone.isna().sum() == 1


def test_the_protocol_follows_the_identifying_columns(tmp_path):
    out = tmp_path / "metrics.tsv"
    write_rows([row("unet", "001", ms_ssim=0.9, mae=1.0, psnr=30.0, protocol="synthrad2025")], out)
    assert list(pd.read_csv(out, sep="\t").columns) == [*ID_COLUMNS, "protocol", "mae", "psnr",
                                                         "ms_ssim"]


def test_collect_refuses_to_mix_protocols_and_names_a_file_of_each(tmp_path):
    write_rows([row("unet", "001", mae=1.0, ssim=0.8, protocol="synthrad2023")], tmp_path / "a.tsv")
    write_rows([row("none", "001", mae=2.0, ms_ssim=0.9, protocol="synthrad2025")],
               tmp_path / "b.tsv")
    with pytest.raises(ValueError, match="mix evaluation protocols") as err:
        collect_rows([tmp_path / "a.tsv", tmp_path / "b.tsv"], tmp_path / "all.tsv")
    assert "synthrad2023 (e.g. " in str(err.value) and str(tmp_path / "b.tsv") in str(err.value)
    assert not (tmp_path / "all.tsv").exists()
    table = collect_rows([tmp_path / "a.tsv"], tmp_path / "all.tsv")
    assert protocol_of(table) == "synthrad2023"
    with pytest.raises(ValueError, match="mix evaluation protocols"):
        protocol_of(pd.concat([table, table.assign(protocol="brasyn")]))
    with pytest.raises(ValueError, match="do not record"):
        protocol_of(table.drop(columns="protocol"))
