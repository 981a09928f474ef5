"""The pixel_da training method: a classifier trained on the source translated by a translation
run (or by a translator trained inline), and a translator of another image size refused."""

from __future__ import annotations

import pytest

from engine.core.config import TrainConfig
from engine.core.errors import UserError
from engine.core.events import Collector, Log
from engine.jobs.gan_translate import JOB, TranslateConfig, TranslateRequest
from engine.methods import get_method
from engine.training.trainer import run_train


def test_pixel_da_trains_on_translated_source(tmp_path, tiny_demo):
    assert get_method("pixel_da").uses_target
    tr = JOB.run(
        TranslateRequest(
            config=TranslateConfig(
                source=tiny_demo.source,
                target=tiny_demo.target_train,
                out=tmp_path / "t",
                steps=2,
                batch_size=4,
                width=4,
                device="cpu",
                runs_dir=tmp_path / "runs",
            )
        )
    )
    base = TrainConfig(source=tiny_demo.source, target=tiny_demo.target_train, target_test=tiny_demo.target_test,
                       method="pixel_da", epochs=1, batch_size=32, runs_dir=tmp_path / "runs", device="cpu")  # fmt: skip
    events = Collector()
    result = run_train(base.model_copy(update={"method_options": {"translator": str(tr.run_dir)}}), events)
    assert result.status == "finished" and "target/acc" in result.best_metrics
    logs = [e.message for e in events.of(Log)]
    assert any("translating the source with" in m for m in logs)
    assert any("source training images translated" in m for m in logs)

    inline = Collector()
    opts = {"translate_steps": 2, "source_share": 0.25, "translate_loss": "cut", "feature_method": "mcc"}
    assert run_train(base.model_copy(update={"method_options": opts}), inline).status == "finished"
    inline_logs = [e.message for e in inline.of(Log)]
    assert any("training a translator for 2 steps" in m for m in inline_logs)
    assert any("originals kept beside them" in m for m in inline_logs)
    assert any("mcc aligns the features on top" in m for m in inline_logs)

    with pytest.raises(UserError, match="translates 32 px images, but this run uses 64 px"):
        run_train(base.model_copy(update={"image_size": 64, "method_options": {"translator": str(tr.run_dir)}}))
    with pytest.raises(UserError, match=r"no checkpoints/last\.pt"):
        run_train(base.model_copy(update={"method_options": {"translator": str(tiny_demo.source)}}))
