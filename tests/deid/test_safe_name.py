"""medwb.paths.safe_name and inside(): data never becomes a path that leaves its folder."""

from __future__ import annotations

import os

import pytest

from medwb.paths import PathEscapeError, inside, safe_name

HOSTILE = ["../", "..", ".", "../../etc/passwd", "/etc/passwd", "C:\\Windows\\system32", "a/../../b", "a\0b",
           "\0", "", " ", "x" * 5000, "é" * 300, "CON", "nul.txt", ".bashrc", "~root", "$(rm -rf ~)", "a\nb",
           "<img src=x onerror=alert(1)>"]


@pytest.mark.parametrize("value", HOSTILE)
def test_a_hostile_value_becomes_one_harmless_component(value, tmp_path):
    name = safe_name(value)
    assert name and len(name) <= 96 and set(name) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                         "0123456789._-")
    assert not name.startswith(".") and name not in (".", "..")
    target = tmp_path / name
    assert target.parent == tmp_path and inside(target, tmp_path)
    target.write_text("x")  # the file system accepts it
    assert os.listdir(tmp_path) == [name]


def test_safe_values_come_back_unchanged():
    for v in ("1.2.840.113619.2.55.3.604688119", "SUBJ-0001", "case_007", "2.25.1234567890"):
        assert safe_name(v) == v


def test_distinct_values_never_share_a_name():
    values = ["a/b", "a_b", "a b", "a\\b", "../a_b", "/a_b", "x" * 200, "x" * 201, "é", "è", "", "_"]
    assert len({safe_name(v) for v in values}) == len(values)


def test_long_names_are_cut_to_the_limit_with_their_hash():
    assert len(safe_name("1." * 400, max_length=64)) == 64
    assert safe_name("y" * 300) != safe_name("y" * 301)
    with pytest.raises(ValueError, match="max_length is 4"):
        safe_name("a", max_length=4)


def test_inside_refuses_paths_that_leave_the_folder_even_through_a_link(tmp_path):
    root = tmp_path / "out"
    root.mkdir()
    with pytest.raises(PathEscapeError, match="leaves the folder"):
        inside(root / ".." / "x.dcm", root)
    with pytest.raises(PathEscapeError):
        inside("/etc/passwd", root)
    (root / "link").symlink_to(tmp_path)
    with pytest.raises(PathEscapeError):
        inside(root / "link" / "x.dcm", root)
    assert inside(root / "a" / "b.dcm", root) == (root / "a" / "b.dcm").resolve()
