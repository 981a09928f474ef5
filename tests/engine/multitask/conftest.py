"""Fixtures for the multitask tests: a small multitask demo (digits plentiful, parity scarce)."""

from __future__ import annotations

import pytest

from engine.multitask.demo import MultitaskDemoPaths, make_multitask_demo


@pytest.fixture(scope="session")
def mt_demo(tmp_path_factory: pytest.TempPathFactory) -> MultitaskDemoPaths:
    """200 training images (20 a digit), parity labelled on 6 a class, 50 test images."""
    return make_multitask_demo(tmp_path_factory.mktemp("mt") / "demo", per_class=20, scarce=6, test_per_class=5, seed=3)
