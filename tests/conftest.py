"""Test-wide settings: offline, offscreen, CPU, and a private torch hub cache."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["TRANSFER_STUDIO_OFFLINE"] = "1"
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import pytest


@pytest.fixture(autouse=True, scope="session")
def _private_torch_home(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Weights lookups hit an empty cache, never the user's (or the network)."""
    os.environ["TORCH_HOME"] = str(tmp_path_factory.mktemp("torch_home"))
    os.environ["TRANSFER_STUDIO_CACHE"] = str(tmp_path_factory.mktemp("app_cache"))  # decoded images
