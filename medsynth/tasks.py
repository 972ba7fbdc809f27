"""The five synthesis tasks: what each takes as source, what it must produce,
and how its conditions (noise levels, slice thicknesses, contrasts) are named.

Kept free of heavy imports: the Snakefile reads it at parse time.
"""

from __future__ import annotations

from dataclasses import dataclass

MR_CONTRASTS = ("T1w", "T2w", "PDw")


@dataclass(frozen=True)
class Task:
    name: str
    summary: str
    target: str  # contrast of the target image: T1w, T2w, PDw or CT
    source: str  # primary source contrast
    condition_key: str | None  # config key listing the conditions, None for 'default'

    def is_ct(self) -> bool:
        return self.target == "CT"


TASKS: dict[str, Task] = {
    "t1_to_t2": Task("t1_to_t2", "T1w to T2w contrast translation", "T2w", "T1w", None),
    "mr_to_ct": Task("mr_to_ct", "MR (T1w) to CT for PET/MR attenuation correction", "CT", "T1w", None),
    "denoise": Task("denoise", "3D MRI denoising of Rician noise", "T1w", "T1w", "noise_levels"),
    "superres": Task("superres", "through-plane super-resolution of thick slices", "T1w", "T1w", "thicknesses_mm"),
    "harmonize": Task("harmonize", "scanner harmonization, site A to site B", "", "", "contrasts"),
}


def condition_names(task: str, task_config: dict) -> list[str]:
    """Condition wildcards of a task, e.g. ``noise-3`` or ``thick-1.2mm``."""
    if task == "denoise":
        return [f"noise-{level:g}" for level in task_config["noise_levels"]]
    if task == "superres":
        return [f"thick-{mm:g}mm" for mm in task_config["thicknesses_mm"]]
    if task == "harmonize":
        a, b = task_config["source_site"], task_config["target_site"]
        return [f"{a}to{b}-{contrast}" for contrast in task_config["contrasts"]]
    return ["default"]


@dataclass(frozen=True)
class Condition:
    """A parsed condition: which images a task/condition pair uses."""

    task: str
    name: str
    source_channels: tuple[str, ...]  # contrasts fed to a method, primary first
    source_site: str
    target: str
    target_site: str
    noise_percent: float | None = None
    thickness_mm: float | None = None  # slice profile FWHM
    spacing_mm: float | None = None  # slice spacing: thickness plus the gap

    @property
    def is_ct(self) -> bool:
        return self.target == "CT"


ALL_LEVELS = "all-levels"  # where a model trained on every noise level together lives


def one_model_per_level(task_config: dict) -> bool:
    """Whether a denoising method trains per noise level (the paper) or on all levels at once."""
    return bool(task_config.get("one_model_per_level", True))


def all_levels_condition() -> Condition:
    """The denoise condition of a model trained on every noise level together
    (RED-WGAN-m): same images, no single noise level."""
    return Condition("denoise", ALL_LEVELS, ("T1w",), "A", "T1w", "A")


def parse_condition(task: str, condition: str, task_config: dict) -> Condition:
    """Turn a (task, condition wildcard) pair into what to read and degrade."""
    if condition not in condition_names(task, task_config):
        raise ValueError(f"task {task!r} has no condition {condition!r}")
    spec = TASKS[task]
    if task == "denoise":
        level = float(condition.removeprefix("noise-"))
        return Condition(task, condition, ("T1w",), "A", "T1w", "A", noise_percent=level)
    if task == "superres":
        mm = float(condition.removeprefix("thick-").removesuffix("mm"))
        return Condition(task, condition, ("T1w",), "A", "T1w", "A", thickness_mm=mm,
                         spacing_mm=mm + task_config.get("slice_gap_mm", 0.0))
    if task == "harmonize":
        contrast = condition.split("-", 1)[1]
        others = tuple(c for c in task_config["contrasts"] if c != contrast)
        return Condition(
            task, condition, (contrast, *others),
            task_config["source_site"], contrast, task_config["target_site"],
        )
    return Condition(task, condition, (spec.source,), "A", spec.target, "A")
