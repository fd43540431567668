"""One-off: benchmarks/paper_table.py's medium "WARP + physics" row with the quadratic prior in
place of the grey box: the same settings (lstsq input, forecast loss over the grey box's horizon,
parameter_fit, subspace memory, 150 s, validation every 200 steps) except prior="quadratic" (and
no grey-box margin option), on the same seeded data. Prints one JSON row per (dataset, seed) with
paper_table.run_one's fields. Environment OUTPUT_CLIP=c adds output_clip=c. argv: dataset seed [seed ...]"""
import json, os, sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import paper_table as pt

_model_call = pt.model_call


def quadratic_call(scale, dataset, model):
    name, prior, opts = _model_call(scale, dataset, model)
    if model == "warp_prior":
        opts = {k: v for k, v in opts.items() if k != "prior_options"}
        prior = "quadratic"
        if os.environ.get("OUTPUT_CLIP"):
            opts["output_clip"] = float(os.environ["OUTPUT_CLIP"])
    return name, prior, opts


pt.model_call = quadratic_call
dataset, seeds = sys.argv[1], [int(s) for s in sys.argv[2:]]
for seed in seeds:
    row = pt.run_one(dataset, "warp_prior", seed, "medium", "cpu")
    row["model"] = "warp_quadratic"
    print(json.dumps(row, default=str), flush=True)
