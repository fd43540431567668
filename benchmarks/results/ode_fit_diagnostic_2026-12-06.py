"""One-off diagnostic: why is the quadratic prior's MSD forecast far better than the fitted
equations' outside the training box? benchmarks/paper_table.py's medium ODE-fit row (no training:
each test context's m, k, c fitted by Levenberg-Marquardt, then RK4) on the same seeded data, with
its settings changed one at a time: margin (the widening of the parameter ranges the sigmoid clamp
allows, the table's 0.0), substeps (RK4 sub-steps per sample, the table's 1), iterations (LM steps,
30). argv: dataset seed JSON-of-ode_fit-options"""
import json, sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import paper_table as pt

dataset, seed, change = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
_model_call = pt.model_call


def patched(scale, ds, model):
    name, prior, opts = _model_call(scale, ds, model)
    return name, prior, {**opts, **change} if model == "ode_fit" else opts


pt.model_call = patched
row = pt.run_one(dataset, "ode_fit", seed, "medium", "cpu")
print(json.dumps(dict(dataset=dataset, seed=seed, change=change, mse=row["mse"], inside=row["mse_inside_box"],
                      outside=row["mse_outside_box"], median=row["mse_median_traj"], wall=round(row["wall_s"]))),
      flush=True)
