"""Small local copies of the public datasets, in their real formats, for the
download and conversion tests and the end-to-end runs on served mirrors.

Image content comes from the phantom (4 mm); geometry and packaging follow
each dataset:
- IXI: the demographics workbook ``IXI.xls`` (Excel 97, sheet ``Table``) and
  per-modality tar files of ``IXI<nnn>-<site>-<nnnn>-<T1|T2|PD>.nii.gz``
  (int16), a sagittal T1 (slice axis left-right) and an axial T2/PD dual echo
  (slice axis inferior-superior) on another grid, with a rigid head movement
  between the two acquisitions. IXI's matrices (T1 256 x 256 x 150 of
  0.9375 x 0.9375 x 1.2 mm; T2/PD 256 x 256 x 130, same voxel) are scaled
  down four times per axis, field of view kept. Sites: Guys and IOP from the
  phantom's 1.5 T site A, HH from its 3 T site B.
- SynthRAD2023: ``Task1/brain/<id>/{mr,ct,mask}.nii.gz`` in a zip, one grid.
- BrainWeb: gzipped raw little-endian uint16 volumes in MINC order (z, y, x),
  crisp classes x 16, fuzzy memberships scaled to 0..4095, at a reduced
  matrix (``BRAINWEB_SHAPE``) over BrainWeb's field of view.
- BrainWeb SBD: T1w ``raw_short`` volumes with Rician noise of k % of the
  white-matter mean, each scaled to 0..4095 on its own as the form exports
  them, and the discrete model as ``raw_byte`` class indices, at
  ``SBD_MIRROR_SHAPE`` over the SBD's field of view; the anatomy is a phantom
  subject none of the other mirrors uses.
"""

import gzip
import io as bytesio
import tarfile
import zipfile
from datetime import date
from pathlib import Path

import nibabel as nib
import numpy as np
import xlwt
from scipy import ndimage
from scipy.spatial.transform import Rotation

from medsynth import io
from medsynth.data.brainweb import box_affine, model_affine
from medsynth.data.brainweb_sbd import SBD_FIRST_CENTRE_MM, SBD_FOV_MM
from medsynth.data.catalog import BRAINWEB_CLASSES, BRAINWEB_SUBJECTS
from medsynth.data.cavities import AIR_LABELS, MASTOID, VITREOUS
from medsynth.data.phantom import make_subject

IXI_SCANS = ["IXI002-Guys-0828", "IXI012-HH-1211", "IXI013-HH-1212", "IXI035-IOP-0873"]
IXI_INCOMPLETE = "IXI016-Guys-0697"  # T1 and T2 only: skipped by the adapter
BRAINWEB_SHAPE = (46, 56, 46)
SBD_MIRROR_SHAPE = (46, 55, 46)


def _phantom(subject_index: int, folder: Path) -> dict[str, Path]:
    return make_subject(f"{subject_index + 1:03d}", subject_index, 11, 4.0, folder)


def _sample(path: Path, shape, affine, motion=None) -> np.ndarray:
    """The phantom image at `path` seen on grid (shape, affine) after a head `motion`."""
    data, source_affine = io.load_array(path)
    motion = np.eye(4) if motion is None else motion
    index_map = np.linalg.solve(source_affine, motion @ affine)
    return ndimage.affine_transform(data, index_map[:3, :3], offset=index_map[:3, 3],
                                    output_shape=shape, order=1, mode="constant")


def _axes_affine(columns, voxel, centre, shape) -> np.ndarray:
    affine = np.eye(4)
    affine[:3, :3] = np.array(columns, dtype=float).T * voxel
    affine[:3, 3] = centre - affine[:3, :3] @ ((np.array(shape) - 1) / 2)
    return affine


IXI_T1_SHAPE, IXI_T1_VOXEL = (64, 64, 38), (3.75, 3.75, 4.8)
IXI_T2_SHAPE, IXI_T2_VOXEL = (64, 64, 33), (3.75, 3.75, 4.8)


def ixi_phantom_image(mirror: Path, scan_index: int, contrast: str) -> Path:
    """The phantom image an IXI mirror scan was made from, before the head moved."""
    site = "B" if "-HH-" in IXI_SCANS[scan_index] else "A"
    subject = f"{scan_index + 1:03d}"
    return mirror / "work" / "phantom" / f"sub-{subject}" / "anat" / f"sub-{subject}_acq-{site}_{contrast}.nii.gz"


def _ixi_images(index: int, scan: str, folder: Path) -> dict[str, nib.Nifti1Image]:
    phantom = _phantom(index, folder / "phantom")
    site = "B" if "-HH-" in scan else "A"
    rng = np.random.default_rng(index)
    centre = np.array([0.0, -20.0, 10.0]) + rng.uniform(-5, 5, 3)
    # sagittal: in-plane anterior->posterior and superior->inferior, slices left->right
    t1_affine = _axes_affine([(0, -1, 0), (0, 0, -1), (1, 0, 0)], IXI_T1_VOXEL, centre, IXI_T1_SHAPE)
    # axial: in-plane right->left and anterior->posterior, slices inferior->superior
    t2_affine = _axes_affine([(-1, 0, 0), (0, -1, 0), (0, 0, 1)], IXI_T2_VOXEL,
                             centre + rng.uniform(-8, 8, 3), IXI_T2_SHAPE)
    motion = np.eye(4)
    motion[:3, :3] = Rotation.from_euler("xyz", rng.uniform(-5, 5, 3), degrees=True).as_matrix()
    motion[:3, 3] = rng.uniform(-6, 6, 3)
    images = {"T1": _sample(phantom[f"{site}_T1w"], IXI_T1_SHAPE, t1_affine)}
    for modality in ("T2", "PD"):
        images[modality] = _sample(phantom[f"{site}_{modality}w"], IXI_T2_SHAPE, t2_affine, motion)
    affines = {"T1": t1_affine, "T2": t2_affine, "PD": t2_affine}
    out = {}
    for modality, data in images.items():
        scaled = np.round(data / data.max() * 1000).astype(np.int16)
        out[modality] = nib.Nifti1Image(scaled, affines[modality])
    return out


def _add(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tf.addfile(info, bytesio.BytesIO(data))


def make_ixi_mirror(folder: Path) -> Path:
    """IXI-T1.tar, IXI-T2.tar, IXI-PD.tar and IXI.xls in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    images = {scan: _ixi_images(i, scan, folder / "work") for i, scan in
              enumerate([*IXI_SCANS, IXI_INCOMPLETE])}
    for modality in ("T1", "T2", "PD"):
        with tarfile.open(folder / f"IXI-{modality}.tar", "w") as tf:
            for scan, by_modality in images.items():
                if scan == IXI_INCOMPLETE and modality == "PD":
                    continue
                _add(tf, f"{scan}-{modality}.nii.gz", gzip.compress(by_modality[modality].to_bytes()))
    write_ixi_sheet(folder / "IXI.xls")
    return folder


IXI_COLUMNS = ["IXI_ID", "SEX_ID (1=m, 2=f)", "HEIGHT", "WEIGHT", "ETHNIC_ID", "MARITAL_ID",
               "OCCUPATION_ID", "QUALIFICATION_ID", "DOB", "DATE_AVAILABLE", "STUDY_DATE", "AGE"]
# IXI number, sex code (0: unknown), DOB, study date, age (None: empty cell); IXI012 twice,
# as some IXI numbers are, its second row knowing less; IXI013 without sex, IXI035 without age
IXI_DEMOGRAPHICS = [(2, 2, date(1970, 1, 30), date(2005, 11, 18), 35.80),
                    (12, 1, date(1966, 8, 20), date(2005, 6, 1), 38.78),
                    (12, 0, None, None, None),
                    (13, 0, date(1958, 9, 15), date(2005, 6, 1), 46.71),
                    (16, 1, date(1963, 3, 2), date(2005, 6, 2), 42.25),
                    (35, 2, date(1962, 4, 11), None, None)]


def write_ixi_sheet(path: Path) -> None:
    """IXI.xls as the IXI site ships it: an Excel 97 workbook whose sheet
    ``Table`` has IXI's columns, followed by code sheets."""
    book = xlwt.Workbook()
    table = book.add_sheet("Table")
    day = xlwt.easyxf(num_format_str="YYYY-MM-DD")
    for col, name in enumerate(IXI_COLUMNS):
        table.write(0, col, name)
    for row, (number, sex, dob, study, age) in enumerate(IXI_DEMOGRAPHICS, start=1):
        values = dict(zip(IXI_COLUMNS, [number, sex, 170, 70, 1, 2, 1, 4, dob, 1, study, age],
                          strict=True))
        for col, name in enumerate(IXI_COLUMNS):
            if values[name] is not None:
                table.write(row, col, values[name], day if isinstance(values[name], date) else
                            xlwt.Style.default_style)
    ethnicity = book.add_sheet("Ethnicity")
    for row, (code, label) in enumerate([("ID", "ETHNIC"), (1, "White"), (2, "Asian")]):
        ethnicity.write(row, 0, code)
        ethnicity.write(row, 1, label)
    book.save(str(path))


def make_synthrad_zip(path: Path, n_patients: int = 4) -> Path:
    """A Task1.zip with brain patients 1BA001... (and a pelvis patient to skip)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(n_patients):
            phantom = _phantom(i, path.parent / "work")
            patient = f"1B{'ABC'[i % 3]}{i + 1:03d}"
            mr = nib.load(phantom["A_T1w"])
            ct = nib.load(phantom["CT"])
            head = io.load_array(phantom["dseg"])[0] > 0
            mask = ndimage.binary_dilation(head, iterations=1).astype(np.uint8)
            files = {"mr": nib.Nifti1Image(np.asarray(mr.dataobj) * 800, mr.affine),
                     "ct": nib.Nifti1Image(np.clip(np.asarray(ct.dataobj), -1024, 3000).astype(np.int16),
                                           ct.affine),
                     "mask": nib.Nifti1Image(mask, mr.affine)}
            for kind, image in files.items():
                zf.writestr(f"Task1/brain/{patient}/{kind}.nii.gz", gzip.compress(image.to_bytes()))
        zf.writestr("Task1/pelvis/1PA001/mr.nii.gz", b"not used")
        zf.writestr("Task1/brain/overview/1_brain_train.xlsx", b"overview")
    return path


# BrainWeb's models have no cavity or eye classes: the phantom's air spaces become
# background, the mastoid's air cells skull, the eye non-brain muscle/skin
CAVITY_CLASSES = {**dict.fromkeys(AIR_LABELS, 0), MASTOID: 7, VITREOUS: 5}


def make_brainweb_mirror(folder: Path, n_subjects: int = 4) -> Path:
    """``cgi/brainweb1/subject<nn>_<volume>`` files as the download form serves them."""
    out = folder / "cgi" / "brainweb1"
    out.mkdir(parents=True, exist_ok=True)
    affine = model_affine(BRAINWEB_SHAPE)
    # phantom label -> BrainWeb class (index in BRAINWEB_CLASSES)
    to_class = {0: 0, 1: 1, 2: 2, 3: 3, 4: 6, 5: 4, 6: 7, 7: 11, **CAVITY_CLASSES}
    for i, subject in enumerate(BRAINWEB_SUBJECTS[:n_subjects]):
        phantom = _phantom(i, folder / "work")
        labels = np.rint(_sample(phantom["dseg"], BRAINWEB_SHAPE, affine)).astype(int)
        classes = np.vectorize(to_class.get)(labels)
        volumes = {"crisp": classes * 16}
        for k, name in enumerate(BRAINWEB_CLASSES):
            smooth = ndimage.gaussian_filter((classes == k).astype(np.float32), 0.7)
            volumes[name] = np.round(smooth * 4095)
        for name, data in volumes.items():
            raw = np.ascontiguousarray(data.astype("<u2").transpose(2, 1, 0)).tobytes()
            (out / f"subject{subject}_{name}").write_bytes(gzip.compress(raw, compresslevel=1))
    return folder


def _minc_raw(data: np.ndarray, dtype: str) -> bytes:
    """An (x, y, z) volume as BrainWeb's raw export: z slowest, x fastest, gzipped."""
    return gzip.compress(np.ascontiguousarray(data.astype(dtype).transpose(2, 1, 0)).tobytes(),
                         compresslevel=1)


def make_sbd_mirror(folder: Path, levels=(1, 3, 5, 7, 9), rf_percent: int = 0) -> Path:
    """``cgi/brainweb1/<alias>`` files of the SBD as the download form serves them."""
    out = folder / "cgi" / "brainweb1"
    out.mkdir(parents=True, exist_ok=True)
    affine = box_affine(SBD_MIRROR_SHAPE, SBD_FOV_MM, SBD_FIRST_CENTRE_MM, 1.0)
    phantom = _phantom(9, folder / "work")
    labels = np.rint(_sample(phantom["dseg"], SBD_MIRROR_SHAPE, affine)).astype(int)
    # phantom label -> SBD class: soft tissue as muscle/skin, bone marrow as skull
    to_class = {0: 0, 1: 1, 2: 2, 3: 3, 4: 5, 5: 4, 6: 7, 7: 7, **CAVITY_CLASSES}
    classes = np.vectorize(to_class.get)(labels)
    (out / "phantom_1.0mm_normal_crisp").write_bytes(_minc_raw(classes, "u1"))
    clean = np.clip(_sample(phantom["A_T1w"], SBD_MIRROR_SHAPE, affine), 0, None)
    sigma_per_percent = clean[labels == 3].mean() / 100
    rng = np.random.default_rng(7)
    for level in (0, *levels):
        sigma = level * sigma_per_percent
        noisy = np.hypot(clean + sigma * rng.standard_normal(clean.shape),
                         sigma * rng.standard_normal(clean.shape))
        exported = np.round(noisy / noisy.max() * 4095)
        alias = f"T1 ICBM normal 1mm pn{level} rf{rf_percent}"
        (out / alias).write_bytes(_minc_raw(exported, "<u2"))
    return folder
