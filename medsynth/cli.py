"""The `medsynth` command: run one step without Snakemake, to debug a method
or process a single subject."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from medsynth import config as msconfig
from medsynth.tasks import TASKS


def _load_config(path: str) -> dict:
    config = yaml.safe_load(Path(path).read_text())
    msconfig.validate(config)
    return config


def _condition(config: dict, task: str, condition: str):
    from medsynth.tasks import parse_condition

    if task not in config["tasks"]:
        raise SystemExit(f"task {task!r} is not configured in the config file")
    return parse_condition(task, condition, config["tasks"][task])


def cmd_make_phantom(args) -> None:
    from medsynth.data.phantom import make_cohort

    subjects = make_cohort(args.n_subjects, args.seed, args.voxel_mm, args.out)
    print(f"wrote {len(subjects)} subjects to {args.out}")


def cmd_validate(args) -> None:
    from medsynth.data import catalog

    config = _load_config(args.config)
    catalog.check_tasks(config, catalog.dataset(config))
    print(f"{args.config}: valid")


def cmd_train(args) -> None:
    from medsynth import steps
    from medsynth.data import catalog

    config = _load_config(args.config)
    cond = _condition(config, args.task, args.condition)
    steps.train(args.method, cond, args.arrays, args.model_dir,
                msconfig.method_params(config, args.method), seed=config.get("seed", 42),
                threads=args.threads, state_dir=args.state_dir, dataset=catalog.dataset(config))


def cmd_infer(args) -> None:
    from medsynth import steps

    config = _load_config(args.config)
    cond = _condition(config, args.task, args.condition)
    out = steps.infer(args.method, cond, args.inputs, args.subject, args.model_dir,
                      msconfig.method_params(config, args.method), args.out, threads=args.threads)
    print(f"wrote {out}")


def cmd_evaluate(args) -> None:
    from medsynth import steps

    config = _load_config(args.config)
    cond = _condition(config, args.task, args.condition)
    ids = {"dataset": config["dataset"], "task": args.task, "condition": args.condition,
           "method": args.method}
    protocol, extra = msconfig.evaluation(config)
    for row in steps.evaluate(cond, args.inputs, {args.subject: Path(args.pred)}, ids,
                              protocol, extra):
        for key, value in row.items():
            print(f"{key}\t{value}")


def cmd_super_resolve(args) -> None:
    from medsynth.methods import smore

    params = msconfig.method_params({"preset": args.preset}, "smore")
    out = smore.super_resolve_file(args.input, args.output, params, thickness_mm=args.thickness,
                                   axis=args.axis, seed=args.seed, threads=args.threads,
                                   work_dir=args.work_dir)
    print(f"wrote {out}")


def cmd_apply(args) -> None:
    from medsynth.apply import apply_model

    out = apply_model(args.model, args.inputs, args.output, task=args.task,
                      contrast=args.contrast, overwrite=args.overwrite, threads=args.threads)
    print(f"wrote {out}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="medsynth", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("make-phantom", help="write a phantom cohort (BIDS-like)")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--n-subjects", type=int, default=4)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--voxel-mm", type=float, default=2.0)
    p.set_defaults(func=cmd_make_phantom)

    p = sub.add_parser("validate-config", help="check a config file against the schema")
    p.add_argument("config")
    p.set_defaults(func=cmd_validate)

    def step_parser(name, helptext, func):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--config", default="config.yaml")
        p.add_argument("--task", required=True)
        p.add_argument("--condition", default="default")
        p.add_argument("--method", required=True)
        p.add_argument("--threads", type=int, default=1)
        p.set_defaults(func=func)
        return p

    p = step_parser("train", "fit a trained method on extracted arrays", cmd_train)
    p.add_argument("--arrays", required=True, help="folder written by extract_training_arrays")
    p.add_argument("--model-dir", required=True)
    p.add_argument("--state-dir", help="where to keep the resumable checkpoint")

    p = step_parser("infer", "predict one subject", cmd_infer)
    p.add_argument("--inputs", required=True, help="the task/condition's inputs folder")
    p.add_argument("--subject", required=True)
    p.add_argument("--model-dir")
    p.add_argument("--out", required=True)

    p = step_parser("evaluate", "metrics and Dice of one prediction", cmd_evaluate)
    p.add_argument("--inputs", required=True)
    p.add_argument("--subject", required=True)
    p.add_argument("--pred", required=True)

    p = sub.add_parser("super-resolve",
                       help="SMORE: resolve one thick-slice NIfTI onto an isotropic grid")
    p.add_argument("input", type=Path, help="NIfTI with thick slices along one axis")
    p.add_argument("output", type=Path, help="isotropic result (must not exist yet)")
    p.add_argument("--thickness", type=float,
                   help="slice thickness (profile FWHM) in mm; default: the slice spacing")
    p.add_argument("--axis", type=int, choices=(0, 1, 2),
                   help="thick-slice axis; default: the one with the longest voxels")
    p.add_argument("--preset", choices=("smoke", "quick", "paper"), default="quick",
                   help="network and training size (medsynth/presets.yaml)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--work-dir", type=Path,
                   help="resumable training state (default: OUTPUT.smore-work, removed at the end)")
    p.set_defaults(func=cmd_super_resolve)

    p = sub.add_parser("apply", help="a trained model on your own scans, output on the first "
                                     "scan's grid (README: Using a trained model)")
    p.add_argument("--model", required=True, type=Path,
                   help="a run's model folder (a SMORE model: its sub-<id> folder)")
    p.add_argument("inputs", nargs="+", type=Path, metavar="INPUT",
                   help="the model's contrasts, in its order (its preparation.json)")
    p.add_argument("output", type=Path, metavar="OUTPUT", help="the result, on the first INPUT's grid")
    p.add_argument("--task", choices=sorted(TASKS), help="refuse a model of another task")
    p.add_argument("--contrast", help="the output contrast of a model that predicts several "
                                      "(harmonize's DeepHarmony: T1w, T2w, ...)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--overwrite", action="store_true", help="replace an existing OUTPUT")
    p.set_defaults(func=cmd_apply)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (msconfig.ConfigError, ValueError, FileNotFoundError, FileExistsError) as err:
        print(f"medsynth: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
