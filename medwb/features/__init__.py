"""Per-case image features: shape, first-order intensity, 3D GLCM texture, deep and attribution-weighted.

``extract(cohort_or_pairs)`` gives one tidy DataFrame keyed by case_id; ``FEATURES`` documents every
column (unit, definition). Inputs are medwb Volumes with a mask Volume on the same grid; geometry
(mm, mm², mm³) always goes through the affine. scikit-image and torch are imported on use.

Example:
    >>> from medwb import features
    >>> features.FEATURES["shape_volume_mm3"][0]
    'mm³'
"""

from medwb.features._input import FeatureInputError
from medwb.features.attribution import attribution_features
from medwb.features.deep import DeepPCA, LayerNotFoundError, deep_features
from medwb.features.extract import FAMILIES, extract
from medwb.features.intensity import discretise, intensity_features
from medwb.features.registry import FEATURES, describe
from medwb.features.shape import shape_features
from medwb.features.texture import DIRECTIONS_13, glcm_3d, texture_features

__all__ = [
    "DIRECTIONS_13", "FAMILIES", "FEATURES", "DeepPCA", "FeatureInputError", "LayerNotFoundError",
    "attribution_features", "deep_features", "describe", "discretise", "extract", "glcm_3d",
    "intensity_features", "shape_features", "texture_features",
]
