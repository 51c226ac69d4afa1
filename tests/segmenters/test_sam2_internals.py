"""The overrides of sam2's private methods state the sam2 version they were written against."""

from __future__ import annotations

import pytest

from lang_sam_tracker.segmenters.sam2_internals import (
    SAM2_VERSION_WRITTEN_AGAINST,
    check_sam2_version,
    installed_sam2_version,
)


def test_the_installed_sam2_is_the_one_the_overrides_were_written_against():
    assert installed_sam2_version() == SAM2_VERSION_WRITTEN_AGAINST
    assert check_sam2_version() is True


def test_another_sam2_version_warns_naming_both():
    with pytest.warns(RuntimeWarning, match=r"sam2 1\.1\.0, but sam2 1\.2\.3 is installed"):
        assert check_sam2_version("1.2.3") is False
