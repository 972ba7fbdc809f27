"""What each dataset holds, which tasks it can serve, and what it must download.

Cheap to import (no image libraries): the Snakefile reads it at parse time to
name the raw and preprocessed files of a subject and to reject tasks a dataset
cannot support before anything runs. The subjects themselves are only known
after acquisition; they are read from the converted dataset's
``participants.tsv``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from medsynth.config import ConfigError
from medsynth.data.download import Remote
from medsynth.tasks import sbd_levels, sbd_rf_percent

IXI_URL = "http://biomedic.doc.ic.ac.uk/brain-development/downloads/IXI"
SYNTHRAD2023_URL = "https://zenodo.org/records/7260705/files/Task1.zip?download=1"
BRAINWEB_URL = "http://brainweb.bic.mni.mcgill.ca/cgi/brainweb1"

# Field of view of the reference grid every real subject is resampled onto (mm,
# RAS axes): a whole adult head without the neck, as in the phantom (197 x 233 x 189).
REFERENCE_FOV_MM = (200.0, 240.0, 200.0)


@dataclass(frozen=True)
class Dataset:
    """The layout of one dataset's subjects after conversion."""

    name: str
    sites: tuple[str | None, ...]  # acquisition labels of every subject (None: no acq entity)
    contrasts: tuple[str, ...]  # MR contrasts of every subject and site
    has_ct: bool = False
    has_labels: bool = False  # ground-truth tissue labels (_dseg)
    has_head_mask: bool = False  # a head mask shipped with the data (SynthRAD's)
    registered: bool = False  # contrasts on different grids: rigid registration needed
    # participants.tsv column naming each subject's acquisition site: the split is
    # stratified by it (None: one site, or sites the split need not balance)
    stratify_by: str | None = None
    remotes: tuple[Remote, ...] = field(default=())

    @property
    def is_phantom(self) -> bool:
        return self.name == "phantom"


def _needed_contrasts(tasks: dict) -> tuple[str, ...]:
    """MR contrasts a user's BIDS folder must have for the configured tasks."""
    needed = {"T1w"}
    if "t1_to_t2" in tasks:
        needed.add("T2w")
    return tuple(c for c in ("T1w", "T2w", "PDw") if c in needed)


def ixi_remotes(base_url: str) -> tuple[Remote, ...]:
    """IXI's per-modality archives and demographics sheet. The IXI site
    publishes no checksums; the MD5s are those TorchIO's IXI downloader checks."""
    base = base_url.rstrip("/")
    md5 = {"T1": "34901a0593b41dd19c1a1f746eac2d58", "T2": "e3140d78730ecdd32ba92da48c0a9aaa",
           "PD": "88ecd9d1fa33cb4a2278183b42ffd749"}
    return tuple(Remote(f"{base}/IXI-{m}.tar", f"IXI-{m}.tar", md5=md5.get(m))
                 for m in ("T1", "T2", "PD")) + (Remote(f"{base}/IXI.xls", "IXI.xls"),)


# BrainWeb's 20 normal anatomical models and their tissue classes (file aliases).
BRAINWEB_SUBJECTS = ("04", "05", "06", "18", "20", "38", "41", "42", "43", "44",
                     "45", "46", "47", "48", "49", "50", "51", "52", "53", "54")
BRAINWEB_MODEL_SHAPE = (362, 434, 362)  # x, y, z voxels of 0.5 mm
BRAINWEB_CLASSES = ("bck", "csf", "gry", "wht", "fat", "mus", "m-s", "skl", "ves", "fat2",
                    "dura", "mrw")


def _form_request(endpoint: str, alias: str, raw_format: str) -> str:
    """A download of BrainWeb's form (the aliases of its pages' links), gzipped."""
    return (f"{endpoint}?do_download_alias={alias}&format_value={raw_format}"
            "&zip_value=gnuzip&download_for_real=%5BStart+download%21%5D")


def brainweb_remotes(endpoint: str, n_subjects: int | None) -> tuple[Remote, ...]:
    """One request of BrainWeb's download form per model volume: the crisp
    labels and the twelve fuzzy tissue maps, raw unsigned short, gzipped."""
    remotes = []
    for subject in BRAINWEB_SUBJECTS[:n_subjects]:
        for volume in ("crisp", *BRAINWEB_CLASSES):
            alias = f"subject{subject}_{volume}"
            remotes.append(Remote(_form_request(endpoint, alias, "raw_short"), f"{alias}.rawsh.gz"))
    return tuple(remotes)


# BrainWeb's simulated-MRI database (SBD): one normal anatomy (not one of the
# 20 models) simulated by BrainWeb's own MR simulator at these noise levels (%)
# and RF non-uniformities (%); 181 x 217 x 181 voxels of 1 mm.
SBD_RF_PERCENTS = (0, 20, 40)
SBD_SHAPE = (181, 217, 181)
SBD_FOLDER = "brainweb_sbd"  # downloads/<folder>: shared by every dataset that tests on it
SBD_LABELS_FILE = "phantom_1.0mm_normal_crisp.rawb.gz"


def sbd_image_file(noise_percent: int, rf_percent: int) -> str:
    return f"t1_icbm_normal_1mm_pn{noise_percent}_rf{rf_percent}.rawsh.gz"


def sbd_remotes(config: dict) -> tuple[Remote, ...]:
    """The SBD volumes the ``denoise`` task's external test needs: the T1w at
    each configured SBD noise level, the noise-free T1w (the target) and the
    discrete anatomical model (raw unsigned bytes: class indices), with the
    config's ``checksums``. None unless ``tasks.denoise.sbd_test`` is on."""
    return _with_checksums(_sbd_remotes(config), config)


def _sbd_remotes(config: dict) -> tuple[Remote, ...]:
    denoise = config.get("tasks", {}).get("denoise")
    if not denoise or not sbd_levels(denoise):
        return ()
    endpoint = config.get("brainweb_url", BRAINWEB_URL)
    rf = sbd_rf_percent(denoise)
    levels = [0, *sbd_levels(denoise)]
    remotes = [Remote(_form_request(endpoint, f"T1+ICBM+normal+1mm+pn{k}+rf{rf}", "raw_short"),
                      sbd_image_file(k, rf)) for k in levels]
    return (*remotes, Remote(_form_request(endpoint, "phantom_1.0mm_normal_crisp", "raw_byte"),
                             SBD_LABELS_FILE))


def dataset(config: dict) -> Dataset:
    """The configured dataset's layout and downloads, with the config's
    ``checksums`` (file name -> MD5) replacing published ones: a mirror may
    hold another release of a file."""
    ds = _dataset(config)
    files = [r.name for r in (*ds.remotes, *_sbd_remotes(config))]
    unknown = sorted(set(config.get("checksums", {})) - set(files))
    if unknown:
        raise ConfigError(f"config key checksums: {unknown[0]!r} is not a file of dataset "
                          f"{ds.name!r} (its files: {', '.join(files) or 'none'})")
    return replace(ds, remotes=_with_checksums(ds.remotes, config))


def _with_checksums(remotes: tuple[Remote, ...], config: dict) -> tuple[Remote, ...]:
    overrides = config.get("checksums", {})
    return tuple(replace(r, md5=overrides.get(r.name, r.md5)) for r in remotes)


def _dataset(config: dict) -> Dataset:
    name = config["dataset"]
    if name == "phantom":
        return Dataset("phantom", ("A", "B"), ("T1w", "T2w", "PDw"), has_ct=True, has_labels=True)
    if name == "ixi":
        return Dataset("ixi", (None,), ("T1w", "T2w", "PDw"), registered=True, stratify_by="site",
                       remotes=ixi_remotes(config.get("ixi_url", IXI_URL)))
    if name == "synthrad2023":
        url = config.get("synthrad2023_url", SYNTHRAD2023_URL)
        return Dataset("synthrad2023", (None,), ("T1w",), has_ct=True, has_head_mask=True,
                       stratify_by="centre",
                       remotes=(Remote(url, "SynthRAD2023_Task1.zip"),))
    if name == "brainweb":
        return Dataset("brainweb", (None,), ("T1w", "T2w", "PDw"), has_labels=True,
                       remotes=brainweb_remotes(config.get("brainweb_url", BRAINWEB_URL),
                                                config.get("max_subjects")))
    if name == "bids":
        if "bids_root" not in config:
            raise ConfigError("config key bids_root: required when dataset is 'bids'")
        # a user's T2w is rarely on the T1w's grid: register it, as IXI's
        return Dataset("bids", (None,), _needed_contrasts(config["tasks"]),
                       has_ct="mr_to_ct" in config["tasks"], registered=True)
    raise ConfigError(f"config key dataset: unknown dataset {name!r}")


def check_tasks(config: dict, ds: Dataset) -> None:
    """Reject, by name and all at once, every configured task the dataset cannot serve."""
    problems = []
    for task, task_config in config["tasks"].items():
        problem = None
        if task == "t1_to_t2" and not {"T1w", "T2w"} <= set(ds.contrasts):
            problem = "it has no paired T1w and T2w images"
        elif task == "mr_to_ct" and not ds.has_ct:
            problem = "it has no CT"
        elif task == "harmonize":
            if len(ds.sites) < 2:
                problem = ("it has no subject scanned at two sites (travelling subjects); "
                           "different subjects at different sites do not give paired "
                           "harmonization data")
            elif not set(task_config["contrasts"]) <= set(ds.contrasts):
                problem = f"it lacks some of the contrasts {task_config['contrasts']}"
        if problem:
            problems.append(f"config key tasks.{task}: dataset {ds.name!r} cannot run task "
                            f"{task!r}: {problem}")
    if problems:
        raise ConfigError("; ".join(problems))


def _participant_rows(raw_root: str | Path) -> tuple[Path, list[str], list[list[str]]]:
    path = Path(raw_root) / "participants.tsv"
    rows = [row.split("\t") for row in path.read_text().splitlines() if row.strip()]
    if not rows or rows[0][0] != "participant_id":
        raise ValueError(f"{path}: not a participants file (first column participant_id expected)")
    return path, rows[0], rows[1:]


def read_participants(raw_root: str | Path) -> list[str]:
    """Subject labels of a converted dataset, from its participants.tsv."""
    _, _, rows = _participant_rows(raw_root)
    return [row[0].removeprefix("sub-") for row in rows]


def read_participant_column(raw_root: str | Path, column: str) -> dict[str, str]:
    """One participants.tsv column by subject label (e.g. each subject's site)."""
    path, header, rows = _participant_rows(raw_root)
    if column not in header:
        raise ValueError(f"{path}: no column {column!r} (columns: {', '.join(header)})")
    index = header.index(column)
    short = [row[0] for row in rows if len(row) <= index or not row[index]]
    if short:
        raise ValueError(f"{path}: no {column!r} for {', '.join(short)}")
    return {row[0].removeprefix("sub-"): row[index] for row in rows}
