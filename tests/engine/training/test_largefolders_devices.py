"""Device choice with a faked CUDA or Apple GPU: this CI has neither, the code must still pick them."""

from __future__ import annotations

import pytest
import torch

from engine.core.errors import UserError
from engine.training import devices


def fake(monkeypatch, cuda: bool, mps: bool, bf16: bool = True) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)


@pytest.mark.parametrize(
    ("cuda", "mps", "want"), [(True, True, "cuda"), (True, False, "cuda"), (False, True, "mps"), (False, False, "cpu")]
)
def test_auto_prefers_cuda_then_mps_then_cpu(monkeypatch, cuda, mps, want):
    fake(monkeypatch, cuda, mps)
    assert devices.pick_device("auto").type == want


def test_asked_devices_present_or_a_clear_error(monkeypatch):
    fake(monkeypatch, cuda=True, mps=True)
    assert devices.pick_device("cuda").type == "cuda" and devices.pick_device("mps").type == "mps"
    assert devices.pick_device("cpu").type == "cpu"
    fake(monkeypatch, cuda=False, mps=False)
    with pytest.raises(UserError, match="no CUDA GPU"):
        devices.pick_device("cuda")
    with pytest.raises(UserError, match="Metal"):
        devices.pick_device("mps")


def test_amp_dtype_per_device(monkeypatch):
    fake(monkeypatch, cuda=True, mps=False, bf16=True)
    assert devices.amp_dtype(torch.device("cuda")) == torch.bfloat16
    fake(monkeypatch, cuda=True, mps=False, bf16=False)
    assert devices.amp_dtype(torch.device("cuda")) == torch.float16  # older GPUs: fp16 with a GradScaler
    assert devices.amp_dtype(torch.device("cpu")) is None and devices.amp_dtype(torch.device("mps")) is None
    ctx = devices.autocast(torch.device("cpu"), enabled=True)
    with ctx:  # no autocast on CPU: float32 all the way
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32


class _Chosen(Exception):
    pass


@pytest.mark.parametrize(("cuda", "mps", "want"), [(True, False, "cuda"), (False, True, "mps")])
def test_trainer_runs_on_the_faked_gpu_it_finds(monkeypatch, train_config, cuda, mps, want):
    """Under device 'auto' the trainer takes the GPU it finds (stopped here at the choice: no driver)."""
    from engine.training import trainer

    fake(monkeypatch, cuda=cuda, mps=mps)
    seen: list[torch.device] = []

    def device_for(_dist: object, device: torch.device) -> torch.device:
        seen.append(device)
        raise _Chosen

    monkeypatch.setattr(trainer, "device_for", device_for)
    with pytest.raises(_Chosen):
        trainer.run_train(train_config.model_copy(update={"epochs": 1, "device": "auto"}))
    assert [d.type for d in seen] == [want]
