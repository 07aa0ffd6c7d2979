"""A tiny regression task used by the engine tests (also runnable under torchrun)."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.utils.data import TensorDataset

from ghost_backbones.engine import Task, TrainConfig, build_parser, distributed, fit, parse_config, run_cli


@dataclass
class ToyModel:
    hidden: int = 32
    nan_after: int = -1  # make the loss NaN from this global step on (tests the divergence check)
    batchnorm: bool = True  # False: no BatchNorm (batches of one image; accumulation equals a larger batch)


@dataclass
class ToyData:
    root: str = ""
    size: int = 32
    skip_bad_images: bool = False


@dataclass
class ToyConfig:
    model: ToyModel = field(default_factory=ToyModel)
    data: ToyData = field(default_factory=ToyData)
    # Pictures and event files off: the toy tests check the loop's files (tests/test_training_features.py turns
    # them on).
    train: TrainConfig = field(default_factory=lambda: TrainConfig(plots=False, tensorboard=False))


class ToyTask(Task):
    best_metric = "neg_mse"
    val_batch_size = 4

    def build_model(self) -> nn.Module:
        h = self.cfg.model.hidden
        norm = nn.BatchNorm1d(h) if self.cfg.model.batchnorm else nn.Identity()
        return nn.Sequential(nn.Linear(4, h), norm, nn.ReLU(), nn.Linear(h, 1))

    def build_datasets(self):
        g = torch.Generator().manual_seed(0)
        x = torch.randn(self.cfg.data.size, 4, generator=g)
        y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]]) + 0.1
        return TensorDataset(x, y), TensorDataset(x[:10], y[:10])

    def training_step(self, model, batch, device):
        self.steps = getattr(self, "steps", 0) + 1
        x, y = (t.to(device) for t in batch)
        loss = nn.functional.mse_loss(model(x), y)
        if 0 <= self.cfg.model.nan_after < self.steps:
            loss = loss * float("nan")
        return {"mse": loss}

    def evaluate(self, model, loader, device):
        total = torch.zeros(2)
        for x, y in loader:
            total += torch.tensor([nn.functional.mse_loss(model(x), y, reduction="sum").item(), len(x)])
        distributed.all_reduce_tensor(total)
        return {"neg_mse": -(total[0] / total[1]).item(), "count": int(total[1])}


def main(argv=None):
    return fit(ToyTask(parse_config(ToyConfig, build_parser("toy", ToyConfig), argv)))


if __name__ == "__main__":
    sys.exit(run_cli(main))
