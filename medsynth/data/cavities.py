"""Air cavities, eyes and the midface of the phantom head.

The ICBM 2009a template is brain-extracted, so the phantom head built from it
had no face and no air inside it. MR→CT is hardest exactly there (air and
cortical bone are both dark on MR) and that is where the PET error of
attenuation correction concentrates, so this module adds, in the template's
MNI space:

- a midface of soft tissue under the frontal lobes, in front of the skull base,
  that the structures below sit in;
- frontal, ethmoid (both sides), sphenoid and maxillary (both sides) sinuses
  and the nasal cavity: air, each with a thin wall of cortical bone;
- mastoid air cells (both sides): pneumatised bone, air with bony septa;
- external ear canals (both sides): air, bony-walled in their medial two thirds,
  ending at the head's own surface;
- orbits (fat, bony walls) holding the eyes (vitreous).

Placement. Each structure is a superellipsoid |x/a|^p + |y/b|^p + |z/c|^p <= 1
(p = 3 for the boxier sinuses, 2 otherwise) centred at MNI coordinates chosen
against the template brain: eyes under the orbitofrontal surface (template
brain floor at z -19…-5 mm where x = 30, y = 60…70), ethmoid cells between the
orbits below the gyri recti (brain floor at z = -30 for y = 20…60 on the
midline), the sphenoid below the brain's midline floor in front of the
temporal poles (y <= 27), maxillary sinuses under the orbits down to the field
of view's floor (z = -72), the frontal sinus in the frontal bone in front of
the frontal pole (y = 73), mastoids behind the ear canals, lateral to the
cerebellum. ``tests/test_phantom.py`` checks every structure keeps clear of the
template brain. The structures are evaluated at the template coordinate each
subject voxel samples, so they deform with the subject as the brain does.

Sizes (adult CT volumetry; each structure's volume is its air, or vitreous):

============== ===================== =============================================
structure      modelled (each)       published
============== ===================== =============================================
maxillary      ~12.8 ml              12.75 ± 4.38 ml [Sinus17]; 15.7 ± 5.3 ml
                                     [Sahl11]; 13.07 ± 6.8 ml [Morph00]
frontal        ~3.7 ml               2.92 ± 2.57 ml [Sinus17]; 3.7 ± 3.6 ml [Morph00]
sphenoid       ~5.1 ml               4.00 ± 1.99 ml [Sinus17]; 3.5 ± 2.6 ml [Morph00]
ethmoid        ~4.8 ml per side      5.5 ± 2.0 ml [Morph00]; 3.3-3.5 ml per side
                                     [Ethm22]
nasal cavity   ~23 ml                31.1 ml with the nasopharynx, CV 66 % [Nasal]
mastoid cells  ~5.6 ml air per side  7.9 ml (4.0-14.0) [Mast03]; 0.7-21.4 ml [Swarts11]
ear canal      ~8.4 mm wide          length 31.4 ± 3.1 mm, area 53-97 mm² [Canal23]
eye            24.2 × 23.4 × 23.7 mm 24.2 (transverse) × 23.7 (vertical) × 22.0-24.8
                                     (axial) mm [Bek14]
============== ===================== =============================================

Walls: 1 mm of cortical bone around the sinuses (canine-fossa bone of the
maxillary sinus 1.1 ± 0.4 mm [Sahl11]), 1.5 mm for the orbits and the bony
ear canal. The mastoid's air fraction (0.7) and the midface's extent are
design choices, not measurements. The modelled volumes are the shapes'
nominal ones; ``tests/test_phantom.py`` measures them in generated subjects.

References
----------
- [Bek14] Bekerman I, Gottlieb P, Vaiman M. Variations in eyeball diameters of
  the healthy adults. J Ophthalmol 2014:503645 (CT of 250 adults).
- [Canal23] Ear-canal geometry from high-resolution CT of 66 ears, ages 18-90.
  Hear Res 2023 (PMID 37201272): length 31.4 ± 3.1 mm; area 56 ± 8 mm² at the
  tympanic annulus, 53 ± 18 at the first bend, 97 ± 24 at the entrance.
- [Ethm22] Sphenoid and ethmoid sinus volumes by 3D CT in 150 adults (female
  right/left 3365/3321 mm³, male 3441/3460 mm³).
- [Mast03] Evaluation of the mastoid air cell system by high resolution CT:
  3D multiplanar volume rendering. J Laryngol Otol 2003;117(8):595-598
  (100 temporal bones).
- [Morph00] Morphometric study of the paranasal sinuses in normal and
  pathological conditions. Acta Otolaryngol 2000;120:273-278 (100 normal adults).
- [Nasal] Validation of acoustic rhinometry by using the Cavalieri principle to
  estimate nasal cavity volume in cadavers (both cavities plus nasopharynx).
- [Sahl11] Computed tomography measurements of different dimensions of maxillary
  and frontal sinuses. BMC Med Imaging 2011 (120 sinuses).
- [Sinus17] Volumetric analysis of the maxillary, sphenoid and frontal sinuses:
  a comparative CT based study. 2017, PMID 28341352 (201 adults).
- [Swarts11] Swarts JD, Cullen Doyle BM, Doyle WJ. Relationship between surface
  area and volume of the mastoid air cell system in adult humans.
  J Laryngol Otol 2011.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Labels of the new structures (the first eight labels are those of :mod:`tissues`).
FRONTAL, ETHMOID, SPHENOID, MAXILLARY, NASAL, MASTOID, EAR_CANAL, VITREOUS = range(8, 16)
CAVITY_NAMES = {
    FRONTAL: "frontal_sinus", ETHMOID: "ethmoid_sinus", SPHENOID: "sphenoid_sinus",
    MAXILLARY: "maxillary_sinus", NASAL: "nasal_cavity", MASTOID: "mastoid_air_cells",
    EAR_CANAL: "ear_canal", VITREOUS: "vitreous",
}
AIR_LABELS = (FRONTAL, ETHMOID, SPHENOID, MAXILLARY, NASAL, EAR_CANAL)
MASTOID_AIR_FRACTION = 0.7  # design choice: air cells with bony septa
SOFT_TISSUE, FAT, CORTICAL = 4, 5, 6


@dataclass(frozen=True)
class Structure:
    """A superellipsoid in MNI mm filled with `content`, walled with cortical bone.

    `bilateral` mirrors it to x < 0. `fills` makes the head solid around it
    (air there becomes soft tissue first); the ear canal does not, so it opens
    where the head's surface is. `wall_medial_of` keeps the wall only where
    |x| is below it (the ear canal's bony part).
    """

    content: int
    centre: tuple[float, float, float]
    semi_axes: tuple[float, float, float]
    power: float = 2.0
    wall_mm: float = 0.0
    bilateral: bool = False
    fills: bool = True
    wall_medial_of: float | None = None


# Drawn in this order: a later structure overwrites an earlier one where they meet.
MIDFACE = Structure(SOFT_TISSUE, (0.0, 58.0, -62.0), (50.0, 42.0, 32.0), power=3.0)
STRUCTURES: tuple[Structure, ...] = (
    Structure(FAT, (33.0, 64.0, -37.0), (16.0, 19.0, 14.0), wall_mm=1.5, bilateral=True),
    Structure(VITREOUS, (33.0, 66.0, -36.0), (12.1, 11.7, 11.85), bilateral=True),
    Structure(FRONTAL, (0.0, 83.0, -2.0), (13.0, 5.0, 10.0), power=3.0, wall_mm=1.0),
    Structure(ETHMOID, (12.0, 50.0, -47.0), (5.0, 17.0, 10.0), power=3.0, wall_mm=1.0,
              bilateral=True),
    Structure(SPHENOID, (0.0, 22.0, -46.0), (11.0, 9.0, 9.0), power=3.0, wall_mm=1.0),
    Structure(MAXILLARY, (30.0, 50.0, -62.0), (12.0, 17.0, 11.0), power=3.0, wall_mm=1.0,
              bilateral=True),
    Structure(NASAL, (0.0, 58.0, -60.0), (9.0, 32.0, 14.0), power=3.0),
    Structure(MASTOID, (63.0, -36.0, -54.0), (9.0, 13.0, 12.0), power=3.0, wall_mm=1.0,
              bilateral=True),
    Structure(EAR_CANAL, (82.0, -22.0, -50.0), (24.0, 4.2, 4.2), power=3.0, wall_mm=1.5,
              bilateral=True, fills=False, wall_medial_of=78.0),
)
TOP_MM = max(s.centre[2] + s.semi_axes[2] + s.wall_mm for s in (MIDFACE, *STRUCTURES))


def _distance(structure: Structure, mni: np.ndarray, side: float) -> np.ndarray:
    """Approximate signed distance (mm) to the surface, negative inside: the
    superellipsoid's level value scaled by its smallest semi-axis, exact for a
    sphere and good enough to grade a one-voxel partial-volume ramp."""
    level = np.zeros(mni.shape[1], dtype=np.float32)
    for a in range(3):
        centre = structure.centre[a] * (side if a == 0 else 1.0)
        level += np.abs((mni[a] - np.float32(centre)) / np.float32(structure.semi_axes[a])) \
            ** np.float32(structure.power)
    return (level ** np.float32(1.0 / structure.power) - 1.0) * np.float32(min(structure.semi_axes))


def _inside(distance_mm: np.ndarray, step: float) -> np.ndarray:
    return np.clip(0.5 - distance_mm / step, 0.0, 1.0)


def _near(structure: Structure, mni: np.ndarray, side: float, step: float) -> np.ndarray:
    """Indices of the voxels in the structure's bounding box, wall and a voxel included."""
    box = np.ones(mni.shape[1], dtype=bool)
    for a in range(3):
        centre = structure.centre[a] * (side if a == 0 else 1.0)
        box &= np.abs(mni[a] - np.float32(centre)) < structure.semi_axes[a] + structure.wall_mm + step
    return np.flatnonzero(box)


def add_structures(fractions: dict[int, np.ndarray], mni: np.ndarray, step: float) -> None:
    """Add the midface and the structures to tissue fractions, in place.

    `fractions` maps labels 1..7 to flat arrays over the voxels whose template
    coordinates (MNI mm, shape (3, n)) are `mni`; labels 8..15 are added.
    Brain and CSF (labels 1-3) are never touched: a structure takes its share
    only from the non-brain tissue of a voxel, so the brain's labels keep
    their meaning. Air outside the head is 1 minus the sum, as before.
    """
    for label in CAVITY_NAMES:
        fractions[label] = np.zeros_like(fractions[1])
    others = [label for label in fractions if label not in (1, 2, 3)]
    placed = [(s, side) for s in STRUCTURES for side in ((1.0, -1.0) if s.bilateral else (1.0,))]

    for structure, side in [(MIDFACE, 1.0), *((s, side) for s, side in placed if s.fills)]:
        idx = _near(structure, mni, side, step)
        outer = _inside(_distance(structure, mni[:, idx], side) - structure.wall_mm, step)
        occupied = sum(fractions[label][idx] for label in fractions)
        fractions[SOFT_TISSUE][idx] += np.clip(1.0 - occupied, 0.0, 1.0) * outer
    for structure, side in placed:
        idx = _near(structure, mni, side, step)
        distance = _distance(structure, mni[:, idx], side)
        content = _inside(distance, step)
        wall = _inside(distance - structure.wall_mm, step) - content
        if structure.wall_medial_of is not None:
            wall *= np.abs(mni[0, idx]) < structure.wall_medial_of
        present = sum(fractions[label][idx] for label in others)
        keep = 1.0 - content - wall
        for label in others:
            fractions[label][idx] *= keep
        fractions[structure.content][idx] += content * present
        fractions[CORTICAL][idx] += wall * present
