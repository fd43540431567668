"""One pipeline for every reconstruction: data -> encoder -> model -> trainer -> forecast ->
decode -> score -> `Reconstruction`. See docs/architecture.md."""
from .encoders import FieldEncoder, StateEncoder
from .engine import Job, forecast, run, train
from .jobs import field_job, plan_system, simulate_system, system_job, user_job
from .models import ModelSpec, available_models, build_model
from .results import Reconstruction, format_metrics, result_dataset
from .segment import segment_task
from .sources import Splits, derive_seed, field_splits, system_splits, user_splits

__all__ = ["FieldEncoder", "Job", "ModelSpec", "Reconstruction", "Splits", "StateEncoder",
           "available_models", "build_model", "derive_seed", "field_job", "field_splits", "format_metrics", "plan_system",
           "forecast", "result_dataset", "run", "segment_task", "simulate_system", "system_job", "system_splits", "train", "user_job", "user_splits"]
