"""Run by tests/test_lightning.py: a Lightning fit that records every rank's sample indices.

    python tests/lightning_ddp_run.py OUT_DIR DEVICES KIND

Lightning's "ddp" strategy on the CPU starts the other ranks by running this script again.
Each rank writes OUT_DIR/rank{R}.json: the indices of each epoch, the sampler's type as
Lightning hands it to the loop, and its world size.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import lightning.pytorch as pl  # noqa: E402

from balance_gui.core.repeat_factor_sampler import DistributedRepeatFactorSampler  # noqa: E402
from balance_gui.core.sampler import BalancedSampler, DistributedBalancedSampler  # noqa: E402

TARGETS = torch.repeat_interleave(torch.arange(3), torch.tensor([30, 12, 5]))
CLASS_WEIGHTS = torch.tensor([1.0, 2.0, 6.0], dtype=torch.float64)
NUM_SAMPLES = 41  # odd: the ranks' slices are padded by drawing one more
SEED = 5
EPOCHS = 2
BATCH = 4
# kind "distributed_rfs": epochs of 40, 42 and 43 indices (5, 6 and 6 batches a rank): longer than the first
REPEAT_FACTORS = np.linspace(0.2, 1.5, 47)
EPOCHS_RFS = 3


class Indices(Dataset):
    def __len__(self) -> int:
        return TARGETS.numel()

    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.tensor([float(i)])


class Recorder(pl.LightningModule):
    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self.layer = torch.nn.Linear(1, 1)
        self.seen: dict[int, list[int]] = {}

    def train_dataloader(self) -> DataLoader:
        if self.kind == "distributed_rfs":
            # a repeat-factor epoch has its own length: the loader is made again each epoch
            # (reload_dataloaders_every_n_epochs=1) with its epoch set, so Lightning counts its batches
            rfs = DistributedRepeatFactorSampler(REPEAT_FACTORS, seed=SEED)
            rfs.set_epoch(self.current_epoch)
            return DataLoader(Indices(), sampler=rfs, batch_size=BATCH)
        if self.kind == "distributed":
            sampler = DistributedBalancedSampler(
                targets=TARGETS, class_weights=CLASS_WEIGHTS, num_samples=NUM_SAMPLES, seed=SEED
            )
        else:
            sampler = BalancedSampler(targets=TARGETS, class_weights=CLASS_WEIGHTS, num_samples=NUM_SAMPLES, seed=SEED)
        return DataLoader(Indices(), sampler=sampler, batch_size=BATCH)

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        self.seen.setdefault(self.current_epoch, []).extend(int(v) for v in batch[:, 0])
        return self.layer(batch).sum()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.0)


def main() -> None:
    out, devices, kind = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    torch.set_num_threads(1)
    model = Recorder(kind)
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=devices,
        strategy="ddp" if devices > 1 else "auto",
        max_epochs=EPOCHS_RFS if kind == "distributed_rfs" else EPOCHS,
        reload_dataloaders_every_n_epochs=1 if kind == "distributed_rfs" else 0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model)
    sampler = trainer.train_dataloader.sampler
    result = {
        "rank": trainer.global_rank,
        "world": trainer.world_size,
        "sampler_type": type(sampler).__name__,
        "epochs": {str(e): v for e, v in model.seen.items()},
    }
    (out / f"rank{trainer.global_rank}.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main()
