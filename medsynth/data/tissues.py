"""Tissue labels, their MR relaxation and CT numbers, and the phantom's two scanner sites.

The phantom computes every image from tissue fractions, so this table is where
its contrast comes from. Each number is a published measurement or protocol
value (references below); numbers *derived* from those are computed here, in
code, so the derivation stays visible.

Relaxation times (ms) and proton density (PD, relative to water = 1)
---------------------------------------------------------------------
==================  ==========================  =========================  ===============
tissue              T1 (1.5 T / 3 T)            T2 (1.5 T / 3 T)           PD
==================  ==========================  =========================  ===============
CSF                 4309 / 4309 [CSF24]         1886 / 1886 [CSF24]        1.0 [Oros19]
GM                  1197 / 1607 [Wright08]      95 / 99 [Stanisz05]        0.837 [Oros19]
WM                  646 / 838 [Wright08]        72 / 69 [Stanisz05]        0.691 [Oros19]
soft tissue         1008 / 1412 [Stanisz05]     44 / 50 [Stanisz05]        1.0 [BrainWeb]
fat                 343 / 382 [Gold04]          58 / 68 [Gold04]           1.0 [BrainWeb]
marrow (diploë)     549 / 586 [Gold04]          49 / 49 [Gold04]           1.0 [BrainWeb]
cortical bone       220 [Du10]                  0.4 [Du10]                 0.2 [Tech08]
vitreous            3599 [Eye19]                145 [Eye19]                1.0 (as CSF)
==================  ==========================  =========================  ===============

The air cavities, mastoid cells and eyes (labels 8-15) are placed by
:mod:`medsynth.data.cavities`, which cites their sizes. Air has no MR signal
and −1000 HU; mastoid air cells are 70 % air and 30 % cortical bone (a design
choice), so they are dark on MR and about −136 HU on CT; vitreous is nearly
pure water and takes CSF's CT number.

CSF relaxation is that of nearly pure water and is taken as field-independent
between 1.5 and 3 T (CSF T1 shows no marked field dependence from 0.2 to 7 T
[Rooney07]).
Muscle stands for the scalp's soft tissue (skin, galea, temporalis), as in
BrainWeb's "muscle/skin" class. T2* of GM and WM is measured
(1.5 T: 84.0 / 66.2 ms; 3 T: 66.0 / 53.2 ms, [Peters07]); for the other
tissues T2* follows from T2 and the reversible dephasing rate
R2' = 1/T2* − 1/T2 of BrainWeb's 1.5 T pair for that class (CSF 329/58,
fat 70/58, muscle/skin 47/30 ms for T2/T2*), scaled in proportion to the
field as in the static-dephasing regime [Yablonskiy94]; diploic marrow uses
fat's R2'. Cortical bone's bound water has T2* ≈ T2 ≈ 0.4 ms [Du10], so it
gives no signal at any echo time used here (≥ 2.98 ms): bone is dark on MR.

Cancellous bone (diploë) is modelled as trabecular bone plus fatty marrow.
Its bone volume fraction comes from CT of dry human skulls [Sande20], where
marrow spaces hold air: cancellous 346 HU = f·1880 HU (cortical) + (1−f)·(−1000 HU),
so f = 0.467. In vivo the spaces hold marrow (≈ fat), which gives the
cancellous CT number below and a marrow volume fraction 1 − f for MR.

CT numbers (HU)
---------------
air −1000 (definition); CSF 5 (close to water, 0 HU by definition [Buzug08]);
GM 40 and WM 25 (ranges 37…45 and 20…30 [Buzug08]); soft tissue 40 (muscle
+35…+55 [Buzug08; Prokop03]); fat −100 (−50…−100 [Buzug08]); cortical bone
1880 [Sande20]; cancellous bone f·1880 + (1−f)·(−100) = 825 (within the
700…3000 HU bone range [Buzug08]).

Sites
-----
Site A, 1.5 T, BrainWeb's simulated-brain-database protocols [Cocosco97; Kwan99]:
T1w spoiled FLASH TR 18 ms, TE 10 ms, flip 30°; T2w and PDw dual spin echo
TR 3300 ms, TE 120 and 35 ms.
Site B, 3 T: T1w MPRAGE of the ADNI protocol [Jack08] (TR 2300 ms, TI 900 ms,
TE 2.98 ms, flip 9°; echo spacing 7.1 ms and 160 readouts per inversion, the
Siemens implementation's); T2w and PDw turbo spin echo of the IXI dataset's
Philips 3 T scanner [IXI] (TR 5725.79 ms, TE 100 and 8 ms). Site B images
have 1.25× the voxel edge of site A, a resolution gap like that between
sites of one multi-site study.

References
----------
- [BrainWeb] BrainWeb tissue MR parameters,
  https://brainweb.bic.mni.mcgill.ca/brainweb/tissue_mr_parameters.txt
- [Buzug08] Buzug TM. Computed Tomography. Springer 2008, HU table p. 475.
- [CSF24] Quantification of T1 and T2 of subarachnoid CSF: implications for water
  exchange between CSF and brain tissues. Magn Reson Med 2024 (PMC10696635);
  subarachnoid CSF at 3 T.
- [Cocosco97] Cocosco CA, Kollokian V, Kwan RK-S, Evans AC. BrainWeb: online
  interface to a 3D MRI simulated brain database. NeuroImage 1997;5:S425.
- [Du10] Du J, Carl M, Bydder M, et al. Qualitative and quantitative ultrashort
  echo time (UTE) imaging of cortical bone. J Magn Reson 2010;207:304-311.
- [Eye19] T1 and T2 of ocular structures in six volunteers, MRM 2019
  (PMC6519255, table 1, fully sampled reconstruction): vitreous body T1
  3599 ± 334 ms, T2 145 ± 12 ms.
- [Gold04] Gold GE, Han E, Stainsby J, et al. Musculoskeletal MRI at 3.0 T:
  relaxation times and image contrast. AJR 2004;183:343-351.
- [IXI] IXI dataset scanner parameters, https://brain-development.org/ixi-dataset/
- [Jack08] Jack CR, Bernstein MA, Fox NC, et al. The Alzheimer's Disease
  Neuroimaging Initiative (ADNI): MRI methods. JMRI 2008;27:685-691.
- [Kwan99] Kwan RK-S, Evans AC, Pike GB. MRI simulation-based evaluation of
  image-processing and classification methods. IEEE TMI 1999;18:1085-1097.
- [Oros19] Oros-Peusquens AM, Loução R, Abbas Z, et al. A single-scan, rapid
  whole-brain protocol for quantitative water content mapping. Front Neurol
  2019;10:1333 (WM 69.1 %, GM 83.7 %, CSF 100 %).
- [Peters07] Peters AM, Brookes MJ, Hoogenraad FG, et al. T2* measurements in
  human brain at 1.5, 3 and 7 T. Magn Reson Imaging 2007;25:748-753.
- [Prokop03] Prokop M, Galanski M. Spiral and Multislice Computed Tomography of
  the Body. Thieme 2003.
- [Rooney07] Rooney WD, Johnson G, Li X, et al. Magnetic field and tissue
  dependencies of human brain longitudinal 1H2O relaxation in vivo. MRM 2007;57:308-318.
- [Sande20] Sande A, Ramdurg P. Comparison of Hounsfield unit of CT with grey
  scale value of CBCT for hypo and hyperdense structure. Eur J Mol Clin Med
  2020;7(3):4654-4658 (MSCT of 15 dry skulls: cortical 1880.4, cancellous 346.2 HU).
- [Stanisz05] Stanisz GJ, Odrobina EE, Pun J, et al. T1, T2 relaxation and
  magnetization transfer in tissue at 3T. MRM 2005;54:507-512.
- [Tech08] Techawiboonwong A, Song HK, Leonard MB, Wehrli FW. Cortical bone
  water: in vivo quantification with ultrashort echo-time MR imaging.
  Radiology 2008;248:824-833 (bone water ≈ 20 % by volume).
- [Wright08] Wright PJ, Mougin OE, Totman JJ, et al. Water proton T1
  measurements in brain tissue at 7, 3, and 1.5 T using IR-EPI, IR-TSE, and
  MPRAGE. MAGMA 2008;21:121-130 (MPRAGE values).
- [Yablonskiy94] Yablonskiy DA, Haacke EM. Theory of NMR signal behavior in
  magnetically inhomogeneous tissues: the static dephasing regime. MRM 1994;32:749-763.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from medsynth.data.cavities import AIR_LABELS, CAVITY_NAMES, MASTOID, MASTOID_AIR_FRACTION, VITREOUS

LABELS: dict[int, str] = {
    0: "air",
    1: "CSF",
    2: "GM",
    3: "WM",
    4: "soft_tissue",
    5: "fat",
    6: "cortical_bone",
    7: "cancellous_bone",
    **CAVITY_NAMES,
}
BRAIN_LABELS = (1, 2, 3)
BONE_LABELS = (6, 7)
MR_CONTRASTS = ("T1w", "T2w", "PDw")

# BrainWeb 1.5 T (T2, T2*) pairs in ms that give each class's R2' (see module docstring).
_BRAINWEB_T2_T2S = {"CSF": (329.0, 58.0), "fat": (70.0, 58.0), "muscle": (47.0, 30.0)}
_BRAINWEB_FIELD_T = 1.5


def _t2star(t2_ms: float, field_t: float, brainweb_class: str) -> float:
    """T2* from T2 plus BrainWeb's reversible dephasing R2', scaled with the field."""
    bw_t2, bw_t2s = _BRAINWEB_T2_T2S[brainweb_class]
    r2_prime = (1.0 / bw_t2s - 1.0 / bw_t2) * field_t / _BRAINWEB_FIELD_T
    return 1.0 / (1.0 / t2_ms + r2_prime)


@dataclass(frozen=True)
class Relaxation:
    """One tissue compartment: relaxation times in ms and proton density (water = 1)."""

    t1_ms: float
    t2_ms: float
    t2s_ms: float
    pd: float

    def scaled(self, t1: float = 1.0, t2: float = 1.0, pd: float = 1.0) -> Relaxation:
        """A subject's version of the tissue: T2 and T2* scale together."""
        return Relaxation(self.t1_ms * t1, self.t2_ms * t2, self.t2s_ms * t2, self.pd * pd)


def _relaxation(field_t: float) -> dict[int, Relaxation]:
    t2_gm, t2_wm = (95.0, 72.0) if field_t < 2 else (99.0, 69.0)
    t2s_gm, t2s_wm = (84.0, 66.2) if field_t < 2 else (66.0, 53.2)
    t1_gm, t1_wm = (1197.0, 646.0) if field_t < 2 else (1607.0, 838.0)
    t1_soft, t2_soft = (1008.0, 44.0) if field_t < 2 else (1412.0, 50.0)
    t1_fat, t2_fat = (343.0, 58.0) if field_t < 2 else (382.0, 68.0)
    return {
        1: Relaxation(4309.0, 1886.0, _t2star(1886.0, field_t, "CSF"), 1.0),
        2: Relaxation(t1_gm, t2_gm, t2s_gm, 0.837),
        3: Relaxation(t1_wm, t2_wm, t2s_wm, 0.691),
        4: Relaxation(t1_soft, t2_soft, _t2star(t2_soft, field_t, "muscle"), 1.0),
        5: Relaxation(t1_fat, t2_fat, _t2star(t2_fat, field_t, "fat"), 1.0),
        6: Relaxation(220.0, 0.4, 0.4, 0.2),
    }


def _marrow(field_t: float) -> Relaxation:
    t1, t2 = (549.0, 49.0) if field_t < 2 else (586.0, 49.0)
    return Relaxation(t1, t2, _t2star(t2, field_t, "fat"), 1.0)


# Diploë: bone volume fraction from dry-skull CT numbers [Sande20] (air-filled pores).
_HU_CORTICAL_DRY_SKULL = 1880.4
_HU_CANCELLOUS_DRY_SKULL = 346.2
_HU_AIR = -1000.0
DIPLOE_BONE_FRACTION = (_HU_CANCELLOUS_DRY_SKULL - _HU_AIR) / (_HU_CORTICAL_DRY_SKULL - _HU_AIR)

_HU_FAT = -100.0
HOUNSFIELD: dict[int, float] = {
    0: _HU_AIR,
    1: 5.0,
    2: 40.0,
    3: 25.0,
    4: 40.0,
    5: _HU_FAT,
    6: 1880.0,
    7: DIPLOE_BONE_FRACTION * 1880.0 + (1.0 - DIPLOE_BONE_FRACTION) * _HU_FAT,
    **dict.fromkeys(AIR_LABELS, _HU_AIR),
    MASTOID: MASTOID_AIR_FRACTION * _HU_AIR + (1.0 - MASTOID_AIR_FRACTION) * 1880.0,
    VITREOUS: 5.0,  # nearly pure water, as CSF
}


# Vitreous body [Eye19]; like CSF, nearly pure water, so taken as the same at both fields.
_VITREOUS_T1_MS = 3599.0
_VITREOUS_T2_MS = 145.0


def compartments(field_t: float) -> dict[int, tuple[tuple[Relaxation, float], ...]]:
    """Each label's MR compartments as (relaxation, volume fraction) pairs; air has none."""
    single = {label: ((rel, 1.0),) for label, rel in _relaxation(field_t).items()}
    diploe = ((_marrow(field_t), 1.0 - DIPLOE_BONE_FRACTION),
              (single[6][0][0], DIPLOE_BONE_FRACTION))
    vitreous = Relaxation(_VITREOUS_T1_MS, _VITREOUS_T2_MS,
                          _t2star(_VITREOUS_T2_MS, field_t, "CSF"), 1.0)
    mastoid = ((single[6][0][0], 1.0 - MASTOID_AIR_FRACTION),)  # air gives no signal
    return {0: (), **single, 7: diploe, **dict.fromkeys(AIR_LABELS, ()), MASTOID: mastoid,
            VITREOUS: ((vitreous, 1.0),)}


@dataclass(frozen=True)
class SpinEcho:
    """Spin echo with TR >> T2: S = PD·(1 − exp(−TR/T1))·exp(−TE/T2)."""

    tr_ms: float
    te_ms: float
    magnitude = False

    def signal(self, t: Relaxation) -> float:
        return t.pd * (1.0 - math.exp(-self.tr_ms / t.t1_ms)) * math.exp(-self.te_ms / t.t2_ms)


@dataclass(frozen=True)
class SpoiledGradientEcho:
    """Spoiled gradient echo (FLASH) in steady state (Ernst equation):
    S = PD·sin α·(1 − E1)/(1 − cos α·E1)·exp(−TE/T2*), E1 = exp(−TR/T1)."""

    tr_ms: float
    te_ms: float
    flip_deg: float
    magnitude = False

    def signal(self, t: Relaxation) -> float:
        a = math.radians(self.flip_deg)
        e1 = math.exp(-self.tr_ms / t.t1_ms)
        steady = (1.0 - e1) / (1.0 - math.cos(a) * e1)
        return t.pd * math.sin(a) * steady * math.exp(-self.te_ms / t.t2s_ms)


@dataclass(frozen=True)
class MPRAGE:
    """MPRAGE in its periodic steady state (Deichmann et al., NeuroImage 2000;12:112).

    Each TR: inversion, free recovery, a train of ``readouts`` FLASH pulses
    ``echo_spacing_ms`` apart with the k-space centre at the middle one (TI is
    measured to it), then free recovery to the next inversion. The signed
    longitudinal magnetisation at the centre gives the signal; the image is
    its magnitude, so partial volumes are summed before taking it.
    """

    tr_ms: float
    ti_ms: float
    te_ms: float
    flip_deg: float
    echo_spacing_ms: float
    readouts: int
    magnitude = True

    def signal(self, t: Relaxation) -> float:
        a = math.radians(self.flip_deg)
        centre = self.readouts // 2
        before = self.ti_ms - centre * self.echo_spacing_ms
        after = self.tr_ms - before - self.readouts * self.echo_spacing_ms
        if before < 0 or after < 0:
            raise ValueError(f"MPRAGE timing does not fit: TI {self.ti_ms} ms, TR {self.tr_ms} ms")
        e = math.exp(-self.echo_spacing_ms / t.t1_ms)
        q = math.cos(a) * e  # per-pulse decay towards the FLASH steady state
        m_ss = (1.0 - e) / (1.0 - q)
        e_before, e_after = math.exp(-before / t.t1_ms), math.exp(-after / t.t1_ms)
        qn = q ** self.readouts
        # Mz before inversion, m, satisfies m = c0 + c1·m over one TR.
        c0 = 1.0 - e_after + e_after * (m_ss + (1.0 - e_before - m_ss) * qn)
        c1 = -e_after * e_before * qn
        m = c0 / (1.0 - c1)
        m_start = 1.0 - (1.0 + m) * e_before
        m_centre = m_ss + (m_start - m_ss) * q**centre
        return t.pd * math.sin(a) * m_centre * math.exp(-self.te_ms / t.t2s_ms)


Sequence = SpinEcho | SpoiledGradientEcho | MPRAGE


@dataclass(frozen=True)
class Site:
    """A scanner: field strength, voxel size relative to the cohort's, sequences.

    ``bias_range`` is the range of peak-to-peak amplitudes of the multiplicative
    bias field drawn per image (a phantom design choice: a few % at 1.5 T, up to
    15 % at 3 T where transmit inhomogeneity is larger).
    """

    name: str
    field_t: float
    voxel_scale: tuple[float, float, float]
    sequences: dict[str, Sequence] = field(hash=False)
    bias_range: tuple[float, float]

    def voxel_mm(self, base_mm: float) -> tuple[float, float, float]:
        return tuple(float(base_mm * s) for s in self.voxel_scale)

    def tissue_signals(self, contrast: str, tissues: dict[int, tuple]) -> dict[int, float]:
        """Signal of one unit volume of each label (signed for magnitude sequences)."""
        seq = self.sequences[contrast]
        return {label: sum(frac * seq.signal(rel) for rel, frac in comps)
                for label, comps in tissues.items()}


SITES: dict[str, Site] = {
    "A": Site(
        name="A", field_t=1.5, voxel_scale=(1.0, 1.0, 1.0),
        sequences={
            "T1w": SpoiledGradientEcho(tr_ms=18.0, te_ms=10.0, flip_deg=30.0),
            "T2w": SpinEcho(tr_ms=3300.0, te_ms=120.0),
            "PDw": SpinEcho(tr_ms=3300.0, te_ms=35.0),
        },
        bias_range=(0.04, 0.10),
    ),
    "B": Site(
        name="B", field_t=3.0, voxel_scale=(1.25, 1.25, 1.25),
        sequences={
            "T1w": MPRAGE(tr_ms=2300.0, ti_ms=900.0, te_ms=2.98, flip_deg=9.0,
                          echo_spacing_ms=7.1, readouts=160),
            "T2w": SpinEcho(tr_ms=5725.79, te_ms=100.0),
            "PDw": SpinEcho(tr_ms=5725.79, te_ms=8.0),
        },
        bias_range=(0.08, 0.15),
    ),
}
