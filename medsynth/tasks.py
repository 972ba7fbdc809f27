"""The five synthesis tasks: what each takes as source, what it must produce,
and how its conditions (noise levels, slice thicknesses, contrasts) are named.

Kept free of heavy imports: the Snakefile reads it at parse time.
"""

from __future__ import annotations

from dataclasses import dataclass

from medsynth import methods as registry

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


# Noise levels (%) of BrainWeb's simulated-MRI database (SBD), the denoise
# task's optional external test set (``tasks.denoise.sbd_test``).
SBD_NOISE_LEVELS = (1, 3, 5, 7, 9)
SBD_PREFIX = "sbd-"  # condition of the SBD test at a level: sbd-noise-<level>
SBD_SUBJECT = "sbd"  # the SBD's one anatomy, the only subject of its conditions


def sbd_levels(task_config: dict) -> list[int]:
    """The configured noise levels that SBD also has, where its test is on."""
    if not task_config.get("sbd_test"):
        return []
    return [k for k in SBD_NOISE_LEVELS if k in task_config["noise_levels"]]


def sbd_rf_percent(task_config: dict) -> int:
    """RF non-uniformity (%) of the SBD volumes tested on."""
    return task_config.get("sbd_rf_percent", 0)


def condition_names(task: str, task_config: dict) -> list[str]:
    """Condition wildcards of a task, e.g. ``noise-3`` or ``thick-1.2mm``;
    ``sbd-noise-3`` tests the ``noise-3`` models on BrainWeb's SBD at 3 %."""
    if task == "denoise":
        synthetic = [f"noise-{level:g}" for level in task_config["noise_levels"]]
        return synthetic + [f"{SBD_PREFIX}noise-{level}" for level in sbd_levels(task_config)]
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
    # an external test set's name (brainweb_sbd): its images come with their
    # own noise, and it is predicted with the models of `trained_on`
    external: str | None = None
    trained_on: str | None = None
    # a model condition whose network outputs several contrasts at once (harmonize's
    # all-contrasts DeepHarmony), in output-channel order; `target` is then ""
    targets: tuple[str, ...] = ()

    @property
    def is_ct(self) -> bool:
        return self.target == "CT"

    @property
    def output_contrasts(self) -> tuple[str, ...]:
        """The contrasts a model of this condition outputs, one channel each."""
        return self.targets or (self.target,)


ALL_LEVELS = "all-levels"  # where a model trained on every noise level together lives


def one_model_per_level(task_config: dict) -> bool:
    """Whether a denoising method trains per noise level (the paper) or on all levels at once."""
    return bool(task_config.get("one_model_per_level", True))


def is_external(condition: str) -> bool:
    """Whether a condition wildcard names an external test set (no training data of its own)."""
    return condition.startswith(SBD_PREFIX)


def one_model_for_all_contrasts(task: str, method: str | None) -> bool:
    """Whether `method` trains one model whose outputs are every target contrast
    of the task (harmonize's DeepHarmony, as in its paper), shared by the
    task's conditions, rather than one model per condition."""
    info = registry.REGISTRY.get(method) if method else None
    return task == "harmonize" and info is not None and info.all_contrasts


def model_condition(task: str, condition: str, task_config: dict,
                    method: str | None = None) -> str:
    """The condition whose trained model predicts `condition`: its own, its
    synthetic twin for an external test set, all-levels for a denoiser
    trained on every level together, or the site pair (``AtoB``) for a
    harmonizer whose one model outputs every contrast (`method`'s registry entry)."""
    if task == "denoise" and not one_model_per_level(task_config):
        return ALL_LEVELS
    if one_model_for_all_contrasts(task, method):
        return all_contrasts_name(task_config)
    if is_external(condition):
        return parse_condition(task, condition, task_config).trained_on
    return condition


def all_levels_condition() -> Condition:
    """The denoise condition of a model trained on every noise level together
    (RED-WGAN-m): same images, no single noise level."""
    return Condition("denoise", ALL_LEVELS, ("T1w",), "A", "T1w", "A")


def all_contrasts_name(task_config: dict) -> str:
    """The harmonize model condition of a network that outputs every contrast:
    the site pair alone, ``AtoB`` (its conditions are ``AtoB-<contrast>``)."""
    return f"{task_config['source_site']}to{task_config['target_site']}"


def _harmonize_condition(name: str, contrast: str, contrasts, source_site: str,
                         target_site: str) -> Condition:
    """Site A's contrasts, `contrast` first, to site B's `contrast`."""
    others = tuple(c for c in contrasts if c != contrast)
    return Condition("harmonize", name, (contrast, *others), source_site, contrast, target_site)


def all_contrasts_condition(task_config: dict) -> Condition:
    """The harmonize condition of one model for every contrast (DeepHarmony's
    design): every site-A contrast in, in the configured order, and every
    site-B contrast out, one output channel each in the same order."""
    contrasts = tuple(task_config["contrasts"])
    return Condition("harmonize", all_contrasts_name(task_config), contrasts,
                     task_config["source_site"], "", task_config["target_site"],
                     targets=contrasts)


def contrast_conditions(cond: Condition) -> list[Condition]:
    """The one-contrast conditions (``AtoB-<contrast>``) whose training arrays an
    all-contrasts condition stacks, in its output order."""
    return [_harmonize_condition(f"{cond.name}-{c}", c, cond.source_channels, cond.source_site,
                                 cond.target_site) for c in cond.targets]


def parse_condition(task: str, condition: str, task_config: dict) -> Condition:
    """Turn a (task, condition wildcard) pair into what to read and degrade."""
    if condition not in condition_names(task, task_config):
        raise ValueError(f"task {task!r} has no condition {condition!r}")
    spec = TASKS[task]
    if task == "denoise" and is_external(condition):
        level = float(condition.removeprefix(f"{SBD_PREFIX}noise-"))
        return Condition(task, condition, ("T1w",), "A", "T1w", "A", noise_percent=level,
                         external="brainweb_sbd", trained_on=condition.removeprefix(SBD_PREFIX))
    if task == "denoise":
        level = float(condition.removeprefix("noise-"))
        return Condition(task, condition, ("T1w",), "A", "T1w", "A", noise_percent=level)
    if task == "superres":
        mm = float(condition.removeprefix("thick-").removesuffix("mm"))
        return Condition(task, condition, ("T1w",), "A", "T1w", "A", thickness_mm=mm,
                         spacing_mm=mm + task_config.get("slice_gap_mm", 0.0))
    if task == "harmonize":
        return _harmonize_condition(condition, condition.split("-", 1)[1],
                                    task_config["contrasts"], task_config["source_site"],
                                    task_config["target_site"])
    return Condition(task, condition, (spec.source,), "A", spec.target, "A")
