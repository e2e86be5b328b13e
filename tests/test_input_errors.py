"""Inputs a sampler cannot use get one line naming the argument and what to pass instead, and a
dataset passed as weights is refused before any of its items is read."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, SequentialSampler

from balance_gui import BalancedBatchSampler, BalancedSampler, DistributedPKBatchSampler, PKBatchSampler
from balance_gui.core.errors import BalanceError, SettingsError, WeightsError
from balance_gui.core.input_hints import SamplerInPlaceOfWeightsError


class Images(Dataset):
    targets = [0, 1, 1, 0]

    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int) -> Any:
        raise AssertionError("an item was read")


def test_a_dataset_as_weights_points_at_from_dataset_without_reading_it():
    for make in (lambda: BalancedSampler(Images()), lambda: PKBatchSampler(Images(), 1, 1)):
        with pytest.raises(WeightsError) as e:
            make()
        msg = str(e.value)
        assert "is a dataset (Images)" in msg and "from_dataset" in msg
        assert msg.startswith(("weights", "targets"))


def test_a_dict_of_class_weights_names_the_argument():
    with pytest.raises(WeightsError, match=r"^class_weights is a dict .*one weight per class index"):
        BalancedSampler(targets=[0, 1], class_weights={0: 1.0, 1: 2.0})
    with pytest.raises(WeightsError, match=r"^weights is a dict"):
        BalancedSampler({0: 1.0, 1: 2.0})
    with pytest.raises(WeightsError, match=r"^class_weights is a dict"):
        PKBatchSampler([0, 1, 1], 1, 1, class_weights={0: 1.0, 1: 1.0})


@pytest.mark.parametrize("targets", [["cat", "dog"], np.array(["cat", "dog"]), ("cat", "dog")])
def test_string_targets_say_to_number_the_classes(targets):
    with pytest.raises(WeightsError, match=r"^targets holds strings \(first: 'cat'\); targets must be integer"):
        BalancedSampler(targets=targets, class_weights=[1.0, 2.0])
    with pytest.raises(WeightsError, match=r"^targets holds strings"):
        PKBatchSampler(targets, 1, 1)


def test_string_weights_and_a_string():
    with pytest.raises(WeightsError, match=r"^weights holds strings"):
        BalancedSampler(["1.0", "2.0"])
    with pytest.raises(WeightsError, match=r"^weights is a string"):
        BalancedSampler("1, 2")


def test_num_samples_not_an_int_names_the_argument():
    with pytest.raises(SettingsError, match=r"^num_samples must be an int, got 'ten'$"):
        BalancedSampler([1.0, 2.0], num_samples="ten")  # type: ignore[arg-type]


def test_a_sampler_as_weights_is_a_type_error_lightning_recognises():
    import re

    with pytest.raises(SamplerInPlaceOfWeightsError) as e:
        BalancedBatchSampler(SequentialSampler(range(4)), batch_size=2, drop_last=False)
    err = e.value
    assert isinstance(err, TypeError) and isinstance(err, BalanceError)
    # the pattern Lightning's _dataloader_init_kwargs_resolve_sampler matches before giving its hint
    assert re.match(r".*__init__\(\) (got multiple values)|(missing \d required)", str(err))
    assert "SequentialSampler was passed where the weights go" in str(err)


def _lightning_reinstantiate(loader: DataLoader, world: int = 2) -> Any:
    from lightning.pytorch.utilities.data import _dataloader_init_kwargs_resolve_sampler

    sampler = DistributedSampler(loader.dataset, num_replicas=world, rank=0, shuffle=False)
    return _dataloader_init_kwargs_resolve_sampler(loader, sampler)


def test_lightning_ddp_re_creation_shows_lightnings_hint_not_a_numpy_message():
    import lightning  # noqa: F401  (in the test extra: a missing one fails, never skips)

    batches = BalancedBatchSampler([1.0, 2.0, 3.0, 4.0], batch_size=2, seed=0)
    loader = DataLoader(torch.arange(4.0), batch_sampler=batches)
    with pytest.raises(TypeError, match="use_distributed_sampler=False") as e:
        _lightning_reinstantiate(loader)
    # Lightning's hint, raised from ours
    assert "Lightning can't inject" in str(e.value)
    assert isinstance(e.value.__cause__, SamplerInPlaceOfWeightsError)


def test_lightning_refuses_the_distributed_pk_sampler_with_its_hint():
    import lightning  # noqa: F401  (in the test extra: a missing one fails, never skips)

    pk = DistributedPKBatchSampler([0, 0, 1, 1, 2, 2], 2, 1, num_replicas=2, rank=0)
    loader = DataLoader(torch.arange(6.0), batch_sampler=pk)
    with pytest.raises(TypeError, match="use_distributed_sampler=False"):
        _lightning_reinstantiate(loader)
