"""Print what each workflow stage cost, from the rules' benchmark files.

Usage: python benchmarks/stage_costs.py [results/phantom]

Sums wall time, CPU time and the peak resident memory per rule (the first
path component under benchmarks/) and per method where the file name has one.
"""

import sys
from pathlib import Path

import pandas as pd


def load(root: Path) -> pd.DataFrame:
    rows = []
    for path in sorted((root / "benchmarks").rglob("*.tsv")):
        table = pd.read_csv(path, sep="\t")
        rows.append({"stage": path.relative_to(root / "benchmarks").parts[0],
                     "job": path.stem, "wall_s": table["s"].mean(),
                     "cpu_s": table["cpu_time"].mean(), "max_rss_mb": table["max_rss"].mean()})
    return pd.DataFrame(rows)


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "results/phantom")
    jobs = load(root)
    if jobs.empty:
        raise SystemExit(f"no benchmark files under {root / 'benchmarks'}")
    per_stage = jobs.groupby("stage").agg(jobs=("job", "size"), wall_s=("wall_s", "sum"),
                                          cpu_s=("cpu_s", "sum"), max_rss_mb=("max_rss_mb", "max"))
    print(per_stage.sort_values("wall_s", ascending=False).round(1).to_string())
    print(f"\nsum of job wall times: {jobs.wall_s.sum():.0f} s over {len(jobs)} jobs")
    slowest = jobs.sort_values("wall_s", ascending=False).head(10)
    print("\nslowest jobs:\n" + slowest.round(1).to_string(index=False))


if __name__ == "__main__":
    main()
