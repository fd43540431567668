"""Running a trained model on physical data: encode, forecast from a context, decode.

One implementation for the engine (which scores the test splits through it) and for
`Reconstruction.forecast` (new data). It lives here, below `results`, because `results` may
not import `engine` (engine imports results).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
import xarray as xr

from warp_phys.sequence import forecast_from

FORECAST_BATCH = 256  # trajectories per forecast call (bounds memory)


@torch.no_grad()
def forecast_batches(net: Any, z: torch.Tensor, tau: torch.Tensor, context: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Forecast normalised (N, T, r) from the first ``context`` steps, in batches; returns the
    mean and std (zeros for point models), (N, T, r) on the CPU. Steps after ``context`` of
    ``z`` are never read, except the known input channels of a `warp_phys.known_inputs.KnownInputs`
    model (`sequence.forecast_from`); ``tau`` (T,) sets the length."""
    net.eval()
    means, stds = [], []
    for i in range(0, z.shape[0], FORECAST_BATCH):
        pred = forecast_from(net, z[i:i + FORECAST_BATCH], tau, context)
        means.append(pred.mean.detach().cpu())
        stds.append((pred.std if pred.std is not None else torch.zeros_like(pred.mean)).detach().cpu())
    return torch.cat(means), torch.cat(stds)


def predict(net: Any, encoder: Any, model_name: str, ds: xr.Dataset, tau: torch.Tensor, context: int,
            device: torch.device) -> tuple[np.ndarray, np.ndarray]:
    """Physical mean and std (N, T, ...) float64 of the model's forecast of ``ds`` from its
    first ``context`` steps (one-step-ahead inside them). Persistence holds the last observed
    value of the data itself (no encoding error). Non-finite values are returned as they are."""
    if model_name == "persistence":
        from warp_phys.metrics import persistence_forecast

        truth = encoder.truth(ds)
        mean = persistence_forecast(truth, context)
        mean[:, 1:context] = truth[:, :context - 1]
        return mean, np.zeros_like(mean)
    z = encoder.encode(ds).to(device)
    return encoder.decode(*forecast_batches(net, z, tau.to(device), context))


__all__ = ["FORECAST_BATCH", "forecast_batches", "predict"]
