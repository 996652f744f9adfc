"""EMA with warm-up: exact values of the first updates."""

import torch
from torch.optim.swa_utils import AveragedModel

from molgen.training.module import ema_with_warmup


def test_ema_warmup_exact():
    m = torch.nn.Linear(3, 2)
    ema = AveragedModel(m, multi_avg_fn=ema_with_warmup(0.999), use_buffers=True)
    expected = None
    for step in range(6):
        with torch.no_grad():
            m.weight.add_(1.0 + step)
        ema.update_parameters(m)
        if expected is None:  # the first update copies the weights
            expected = m.weight.detach().clone()
        else:
            n = step  # updates already averaged
            d = min(0.999, (1 + n) / (10 + n))
            expected = d * expected + (1 - d) * m.weight.detach()
        torch.testing.assert_close(ema.module.weight, expected)
    assert float(ema.n_averaged) == 6
