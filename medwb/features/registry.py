"""The feature registry: every feature medwb.features produces, with its unit and meaning.

``FEATURES[name] = (unit, description)``. Names are ``<family>_<quantity>``; families are shape,
intensity, glcm, deep and attr. Intensity units are those of the image (Hounsfield units for CT).
"""

from __future__ import annotations

import pandas as pd

__all__ = ["FEATURES", "describe"]

_I = "image unit (HU for CT)"

FEATURES: dict[str, tuple[str, str]] = {
    "shape_voxel_count": ("voxels", "number of voxels in the mask"),
    "shape_volume_mm3": ("mm³", "voxel count × voxel volume (|det| of the affine's 3×3 part)"),
    "shape_mesh_volume_mm3": ("mm³", "volume enclosed by the marching-cubes surface"),
    "shape_surface_mm2": ("mm²", "area of the marching-cubes surface (level 0.5) in millimetres"),
    "shape_sphericity": ("1", "π^(1/3)·(6V)^(2/3)/A with mesh volume V and area A; 1 for a sphere"),
    "shape_major_axis_mm": ("mm", "4·sqrt(largest eigenvalue) of the covariance of voxel positions in mm"),
    "shape_minor_axis_mm": ("mm", "4·sqrt(second eigenvalue)"),
    "shape_least_axis_mm": ("mm", "4·sqrt(smallest eigenvalue)"),
    "shape_elongation": ("1", "sqrt(λ2/λ1) of voxel positions in mm; 1 = round cross-section, → 0 = elongated"),
    "shape_flatness": ("1", "sqrt(λ3/λ1); 1 = isotropic, → 0 = flat"),
    "intensity_mean": (_I, "mean intensity in the mask"),
    "intensity_sd": (_I, "standard deviation (population, ddof=0)"),
    "intensity_min": (_I, "minimum"),
    "intensity_max": (_I, "maximum"),
    "intensity_p10": (_I, "10th percentile"),
    "intensity_p25": (_I, "25th percentile"),
    "intensity_median": (_I, "median"),
    "intensity_p75": (_I, "75th percentile"),
    "intensity_p90": (_I, "90th percentile"),
    "intensity_iqr": (_I, "p75 − p25"),
    "intensity_skewness": ("1", "Fisher–Pearson skewness (scipy.stats.skew, biased)"),
    "intensity_kurtosis": ("1", "excess kurtosis (Fisher: 0 for a Gaussian; scipy.stats.kurtosis)"),
    "intensity_entropy": ("bits", "Shannon entropy of the histogram with the texture discretisation"),
    "glcm_contrast": ("levels²", "GLCM contrast, mean over 13 3D directions (graycoprops)"),
    "glcm_homogeneity": ("1", "GLCM homogeneity (inverse difference moment), mean over 13 directions"),
    "glcm_correlation": ("1", "GLCM correlation, mean over 13 directions (1 where a level is constant)"),
    "glcm_energy": ("1", "GLCM energy = sqrt(angular second moment), mean over 13 directions"),
    "attr_mass_in_mask": ("1", "fraction of positive attribution inside the mask"),
    "attr_weighted_intensity_mean": (_I, "intensity averaged with positive attribution as weights"),
    "attr_centroid_distance_mm": ("mm", "distance from the attribution-weighted centroid to the mask centroid"),
    "attr_spread_mm": ("mm", "RMS distance of positive attribution mass from its centroid"),
    "attr_top_volume_mm3": ("mm³", "volume of the top-quantile attribution region"),
    "attr_top_dice": ("1", "Dice overlap of the top-quantile attribution region with the mask"),
}


def describe(columns: list[str] | None = None) -> pd.DataFrame:
    """The registry as a DataFrame (name, unit, description), optionally for given columns only.

    Deep features (deep_0 ... or deep_pc1 ...) are listed generically.

    Example:
        >>> describe(["shape_volume_mm3"]).loc[0, "unit"]
        'mm³'
    """
    names = list(FEATURES) if columns is None else list(columns)
    rows = []
    for n in names:
        if n in FEATURES:
            unit, desc = FEATURES[n]
        elif n.startswith("deep_pc"):
            unit, desc = "1", "principal component of penultimate-layer activations"
        elif n.startswith("deep_"):
            unit, desc = "activation", "penultimate-layer activation (global average pooled)"
        else:
            continue
        rows.append({"name": n, "unit": unit, "description": desc})
    return pd.DataFrame(rows)
