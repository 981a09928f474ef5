"""The robustness job end to end: a real run directory (small_cnn on 8x8 images), its ONNX export,
a labelled folder, reports, galleries, events, stop, and refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from attack_helpers import export_legacy, fit, make_data
from PIL import Image

from engine.attacks.robustness import AttackJobConfig, run_attack
from engine.core.config import TrainConfig, validate
from engine.core.control import JobControl
from engine.core.errors import UserError
from engine.core.events import Collector, Finished, Progress, Started
from engine.core.runs import create_run
from engine.training.checkpoints import save_checkpoint

CLASSES = ["a", "b", "c"]
S = 8  # image side: small_cnn is cheap at 8x8


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("robust")
    data = root / "data"
    x, y = make_data(30, 77, S)
    for i, (img, label) in enumerate(zip(x, y, strict=False)):
        folder = data / CLASSES[int(label)]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray((img.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(folder / f"{i:02d}.png")
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        from engine.models import build_model

        torch.manual_seed(0)
        model = build_model("small_cnn", 3)
        xt, yt = make_data(512, 5, S)
        fit(model, (xt * 255).round() / 255, yt)
        run = create_run(
            TrainConfig(source=data, backbone="small_cnn", image_size=S, runs_dir=root / "runs", name="tiny")
        )
        save_checkpoint(
            run.checkpoint("best"),
            {"model": model.state_dict(), "classes": CLASSES, "input_size": S, "bottleneck_dim": 0},
        )
        onnx_path = export_legacy_sized(model, root / "export" / "tiny.onnx")
    finally:
        torch.set_num_threads(old)
    return {"data": data, "run": run.path, "onnx": onnx_path}


def export_legacy_sized(model: torch.nn.Module, path: Path) -> Path:
    """Legacy export at S x S plus the metadata OnnxClassifier reads (classes, size, in-model normalisation)."""
    path.parent.mkdir(parents=True)
    import attack_helpers

    old = attack_helpers.SIZE
    attack_helpers.SIZE = S
    try:
        export_legacy(model, path)
    finally:
        attack_helpers.SIZE = old
    proto = onnx.load(str(path))
    for key, value in {"classes": json.dumps(CLASSES), "input_size": str(S), "normalize_in_model": "true"}.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, str(path))
    return path


def job(setup, **kw) -> AttackJobConfig:
    base = dict(model=setup["run"], data=setup["data"], batch_size=16, device="cpu", gallery=3)
    base.update(kw)
    return validate(AttackJobConfig, base)


def test_white_box_report_files_and_events(setup):
    events = Collector()
    rep = run_attack(job(setup, attack="pgd", eps=[0.2, 0, 0.05], attack_options={"steps": 5}), events)
    assert [r.eps for r in rep.results] == [0.0, 0.05, 0.2]
    assert rep.n_images == 30 and rep.clean_accuracy >= 0.9 and not rep.stopped
    clean, mid, big = rep.results
    assert clean.accuracy == rep.clean_accuracy and clean.n_attacked == 0
    assert clean.accuracy >= mid.accuracy >= big.accuracy and big.accuracy <= 0.2
    assert big.success_rate >= 0.8 and big.n_attacked == round(rep.clean_accuracy * 30)
    assert big.linf_median is not None and big.linf_median <= 0.2 + 1e-6 and big.l2_mean > 0
    assert big.queries_mean is None
    folder = Path(rep.folder)
    assert folder.parent == setup["run"] / "robustness"
    saved = json.loads((folder / "report.json").read_text())
    assert saved == json.loads(rep.model_dump_json())
    for name in [rep.curve, big.gallery, mid.gallery]:
        with Image.open(folder / name) as im:
            assert im.format == "PNG" and im.size[0] > 100
    assert clean.gallery is None
    started = events.of(Started)[0]
    assert started.job == "robustness" and started.total_steps == 2 * 2  # 2 batches x 2 budgets > 0
    assert [p.step for p in events.of(Progress)] == [1, 2, 3, 4]
    fin = events.of(Finished)[0]
    assert not fin.stopped and fin.metrics["accuracy@0.2"] == big.accuracy


def test_minimal_norm_attack_runs_once_and_is_projected_per_eps(setup):
    events = Collector()
    rep = run_attack(job(setup, attack="deepfool", norm="l2", eps=[0.05, 0.5, 3.0]), events)
    assert len(events.of(Progress)) == 2  # one unbounded run per batch, not one per eps
    rates = [r.success_rate for r in rep.results]
    assert rates == sorted(rates) and rates[-1] >= 0.9
    for r in rep.results:
        assert r.l2_median is None or r.l2_median <= r.eps + 1e-6


def test_query_attack_on_onnx_counts_queries(setup):
    rep = run_attack(
        job(setup, model=setup["onnx"], attack="square", eps=[0.15], limit=12, attack_options={"max_queries": 50})
    )
    assert rep.model_kind == "onnx" and rep.n_images == 12
    r = rep.results[0]
    assert r.queries_mean is not None and 1 <= r.queries_median <= 50
    assert r.success_rate >= 0.5
    assert Path(rep.folder).parent == setup["onnx"].parent / "robustness"
    assert Path(rep.folder).name.startswith("tiny-")


def test_transfer_on_onnx_uses_the_surrogate(setup):
    rep = run_attack(
        job(
            setup,
            model=setup["onnx"],
            attack="transfer",
            surrogate=setup["run"],
            eps=[0.2],
            attack_options={"base_options": {"steps": 5}},
        )
    )
    assert rep.surrogate_agreement == 1.0  # the ONNX file is an export of the surrogate run
    r = rep.results[0]
    assert r.surrogate_success_rate >= 0.8 and r.transfer_rate >= 0.95
    assert r.queries_mean is None


def test_targeted_option_reaches_random_targets(setup):
    rep = run_attack(job(setup, attack="pgd", eps=[0.3], attack_options={"targeted": True, "steps": 10}))
    assert rep.targeted and rep.results[0].success_rate >= 0.8
    assert Path(rep.folder).name.endswith("-targeted")


def test_stop_saves_a_partial_report(setup):
    control = JobControl()
    events = Collector()

    def emit(event):
        events(event)
        if isinstance(event, Progress):
            control.stop()

    rep = run_attack(job(setup, attack="fgsm", eps=[0.1]), emit, control)
    assert rep.stopped and rep.n_images == 16  # the first batch finished, the second never started
    assert events.of(Finished)[0].stopped
    assert json.loads((Path(rep.folder) / "report.json").read_text())["stopped"] is True


def test_onnx_refuses_white_box_attacks(setup):
    with pytest.raises(UserError, match=r"square.*hopskipjump.*transfer"):
        run_attack(job(setup, model=setup["onnx"], attack="pgd", eps=[0.1]))


def test_transfer_needs_a_surrogate(setup):
    with pytest.raises(UserError, match="surrogate"):
        run_attack(job(setup, model=setup["onnx"], attack="transfer", eps=[0.1]))


@pytest.mark.parametrize(
    "kw,needle",
    [
        (dict(eps=[0.1, 1.5]), "field 'eps'"),
        (dict(eps=[0.1, 1.5]), "eps=1.5 is out of range for norm 'linf'"),
        (dict(eps=[-1.0], norm="l2"), "eps=-1.0"),
        (dict(eps=[]), "at least one budget"),
        (dict(attack="magic"), "unknown attack 'magic'"),
        (dict(attack_options={"steps": 0}), "field 'attack_options'"),
        (dict(attack_options={"eps": 0.1}), "not in attack_options"),
        (dict(attack="cw", norm="linf"), "norm"),
        (dict(limit=0), "field 'limit'"),
    ],
)
def test_job_config_refuses_bad_values(setup, kw, needle):
    with pytest.raises(UserError) as info:
        job(setup, **kw)
    assert needle in str(info.value)
