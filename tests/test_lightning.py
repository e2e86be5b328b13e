"""Framework integration: Lightning (one device, and "ddp" with 2 CPU processes under the default
use_distributed_sampler=True) and Accelerate's prepare_data_loader."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler

from balance_gui.core.sampler import BalancedSampler, DistributedBalancedSampler

SCRIPT = Path(__file__).with_name("lightning_ddp_run.py")
ROOT = SCRIPT.parents[1]


def run_lightning(tmp_path: Path, devices: int, kind: str) -> list[dict]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONWARNINGS="ignore")
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path), str(devices), kind],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(devices)]


def reference_epoch(epoch: int, length: int) -> list[int]:
    sys.path.insert(0, str(ROOT / "tests"))
    import lightning_ddp_run as run

    s = BalancedSampler(targets=run.TARGETS, class_weights=run.CLASS_WEIGHTS, num_samples=length, seed=run.SEED)
    s.set_epoch(epoch)
    return list(s)


def test_distributed_balanced_sampler_is_a_distributed_sampler():
    s = DistributedBalancedSampler(np.ones(10), num_replicas=3, rank=2, seed=1)
    assert isinstance(s, DistributedSampler)
    assert (s.num_replicas, s.rank, s.seed, s.epoch) == (3, 2, 1, 0)
    assert (s.num_samples, s.total_size, len(s)) == (4, 12, 4)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_lightning_one_device_keeps_the_sampler_and_sets_epochs(tmp_path):
    (res,) = run_lightning(tmp_path, 1, "balanced")
    assert res["world"] == 1 and res["sampler_type"] == "BalancedSampler"
    for e in (0, 1):  # Lightning calls set_epoch(e): epoch e of seed mode
        assert res["epochs"][str(e)] == reference_epoch(e, 41)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_lightning_ddp_two_processes_slices_one_global_draw(tmp_path):
    ranks = run_lightning(tmp_path, 2, "distributed")
    assert [r["rank"] for r in ranks] == [0, 1] and all(r["world"] == 2 for r in ranks)
    # not wrapped a second time by DistributedSamplerWrapper
    assert all(r["sampler_type"] == "DistributedBalancedSampler" for r in ranks)
    m = 21  # ceil(41 / 2)
    for e in (0, 1):
        expect = reference_epoch(e, 2 * m)
        got = [r["epochs"][str(e)] for r in ranks]
        assert got[0] == expect[:m] and got[1] == expect[m:]  # disjoint slices of one global draw
        assert len(got[0]) + len(got[1]) >= 41  # together they cover num_samples
    assert ranks[0]["epochs"]["0"] != ranks[0]["epochs"]["1"]


def test_accelerate_shards_batches_of_one_generator_synchronised_draw():
    """Accelerate shards every loader's batches itself (BatchSamplerShard) and synchronises
    ``sampler.generator`` across processes: a plain BalancedSampler in generator mode gives each
    process its own batches of one global draw."""
    import accelerate
    from accelerate.data_loader import prepare_data_loader

    targets = np.repeat(np.arange(3), [30, 12, 6])
    ds = torch.arange(48)
    global_batches = [
        b.tolist()
        for b in DataLoader(
            ds, sampler=BalancedSampler(targets=targets, class_weights=[1.0, 2.0, 5.0], generator=_g()), batch_size=4
        )
    ]
    shards = []
    for r in (0, 1):
        s = BalancedSampler(targets=targets, class_weights=[1.0, 2.0, 5.0], generator=_g())  # synchronised state
        dl = prepare_data_loader(
            DataLoader(ds, sampler=s, batch_size=4), num_processes=2, process_index=r, put_on_device=False
        )
        shards.append([b.tolist() for b in dl])
    assert shards[0] == global_batches[0::2] and shards[1] == global_batches[1::2]
    assert accelerate.__version__


def _g() -> torch.Generator:
    return torch.Generator().manual_seed(11)


def test_lightning_sets_the_epoch_of_samplers_passed_as_batch_sampler():
    """Lightning calls set_epoch only on dataloader.sampler and dataloader.batch_sampler.sampler:
    the batch forms expose a ``sampler`` that passes it on, so with use_distributed_sampler=False a
    DistributedBalancedSampler as ``batch_sampler=`` gets a new epoch each epoch (it repeated
    epoch 0), and a BalancedBatchSampler follows Lightning's epoch number (as after a resume)."""
    from lightning.fabric.utilities.data import _set_sampler_epoch

    from balance_gui.core.sampler import BalancedBatchSampler

    t = np.arange(200) % 4
    kw = dict(targets=t, class_weights=[1.0, 2.0, 3.0, 4.0], batch_size=8)
    for make in (
        lambda: DistributedBalancedSampler(**kw, num_replicas=2, rank=1, seed=3),
        lambda: BalancedBatchSampler(**kw, seed=3),
    ):
        dl = DataLoader(list(range(200)), batch_sampler=make(), collate_fn=list)
        epochs = []
        for epoch in (5, 6):
            _set_sampler_epoch(dl, epoch)
            epochs.append(list(dl))
            ref = make()
            ref.set_epoch(epoch)
            assert epochs[-1] == list(ref)  # the epoch Lightning set
        assert epochs[0] != epochs[1]
        assert len(epochs[0]) == len(dl.batch_sampler) > 0
    # the index form is itself what Lightning calls: no ``sampler`` attribute there
    assert not hasattr(
        DistributedBalancedSampler(targets=t, class_weights=[1.0] * 4, num_replicas=2, rank=0), "sampler"
    )
