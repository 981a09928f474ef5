"""Models: a backbone registry and the image classifier every method trains.

Import-light: torch is imported by the submodules, not here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from engine.models.classifier import ImageClassifier


def build_model(backbone: str, num_classes: int, weights: str = "random", **kwargs: Any) -> ImageClassifier:
    """Shortcut for `engine.models.classifier.build_model`."""
    from engine.models.classifier import build_model as _build

    return _build(backbone, num_classes, weights=weights, **kwargs)


def load_run_model(run_dir: Any, which: str = "best") -> tuple[Any, dict[str, Any]]:
    """Shortcut for `engine.core.runs.load_run_model`: a run's model taking [0, 1] images, in eval mode."""
    from engine.core.runs import load_run_model as _load

    return _load(run_dir, which=which)
