"""Issue 10, point 2: the Domains headline's words agree with its numbers.

On the demo, DANN doubled the target accuracy (23 % -> 46 %) while the proxy A-distance of the
classifier's features rose (1.80 -> 1.93) and that of its class scores fell (1.25 -> 1.07); the old
headline read "1.88 -> 1.95: lower means the domains look alike", so users concluded it failed.
"""

from __future__ import annotations

import numpy as np
import pytest

from engine.analysis.embedding import PAD_CAVEAT, EmbeddingResult, classifier_inputs, describe_shift


def _result(pad: float, out_pad: float | None, acc: float | None) -> EmbeddingResult:
    return EmbeddingResult(
        method="pca",
        points=np.zeros((8, 2)),
        domain=np.r_[np.zeros(4), np.ones(4)].astype(np.int64),
        labels=np.full(8, -1),
        classes=[],
        proxy_a_distance=pad,
        output_a_distance=out_pad,
        target_accuracy=acc,
    )


def test_demo_dann_headline_says_it_helped_although_the_distance_rose():
    before, after = _result(1.80, 1.25, 0.233), _result(1.93, 1.07, 0.46)
    text = describe_shift(after, before)
    assert text.startswith("Target accuracy 23% -> 46% (+23 points): adaptation helped.")
    assert "features 1.80 -> 1.93 (rose)" in text and "class scores 1.25 -> 1.07 (fell)" in text
    assert PAD_CAVEAT in text and "Judge the adaptation by the target accuracy" in text
    assert "fresh linear classifier" in text  # what the figure measures
    assert "lower means the domains look alike" not in text


def test_headline_when_adaptation_hurt_or_no_labels():
    hurt = describe_shift(_result(1.2, 1.0, 0.30), _result(1.6, 1.2, 0.40))
    assert "adaptation hurt" in hurt and "(fell)" in hurt and "Judge the adaptation" not in hurt
    unlabelled = describe_shift(_result(1.2, None, None), _result(1.6, None, None))
    assert "Target accuracy" not in unlabelled and "1.60 -> 1.20 (fell)" in unlabelled
    assert "labelled target-test folder" in unlabelled
    single = describe_shift(_result(1.9, None, 0.5))
    assert single.startswith("Target accuracy 50%.") and PAD_CAVEAT in single


@pytest.mark.parametrize("bottleneck", [0, 16])
def test_distances_are_measured_on_what_the_final_layer_reads(bottleneck, engine_info):
    import torch

    from engine.models.classifier import build_model

    torch.manual_seed(0)
    model = build_model("small_cnn", 3, weights="random", bottleneck_dim=bottleneck)
    images = torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8)
    feats, scores = classifier_inputs(model, images)
    assert feats.shape == (6, model.head.in_features)  # after the bottleneck when there is one
    if bottleneck:
        assert feats.shape[1] == bottleneck
    with torch.no_grad():
        logits = model(images.float() / 255.0).numpy()
    np.testing.assert_allclose(scores, logits, rtol=1e-4, atol=1e-5)
