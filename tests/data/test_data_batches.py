"""Batch iteration for the NumPy engine and the torch DataLoader adapter."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cnnlab.data import iterate_batches, num_batches


@given(n=st.integers(0, 50), batch_size=st.integers(1, 17), shuffle=st.booleans(), seed=st.integers(0, 3))
def test_every_sample_exactly_once(n, batch_size, shuffle, seed):
    x = np.arange(n * 2).reshape(n, 2)
    y = np.arange(n)
    batches = list(iterate_batches(x, y, batch_size, shuffle=shuffle, seed=seed))
    assert len(batches) == num_batches(n, batch_size)
    assert all(len(xb) == batch_size for xb, _ in batches[:-1])
    seen = np.concatenate([yb for _, yb in batches]) if batches else np.array([], int)
    assert sorted(seen.tolist()) == list(range(n))
    for xb, yb in batches:
        np.testing.assert_array_equal(xb[:, 0], 2 * yb)  # x and y stay paired
    if not shuffle:
        np.testing.assert_array_equal(seen, y)


def test_uneven_last_batch_and_drop_last():
    x, y = np.zeros((10, 1)), np.arange(10)
    assert [len(b) for b, _ in iterate_batches(x, y, 4)] == [4, 4, 2]
    assert [len(b) for b, _ in iterate_batches(x, y, 4, drop_last=True)] == [4, 4]
    assert num_batches(10, 4, drop_last=True) == 2


def test_shuffle_is_seeded():
    x, y = np.zeros((20, 1)), np.arange(20)
    a = [yb.tolist() for _, yb in iterate_batches(x, y, 6, shuffle=True, seed=1)]
    b = [yb.tolist() for _, yb in iterate_batches(x, y, 6, shuffle=True, seed=1)]
    c = [yb.tolist() for _, yb in iterate_batches(x, y, 6, shuffle=True, seed=2)]
    assert a == b and a != c
    rng = np.random.default_rng(1)
    d = [yb.tolist() for _, yb in iterate_batches(x, y, 6, shuffle=True, seed=rng)]
    assert d == a  # a Generator works like its seed


def test_bad_arguments():
    with pytest.raises(ValueError, match="x has 3 samples but y has 2"):
        next(iterate_batches(np.zeros(3), np.zeros(2), 1))
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        next(iterate_batches(np.zeros(3), np.zeros(3), 0))


def test_torch_dataloader():
    torch = pytest.importorskip("torch")
    from cnnlab.data import TorchDataset, make_dataloader

    x = np.arange(10 * 1 * 2 * 2, dtype=np.float32).reshape(10, 1, 2, 2)
    y = np.arange(10, dtype=np.int64)
    ds = TorchDataset(x, y)
    assert len(ds) == 10
    xi, yi = ds[3]
    assert xi.shape == (1, 2, 2) and int(yi) == 3
    loader = make_dataloader(x, y, batch_size=4)
    batches = list(loader)
    assert [len(b[1]) for b in batches] == [4, 4, 2]
    xb, yb = batches[0]
    assert isinstance(xb, torch.Tensor) and xb.dtype == torch.float32 and yb.dtype == torch.int64
    assert xb.shape == (4, 1, 2, 2)
    torch.testing.assert_close(xb, torch.from_numpy(x[:4]))

    def order(seed):
        return torch.cat([yb for _, yb in make_dataloader(x, y, 3, shuffle=True, seed=seed)]).tolist()

    assert sorted(order(0)) == list(range(10))
    assert order(0) == order(0) and order(0) != order(1)
    assert len(list(make_dataloader(x, y, 4, drop_last=True))) == 2
    with pytest.raises(ValueError, match="x has 10 samples but y has 9"):
        TorchDataset(x, y[:9])
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        make_dataloader(x, y, 0)


def test_plain_dataloader_over_torch_dataset_collates_samples():
    torch = pytest.importorskip("torch")
    from cnnlab.data import TorchDataset

    x = np.zeros((5, 1, 2, 2), np.float32)
    loader = torch.utils.data.DataLoader(TorchDataset(x, np.arange(5)), batch_size=2)
    assert [tuple(xb.shape) for xb, _ in loader] == [(2, 1, 2, 2), (2, 1, 2, 2), (1, 1, 2, 2)]


def test_importing_cnnlab_data_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, cnnlab; pre = 'torch' in sys.modules; import cnnlab.data; print(pre, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    if out.stdout.split()[0] == "True":
        pytest.skip("the cnnlab package itself imports torch")
    assert out.stdout.split() == ["False", "False"]
