"""User-data validation and conversion: errors name the problem; splits and scaling are exact."""
import numpy as np
import pytest
import torch

from warp_phys import data as D
from warp_phys.validation import check_context, check_time_grid


def _arr(n=5, T=8, d=2):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, T, d)), np.linspace(0.0, 0.7, T)


def test_as_dataset_from_array():
    a, t = _arr()
    ds = D.as_dataset(a, t, variable_names=["p", "q"])
    assert ds["state"].dims == ("trajectory", "time", "variable")
    assert list(ds["variable"].values) == ["p", "q"]
    np.testing.assert_array_equal(ds["state"].values, a)
    np.testing.assert_array_equal(ds["time"].values, t)
    ds2 = D.as_dataset(ds.transpose("variable", "time", "trajectory"))
    assert ds2["state"].dims == ("trajectory", "time", "variable")
    np.testing.assert_array_equal(ds2["state"].values, a)


@pytest.mark.parametrize("bad, match", [
    (lambda a: a[0], "2-D"),
    (lambda a: a[..., None], "3-D"),
])
def test_shape_errors(bad, match):
    a, t = _arr()
    with pytest.raises(ValueError, match=match):
        D.as_dataset(bad(a), t)


def test_nan_error_names_location_and_fix():
    a, t = _arr()
    a[2, 5, 1] = np.nan
    with pytest.raises(ValueError, match=r"trajectory 2, time step 5.*drop or interpolate the NaN steps"):
        D.as_dataset(a, t)
    a[2, 5, 1] = np.inf
    with pytest.raises(ValueError, match="NaN/inf"):
        D.as_dataset(a, t)


def test_time_errors():
    a, t = _arr()
    with pytest.raises(ValueError, match="time is required"):
        D.as_dataset(a, None)
    with pytest.raises(ValueError, match="time has 7 values but the data has 8"):
        D.as_dataset(a, t[:7])
    with pytest.raises(ValueError, match="1-D"):
        D.as_dataset(a, t[None])
    t2 = t.copy(); t2[3] = t2[2]
    with pytest.raises(ValueError, match="strictly increasing.*index 3"):
        D.as_dataset(a, t2)
    t3 = t.copy(); t3[4] += 0.03
    with pytest.raises(ValueError, match="uniform time grid.*resample"):
        D.as_dataset(a, t3)
    t4 = t.copy(); t4[0] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        D.as_dataset(a, t4)
    # float32 rounding of a uniform grid is accepted
    check_time_grid(np.linspace(100.0, 110.0, 1001).astype(np.float32))


def test_dataset_errors():
    a, t = _arr()
    ds = D.as_dataset(a, t)
    with pytest.raises(ValueError, match="no 'state' variable"):
        D.as_dataset(ds.rename({"state": "x"}))
    with pytest.raises(ValueError, match="dims"):
        D.as_dataset(ds.rename({"variable": "var"}))
    with pytest.raises(ValueError, match="DataArray"):
        D.as_dataset(ds["state"])


def test_check_context():
    assert check_context(3, 8) == 3
    with pytest.raises(ValueError, match="shorter than the trajectories"):
        check_context(8, 8)
    with pytest.raises(ValueError, match="at least 1"):
        check_context(0, 8)


def test_split_indices():
    tr, va, te = D.split_indices(20, seed=1)
    assert (len(tr), len(va), len(te)) == (14, 3, 3)
    assert sorted(np.concatenate([tr, va, te]).tolist()) == list(range(20))
    tr2, va2, te2 = D.split_indices(20, seed=1)
    assert tr.tolist() == tr2.tolist() and te.tolist() == te2.tolist()
    assert D.split_indices(20, seed=2)[0].tolist() != tr.tolist()
    assert [len(s) for s in D.split_indices(3)] == [1, 1, 1]
    with pytest.raises(ValueError, match="need at least 3.*validation"):
        D.split_indices(2)


def test_fit_scaler_and_tau():
    x = torch.tensor([[[1.0, 5.0], [3.0, 5.0]], [[5.0, 5.0], [7.0, 5.0]]])  # (2, 2, 2)
    s = D.fit_scaler(x)
    torch.testing.assert_close(s.loc, torch.tensor([4.0, 5.0]))
    torch.testing.assert_close(s.scale, torch.tensor([np.sqrt(5.0), 1.0], dtype=torch.float32))  # const -> 1
    z = s.normalise(x)
    torch.testing.assert_close(z[..., 0].mean(), torch.tensor(0.0))
    tau = D.normalised_time(np.array([2.0, 2.5, 3.0, 3.5, 4.0]))
    torch.testing.assert_close(tau, torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0]))
