"""Weight averaging with warm-up: a short run's averaged weights follow the trained ones."""

from __future__ import annotations

import itertools

import torch
from torch import nn

from engine.training.ema import make_ema, warmup_decay


def test_decay_grows_towards_its_value() -> None:
    values = [warmup_decay(0.99, t) for t in range(0, 2000, 50)]
    assert values[0] == 0.1  # the first update nearly replaces the average
    assert all(a <= b for a, b in itertools.pairwise(values))
    assert values[-1] == 0.99  # and it settles on the configured decay


def test_short_run_average_stays_near_the_trained_weights() -> None:
    """110 steps that move a weight from 0 to 1: plain EMA(0.99) keeps ~1/3 of the start,
    the warmed-up average lags only ~10 steps behind."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))
    nn.init.zeros_(model[0].weight)
    plain = torch.optim.swa_utils.AveragedModel(
        model, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(0.99), use_buffers=True
    )
    warm = make_ema(model, 0.99)
    steps = 110
    for t in range(steps):
        with torch.no_grad():
            model[0].weight.fill_((t + 1) / steps)
            model(torch.randn(8, 4))  # BatchNorm buffers move too
        plain.update_parameters(model)
        warm.update_parameters(model)
    trained = model[0].weight.mean().item()
    assert trained == 1.0
    assert plain.module[0].weight.mean().item() < 0.75  # pulled back towards the initialisation
    assert warm.module[0].weight.mean().item() > 0.85  # lags ~10 steps of a steady climb
    # integer buffers are copied (an average of counters means nothing), float buffers averaged
    assert int(warm.module[1].num_batches_tracked) == steps
    assert not torch.equal(warm.module[1].running_mean, model[1].running_mean)
