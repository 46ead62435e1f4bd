"""Shared helpers for the DICOM tests: volumes with known geometry and SimpleITK as the oracle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from medwb import Volume


def make_volume(shape=(12, 20, 16), spacing=(2.5, 0.8, 0.7), origin=(-40.0, -30.0, 12.5), direction=None,
                modality="CT", seed=0) -> Volume:
    """A random int16 'HU' volume; non-cubic so that axis mix-ups show."""
    rng = np.random.default_rng(seed)
    array = rng.integers(-1024, 2000, size=shape).astype(np.int16)
    return Volume.from_geometry(array, spacing=spacing, origin=origin, direction=direction, modality=modality)


def oblique_direction(degrees: float = 20.0) -> np.ndarray:
    """Direction (columns: slice, row, column) of an axial stack rotated about two axes."""
    a, b = np.radians(degrees), np.radians(degrees / 2)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    axial = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    return rx @ rz @ axial


def sitk_read(source) -> tuple[np.ndarray, np.ndarray]:
    """(array, affine in medwb's convention) as SimpleITK reads a series folder or one file."""
    import SimpleITK as sitk

    source = Path(source)
    if source.is_dir():
        reader = sitk.ImageSeriesReader()
        reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(source)))
        image = reader.Execute()
    else:
        image = sitk.ReadImage(str(source))
    array = sitk.GetArrayFromImage(image)  # (z, y, x) = (slice, row, column)
    d = np.array(image.GetDirection()).reshape(3, 3)  # columns: x (column), y (row), z (slice)
    sx, sy, sz = image.GetSpacing()
    affine = np.eye(4)
    affine[:3, 0] = d[:, 2] * sz
    affine[:3, 1] = d[:, 1] * sy
    affine[:3, 2] = d[:, 0] * sx
    affine[:3, 3] = image.GetOrigin()
    return array, affine


def assert_same_as_sitk(volume: Volume, source, *, in_plane_only: bool = False) -> None:
    array, affine = sitk_read(source)
    assert volume.shape == array.shape
    np.testing.assert_allclose(volume.array, array, rtol=0, atol=1e-3 * max(1.0, float(np.abs(array).max())) * 1e-3)
    cols = [1, 2] if in_plane_only else [0, 1, 2]
    np.testing.assert_allclose(volume.affine[:3, cols], affine[:3, cols], atol=1e-4)
    np.testing.assert_allclose(volume.affine[:3, 3], affine[:3, 3], atol=1e-4)


class DicomKit:
    """The helpers above, handed to tests by the ``kit`` fixture."""

    make_volume = staticmethod(make_volume)
    oblique_direction = staticmethod(oblique_direction)
    sitk_read = staticmethod(sitk_read)
    assert_same_as_sitk = staticmethod(assert_same_as_sitk)


@pytest.fixture
def kit() -> type[DicomKit]:
    return DicomKit


@pytest.fixture
def ct_volume() -> Volume:
    return make_volume()
