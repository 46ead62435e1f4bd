"""Name and change which way a Volume's voxel axes point: orientation codes and reorient().

Only permutes and flips axes (no interpolation): voxels stay exactly the source's and the affine
follows, so every voxel keeps its LPS position (see docs/geometry.md). Resampling onto other grids
lives in medwb.transforms, which re-exports these names.
"""

from __future__ import annotations

import numpy as np

from medwb.volume import Volume

__all__ = ["reorient", "orientation_of", "ORIENTATIONS"]

#: Named orientations -> a three-letter code: the patient direction toward which the slice, row and
#: column index increase (DICOM letters L/R, P/A, S/I).
ORIENTATIONS: dict[str, str] = {
    "LPS-axial": "SPL",  # radiological axial: slices up the body, rows to the back, columns to the left
    "axial": "SPL",
    "coronal": "PIL",  # slices to the back, rows down, columns to the patient's left
    "sagittal": "LIP",  # slices to the patient's left, rows down, columns to the back
}
_LETTERS = {"L": (0, 1.0), "R": (0, -1.0), "P": (1, 1.0), "A": (1, -1.0), "S": (2, 1.0), "I": (2, -1.0)}
_AXIS_LETTERS = ("LR", "PA", "SI")  # (positive, negative) letter of world axes x, y, z


def _closest_axes(direction: np.ndarray) -> list[tuple[int, float]]:
    """For each array axis, (world axis, sign) of the closest patient axis; a one-to-one match."""
    d = np.abs(direction)
    result: list[tuple[int, float]] = [(-1, 0.0)] * 3
    free_w, free_a = {0, 1, 2}, {0, 1, 2}
    for _ in range(3):  # greedy on the largest cosine: always a permutation, even at 45 degrees
        w, a = max(((w, a) for w in free_w for a in free_a), key=lambda wa: (d[wa], -wa[1], -wa[0]))
        result[a] = (w, 1.0 if direction[w, a] >= 0 else -1.0)
        free_w.discard(w)
        free_a.discard(a)
    return result


def orientation_of(volume: Volume) -> str:
    """Three letters: the patient direction toward which slice, row and column index increase.

    "SPL" is the radiological axial stack (medwb's default); oblique volumes get their closest axes.

    Example:
        >>> import numpy as np
        >>> orientation_of(Volume.from_geometry(np.zeros((2, 2, 2))))
        'SPL'
    """
    letters = []
    for w, sign in _closest_axes(volume.direction):
        letters.append(_AXIS_LETTERS[w][0 if sign > 0 else 1])
    return "".join(letters)


def _parse_orientation(orientation: str) -> str:
    code = ORIENTATIONS.get(orientation, orientation).upper()
    if len(code) != 3 or any(ch not in _LETTERS for ch in code) or len({_LETTERS[ch][0] for ch in code}) != 3:
        raise ValueError(
            f"unknown orientation {orientation!r}. Use one of {', '.join(ORIENTATIONS)} or three letters "
            "from L/R, P/A, S/I (one of each pair) naming where the slice, row and column index go, "
            "e.g. 'SPL' (radiological axial) or 'SAR' (NIfTI RAS canonical)."
        )
    return code


def reorient(volume: Volume, orientation: str = "LPS-axial") -> Volume:
    """Permute and flip axes (no interpolation) so the voxel axes point the canonical way.

    The default "LPS-axial" (code "SPL"): slices toward +z (superior), rows toward +y (posterior),
    columns toward +x (patient left) -- the axial view as radiologists read it, patient's right on the
    image left. Oblique volumes go to their closest axes and stay oblique. Voxels are exactly the
    source's; the affine is updated so every voxel keeps its LPS position.

    Args:
        orientation: a name from ORIENTATIONS ("LPS-axial", "coronal", "sagittal") or a
            three-letter code such as "SPL".

    Example:
        >>> import numpy as np
        >>> to_right = np.array([[0.0, 0, -1], [0, 1, 0], [1, 0, 0]])  # columns toward patient right
        >>> v = Volume.from_geometry(np.arange(8).reshape(2, 2, 2), direction=to_right)
        >>> orientation_of(v), orientation_of(reorient(v))
        ('SPR', 'SPL')
    """
    code = _parse_orientation(orientation)
    src_axes = _closest_axes(volume.direction)
    perm, flips = [], []
    for letter in code:
        w, target_sign = _LETTERS[letter]
        a = next(i for i, (wi, _) in enumerate(src_axes) if wi == w)
        perm.append(a)
        flips.append(src_axes[a][1] != target_sign)
    arr = np.transpose(volume.array, perm)
    index_map = np.zeros((4, 4))  # new index -> source index
    index_map[3, 3] = 1.0
    n = volume.shape
    for t, (a, flip) in enumerate(zip(perm, flips, strict=True)):
        if flip:
            index_map[a, t] = -1.0
            index_map[a, 3] = n[a] - 1
        else:
            index_map[a, t] = 1.0
    flip_axes = tuple(t for t, f in enumerate(flips) if f)
    if flip_axes:
        arr = np.flip(arr, axis=flip_axes)
    arr = np.ascontiguousarray(arr)
    meta = dict(volume.meta)
    return Volume(arr, volume.affine @ index_map, volume.modality, meta)
