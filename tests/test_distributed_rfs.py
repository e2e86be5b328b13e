"""DistributedRepeatFactorSampler beside DistributedBalancedSampler: what Lightning relies on, and
two real gloo processes (disjoint shares of each epoch, resume of every rank from rank 0's state).

Lightning keeps a sampler that already is a ``DistributedSampler`` (it re-shards a loader only
when ``not isinstance(dataloader.sampler, DistributedSampler)``), calls ``set_epoch`` on it at
each epoch, and saves rank 0's ``StatefulDataLoader`` state in its checkpoints, which every rank
loads on resume.  A repeat-factor epoch has its own length, and Lightning counts an epoch's
batches once (``len(loader)`` when it sets the loader up): the last test runs Lightning's "ddp"
with ``reload_dataloaders_every_n_epochs=1``, as docs/detection.md says, so that no epoch is cut.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler
from torchdata.stateful_dataloader import StatefulDataLoader

from balance_gui.core.repeat_factor_sampler import DistributedRepeatFactorSampler, RepeatFactorSampler
from balance_gui.core.sampler import DistributedBalancedSampler

pytestmark = pytest.mark.filterwarnings("ignore:'set_vital' is deprecated:UserWarning")

R = np.linspace(0.3, 2.9, 101)  # epochs of about 162 indices
SEED = 7
WORLD = 2
BATCH = 4
EPOCHS = 3
CUT = 5  # batches of the resumed epoch before the cut


def whole_epoch(epoch: int) -> list[int]:
    s = RepeatFactorSampler(R, seed=SEED)
    s.set_epoch(epoch)
    return list(s)


def _make(cls: type, world: int, rank: int) -> Any:
    return cls(R, world, rank, seed=SEED)  # the same signature: weights or repeat factors first


# ------------------------------------------------------------------ in one process, side by side


@pytest.mark.parametrize("cls", [DistributedBalancedSampler, DistributedRepeatFactorSampler])
def test_lightning_keeps_it_and_sets_its_epochs(cls):
    from lightning.fabric.utilities.data import _set_sampler_epoch

    s = _make(cls, 3, 2)
    assert isinstance(s, DistributedSampler)  # Lightning's test for "already distributed"
    assert (s.num_replicas, s.rank, s.seed, s.epoch) == (3, 2, SEED, 0)
    assert s.total_size == s.num_samples * 3 and len(s) == s.num_samples
    dl = DataLoader(list(range(R.size)), sampler=s, batch_size=BATCH)
    epochs = []
    for epoch in (5, 6):
        _set_sampler_epoch(dl, epoch)  # what Lightning calls at each epoch start
        assert s.epoch == epoch
        got = [i for b in dl for i in b.tolist()]
        ref = _make(cls, 3, 2)
        ref.set_epoch(epoch)
        assert got == list(ref) and len(got) == len(s) and len(dl) == -(-len(s) // BATCH)
        epochs.append(got)
    assert epochs[0] != epochs[1]


def test_each_epochs_length_is_known_before_it_starts_on_every_rank():
    # every rank must agree on the number of batches (Lightning checks len() on all ranks)
    for epoch in range(6):
        ranks = [_make(DistributedRepeatFactorSampler, WORLD, r) for r in range(WORLD)]
        for s in ranks:
            s.set_epoch(epoch)
        m = -(-len(whole_epoch(epoch)) // WORLD)
        assert [len(s) for s in ranks] == [m, m] == [len(list(s)) for s in ranks]


# ------------------------------------------------------------------ two gloo processes


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sk:
        sk.bind(("127.0.0.1", 0))
        return int(sk.getsockname()[1])


def _loader(epoch: int) -> StatefulDataLoader:
    s = DistributedRepeatFactorSampler(R, seed=SEED)  # rank and world from torch.distributed
    s.set_epoch(epoch)
    return StatefulDataLoader(list(range(R.size)), sampler=s, batch_size=BATCH)


def _worker(rank: int, world: int, port: int, out_path: str) -> None:
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        res: dict[str, Any] = {"rank": rank}
        s = DistributedRepeatFactorSampler(R, seed=SEED)
        res["world"], res["lens"], res["epochs"] = s.num_replicas, [], []
        for e in range(EPOCHS):
            s.set_epoch(e)
            res["lens"].append(len(s))
            res["epochs"].append(list(s))
        # a run cut after CUT batches of epoch EPOCHS; the state saved is rank 0's, loaded by all
        first = _loader(EPOCHS)
        it = iter(first)
        res["head"] = [next(it).tolist() for _ in range(CUT)]
        box = [first.state_dict() if rank == 0 else None]
        dist.broadcast_object_list(box, src=0)
        restarted = _loader(EPOCHS)  # a new process's loader over a new sampler
        restarted.load_state_dict(box[0])
        res["tail"] = [b.tolist() for b in restarted]
        res["whole"] = [b.tolist() for b in _loader(EPOCHS)]
        gathered: list[Any] = [None] * world
        dist.all_gather_object(gathered, res)
        if rank == 0:
            torch.save(gathered, out_path)
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def gloo_results(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    out = str(tmp_path_factory.mktemp("ddp_rfs") / "gathered.pt")
    mp.spawn(_worker, args=(WORLD, _free_port(), out), nprocs=WORLD, join=True)
    return list(torch.load(out))


@pytest.mark.timeout(120)
def test_gloo_ranks_hold_disjoint_shares_of_each_epoch(gloo_results):
    res = gloo_results
    assert [r["rank"] for r in res] == [0, 1] and all(r["world"] == WORLD for r in res)
    lengths = set()
    for e in range(EPOCHS):
        whole = whole_epoch(e)
        lengths.add(len(whole))
        m = -(-len(whole) // WORLD)
        parts = [r["epochs"][e] for r in res]
        assert [len(p) for p in parts] == [m, m] and all(r["lens"][e] == m for r in res)
        # rank r holds positions [r*m, (r+1)*m) of the one global epoch (padded by wrapping around)
        assert parts[0] + parts[1] == (whole + whole)[: m * WORLD]
        # so together they hold every index floor(r_i) or floor(r_i)+1 times, once the padding is off
        counts = np.bincount((parts[0] + parts[1])[: len(whole)], minlength=R.size)
        assert np.all((counts == np.floor(R)) | (counts == np.floor(R) + 1))
    assert len(lengths) > 1, "the epochs must differ in length for the test to see a wrong one"


@pytest.mark.timeout(120)
def test_gloo_every_rank_resumes_from_rank_0s_state(gloo_results):
    for r in gloo_results:
        assert r["head"] + r["tail"] == r["whole"]  # not one batch repeated or skipped
        assert len(r["head"]) == CUT and r["tail"]
    assert gloo_results[0]["whole"] != gloo_results[1]["whole"]


# ------------------------------------------------------------------ Lightning "ddp", 2 CPU processes


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_lightning_ddp_runs_every_repeat_factor_epoch_whole(tmp_path: Path):
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    import lightning_ddp_run as run

    from tests.test_lightning import run_lightning

    ranks = run_lightning(tmp_path, 2, "distributed_rfs")
    assert all(r["sampler_type"] == "DistributedRepeatFactorSampler" for r in ranks)  # not wrapped again
    lengths = []
    for e in range(run.EPOCHS_RFS):
        ref = RepeatFactorSampler(run.REPEAT_FACTORS, seed=run.SEED)
        ref.set_epoch(e)
        whole = list(ref)
        lengths.append(len(whole))
        m = -(-len(whole) // 2)
        got = [r["epochs"][str(e)] for r in ranks]
        assert got[0] + got[1] == (whole + whole)[: 2 * m], e  # whole epochs, disjoint halves
    assert max(lengths[1:]) > lengths[0]  # a longer epoch than the first: Lightning would have cut it
