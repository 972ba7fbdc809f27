"""Gaussian smoothing of a noisy MR volume: the simplest denoiser, as an
example of a method that lives outside medsynth (needs nibabel and scipy only)."""

import argparse

import nibabel as nib
import numpy as np
from scipy.ndimage import gaussian_filter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("source")
    parser.add_argument("output")
    parser.add_argument("--sigma-mm", type=float, default=1.0)
    args = parser.parse_args()

    image = nib.load(args.source)
    voxel_mm = np.sqrt((image.affine[:3, :3] ** 2).sum(axis=0))
    smoothed = gaussian_filter(image.get_fdata(dtype=np.float32), sigma=args.sigma_mm / voxel_mm)
    nib.save(nib.Nifti1Image(smoothed.astype(np.float32), image.affine), args.output)
    print(f"smoothed {args.source} with sigma {args.sigma_mm} mm -> {args.output}")


if __name__ == "__main__":
    main()
