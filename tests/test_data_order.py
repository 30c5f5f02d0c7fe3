"""The order a trial sees its training images in (trainers/data/_order.py): numpy only."""

from __future__ import annotations

import numpy as np
import pytest

from trainers.data import epoch_batches, epoch_permutation

pytestmark = pytest.mark.unit


def test_each_epoch_sees_a_different_order_of_every_image():
    orders = [epoch_permutation(0, epoch, 50).tolist() for epoch in range(6)]
    assert all(sorted(o) == list(range(50)) for o in orders)  # every image once per epoch
    assert len({tuple(o) for o in orders}) == 6  # six epochs, six orders
    assert orders[0] != list(range(50))  # shuffled, not the stored order


def test_the_order_is_a_function_of_seed_and_epoch_only():
    # Written down once: a trial resumed from a checkpoint (any machine, any numpy that keeps
    # default_rng's stream) must see the order its first run would have seen.
    assert epoch_permutation(0, 0, 10).tolist() == [4, 6, 2, 7, 3, 5, 9, 0, 8, 1]
    assert epoch_permutation(0, 1, 10).tolist() == [9, 1, 3, 8, 7, 6, 0, 4, 2, 5]
    assert epoch_permutation(1, 0, 10).tolist() == [8, 4, 7, 0, 1, 2, 5, 9, 6, 3]
    assert epoch_permutation(0, 1, 10).dtype == np.int32


def test_an_epoch_is_cut_into_global_batches_with_a_ragged_last_one():
    full, tail = epoch_batches([0, 1], 1, 10, 4)
    assert full.shape == (2, 2, 4) and tail.shape == (2, 2)
    assert full[0].ravel().tolist() + tail[0].tolist() == [9, 1, 3, 8, 7, 6, 0, 4, 2, 5]
    # A fused companion does not change a trial's order: row 1 is seed 1's own.
    alone, alone_tail = epoch_batches([1], 1, 10, 4)
    assert full[1].tolist() == alone[0].tolist() and tail[1].tolist() == alone_tail[0].tolist()
    exact, none = epoch_batches([0], 0, 8, 4)
    assert exact.shape == (1, 2, 4) and none is None
