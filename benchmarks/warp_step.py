"""Training-step cost of WARP: factored vs plain evaluation, per transition, vs GRU/LSTM.

One training step = forward + backward + AdamW update on a batch of (B, T, d) sequences.
Every case runs in its own fresh subprocess, so the memory figure of one case is not polluted
by another:

* CPU: peak resident-set growth during the steps (``ru_maxrss`` after the steps minus
  ``ru_maxrss`` after building model, data and optimiser). It is the process high-water mark,
  so it includes the autograd graph, temporaries and allocator slack (honest, but coarse).
* CUDA: ``torch.cuda.max_memory_allocated`` during the steps minus the memory allocated before.

Cases (root width 48, depth 3, swish unless noted):
* MSD: d = 2, T = 256, batch 64 and 256.
* Lorenz: d = 3, T = 1000, batch 32.
* Dense A is only allowed at small D, so it runs on a small root (width 16, depth 2).
Modes: parallel (teacher forced, p_force = 1) and autoregressive (p_force = 0.25): the sequential
loop (``WARP.rollout``), and on MSD the parallel feedback passes (``feedback_passes`` K = 1 and 2,
``detach_feedback=True``; warp_phys/rollout.py). A second table sets these against the parallel
step and the sequential autoregressive steps (factored and plain) of the same run.
GRU/LSTM: a one-layer torch.nn RNN + linear read-out trained on the same one-step task. Their
hidden state matches theta's byte size only on the small-root case (GRU H = D, LSTM 2H = D);
at D ~ 5,000 a matched GRU would hold 3 H^2 ~ 72 M weights, so the table uses H = 256 there.
Plain (materialised) cases whose theta tensor B*T*D*4 bytes exceeds --max-materialised-gb
are skipped (they would exhaust a shared machine) and say so.

    python benchmarks/warp_step.py --quick      # MSD batch 64 + small dense, 1 timed step
    python benchmarks/warp_step.py              # everything
    python benchmarks/warp_step.py --only autoregressive   # the fast-autoregressive rows (MSD)
    python benchmarks/warp_step.py --only forms    # the factored evaluation's two forms side by side

``--only forms``: the same training step with the root network's basis terms added in the expand
form everywhere (``factored_form="expand"``, the evaluation before the contract form existed) and
in the default "auto" form (a layer that narrows contracts; warp_phys/root.py), on the MSD
configuration above and on the medium paper table's black box (width 32, depth 2, subspace memory
of rank 8 reading the running moments, the previous observation as input, batch 16), parallel and
with one detached feedback pass (p_force 0.25, the table's objective).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

MSD = {"name": "MSD", "d": 2, "T": 256, "width": 48, "depth": 3}
LORENZ = {"name": "Lorenz", "d": 3, "T": 1000, "width": 48, "depth": 3}
SMALL = {"name": "MSD small root", "d": 2, "T": 256, "width": 16, "depth": 2}
#: The medium paper table's black box on MSD (benchmarks/paper_table.py), without its decoding prior.
MEDIUM_BLACK_BOX = {"name": "MSD medium black box", "d": 2, "T": 256, "width": 32, "depth": 2,
                    "warp_options": {"rank": 8, "transition_options": {"input_scale": 10.0},
                                     "prev_obs_input": True, "transition_input": "moments"}}


# ------------------------------------------------------------------------------------- worker
def _data(B: int, T: int, d: int, device: Any):
    import torch

    g = torch.Generator().manual_seed(0)
    t = torch.linspace(0, 1, T)
    freq = 2 + 6 * torch.rand(B, 1, d, generator=g)
    phase = 6.28 * torch.rand(B, 1, d, generator=g)
    x = torch.exp(-t.view(1, T, 1)) * torch.sin(6.28 * freq * t.view(1, T, 1) + phase)
    return x.to(device), t.to(device)


class _RNN:
    """GRU/LSTM one-step predictor with teacher forcing p_force (cell loop when < 1)."""

    def __init__(self, kind: str, d: int, hidden: int, device: Any) -> None:
        import torch

        torch.manual_seed(0)
        self.kind = kind
        rnn = torch.nn.GRU if kind == "gru" else torch.nn.LSTM
        cell = torch.nn.GRUCell if kind == "gru" else torch.nn.LSTMCell
        self.rnn = rnn(d, hidden, batch_first=True).to(device)
        self.cell = cell(d, hidden).to(device)
        self.cell.weight_ih, self.cell.weight_hh = self.rnn.weight_ih_l0, self.rnn.weight_hh_l0
        self.cell.bias_ih, self.cell.bias_hh = self.rnn.bias_ih_l0, self.rnn.bias_hh_l0
        self.head = torch.nn.Linear(hidden, d).to(device)
        self.params = list(self.rnn.parameters()) + list(self.head.parameters())

    def __call__(self, x, p_force: float, gen):
        import torch

        inp = torch.cat([x[:, :1], x[:, :-1]], 1)
        if p_force >= 1:
            return self.head(self.rnn(inp)[0])
        force = (torch.rand(x.shape[0], x.shape[1], generator=gen) < p_force).to(x.device).unsqueeze(-1)
        state, outs, prev = None, [], x[:, 0]
        for t in range(x.shape[1]):
            if t >= 1:
                prev = torch.where(force[:, t - 1], x[:, t - 1], outs[-1])
            state = self.cell(prev, state)
            outs.append(self.head(state if self.kind == "gru" else state[0]))
        return torch.stack(outs, 1)


def run_case(case: dict[str, Any]) -> dict[str, Any]:
    import torch

    from warp_phys.device import resolve_device
    from warp_phys.losses import sequence_loss
    from warp_phys.model import WARP

    torch.set_num_threads(case["threads"])
    dev = resolve_device(case["device"])
    x, tau = _data(case["batch"], case["T"], case["d"], dev)
    gen = torch.Generator().manual_seed(0)
    if case["model"] == "warp":
        model = WARP(case["d"], width=case["width"], depth=case["depth"], transition=case["transition"],
                     evaluation=case["evaluation"], max_dense_params=100_000, seed=0,
                     **case.get("warp_options", {})).to(dev)
        model.root.factored_form = case.get("form", "auto")
        params = list(model.parameters())

        options = case.get("forward", {})  # feedback_passes, detach_feedback

        def forward():
            return model(x, tau, p_force=case["p_force"], generator=gen, **options).mean
        state_numbers = model.weight_size
    else:
        model = _RNN(case["model"], case["d"], case["hidden"], dev)
        params = model.params

        def forward():
            return model(x, case["p_force"], gen)
        state_numbers = case["hidden"] * (1 if case["model"] == "gru" else 2)
    opt = torch.optim.AdamW(params, lr=1e-4)

    def step():
        loss = sequence_loss(forward(), x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize()

    if dev.type == "cuda":
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
    else:
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    times = []
    for i in range(1 + case["steps"]):  # the first step is a warm-up
        t0 = time.perf_counter()
        step()
        if i > 0:
            times.append(time.perf_counter() - t0)
    if dev.type == "cuda":
        peak = torch.cuda.max_memory_allocated() - base
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
    return {"time_s": statistics.median(times), "peak_mb": peak / 2**20, "state": state_numbers,
            "n_params": sum(p.numel() for p in params), "device": str(dev)}


# ------------------------------------------------------------------------------------- driver
def _root_size(cfg: dict[str, Any]) -> int:
    from warp_phys.root import RootNetwork

    return RootNetwork(1, cfg["d"], cfg["width"], cfg["depth"]).size


FEEDBACK = (1, 2)  # feedback_passes of the fast autoregressive rows (detached)


def build_cases(args: argparse.Namespace) -> list[dict[str, Any]]:
    common = {"threads": args.threads, "device": args.device, "steps": args.steps}
    if args.only == "autoregressive":
        return autoregressive_cases(common, [64] if args.quick else [64, 256])
    if args.only == "forms":
        return form_cases(common)
    cases = []
    configs = [(MSD, [64] if args.quick else [64, 256]), (SMALL, [64])]
    if not args.quick:
        configs.append((LORENZ, [32]))
    for cfg, batches in configs:
        for batch in batches:
            for p_force in (1.0, 0.25):
                base = {**common, **cfg, "batch": batch, "p_force": p_force}
                if cfg is SMALL:
                    warp = [("identity", "auto"), ("identity", "plain"), ("dense", "plain")]
                    hidden = {"gru": _root_size(cfg), "lstm": _root_size(cfg) // 2}
                else:
                    warp = [("identity", "auto"), ("identity", "plain"), ("lowrank", "auto"),
                            ("lowrank", "plain"), ("diagonal", "plain")]
                    hidden = {"gru": 256, "lstm": 256}
                for transition, evaluation in warp:
                    cases.append({**base, "model": "warp", "transition": transition, "evaluation": evaluation})
                if cfg is MSD and p_force < 1:
                    cases += [{**base, "model": "warp", "transition": "identity", "evaluation": "auto",
                               "forward": {"feedback_passes": k, "detach_feedback": True}} for k in FEEDBACK]
                for kind, h in hidden.items():
                    cases.append({**base, "model": kind, "hidden": h, "transition": "-", "evaluation": "-"})
    return cases


def autoregressive_cases(common: dict[str, Any], batches: list[int]) -> list[dict[str, Any]]:
    """MSD, identity: parallel, sequential AR (factored, plain), AR by K detached feedback passes."""
    cases = []
    for batch in batches:
        base = {**common, **MSD, "batch": batch, "model": "warp", "transition": "identity"}
        cases.append({**base, "p_force": 1.0, "evaluation": "auto"})
        cases += [{**base, "p_force": 0.25, "evaluation": "auto",
                   "forward": {"feedback_passes": k, "detach_feedback": True}} for k in FEEDBACK]
        for evaluation in ("auto", "plain"):
            cases.append({**base, "p_force": 0.25, "evaluation": evaluation})
    return cases


def form_cases(common: dict[str, Any]) -> list[dict[str, Any]]:
    """The factored step in the expand form and in the default form: MSD (identity, B=64) and the
    medium table's black box (subspace, B=16), parallel and with one detached feedback pass."""
    cases = []
    for cfg, transition, batch in ((MSD, "identity", 64), (MEDIUM_BLACK_BOX, "subspace", 16)):
        for p_force, forward in ((1.0, {}), (0.25, {"feedback_passes": 1, "detach_feedback": True})):
            for form in ("expand", "auto"):
                cases.append({**common, **cfg, "batch": batch, "model": "warp", "transition": transition,
                              "evaluation": "auto", "p_force": p_force, "form": form,
                              **({"forward": forward} if forward else {})})
    return cases


def forms_table(results: list[dict[str, Any]]) -> str:
    """Expand-form step time against the default form's, per configuration and mode."""
    lines = ["| config | batch | mode | expand s / step | auto s / step | expand / auto |", "|---|---|---|---|---|---|"]
    for r in results:
        if r.get("form") != "auto" or "time_s" not in r:
            continue
        e = next((x for x in results if x.get("form") == "expand" and x["name"] == r["name"]
                  and x["p_force"] == r["p_force"] and "time_s" in x), None)
        mode = "parallel" if r["p_force"] >= 1 else f"AR {r['p_force']}, 1 feedback pass, detached"
        if e is not None:
            lines.append(f"| {r['name']} | {r['batch']} | {mode} | {e['time_s']:.4f} | {r['time_s']:.4f} | "
                         f"{e['time_s'] / r['time_s']:.2f}x |")
    return "\n".join(lines)


def materialised_gb(case: dict[str, Any]) -> float:
    if case["model"] != "warp" or (case["evaluation"] == "auto" and case["transition"] in ("identity", "lowrank")):
        return 0.0
    # both modes keep every theta_t (B, D) for the backward pass
    return case["batch"] * case["T"] * _root_size(case) * 4 / 2**30


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="MSD batch 64 and the small dense case only")
    ap.add_argument("--only", choices=["autoregressive", "forms"], default=None,
                    help="autoregressive: only the fast-autoregressive comparison (MSD, B=64 and 256)")
    ap.add_argument("--steps", type=int, default=None,
                    help="timed steps per case (default 2, quick 1, --only autoregressive 5)")
    ap.add_argument("--rounds", type=int, default=None,
                    help="run every case this many times, each in a fresh process, and report the medians "
                         "(default 1, --only autoregressive 3)")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads per case (default 1)")
    ap.add_argument("--device", default="cpu", help="cpu | cuda | auto (default cpu)")
    ap.add_argument("--max-materialised-gb", type=float, default=None,
                    help="skip materialised cases whose theta tensor is larger (default 1.0 on CPU, 40 on "
                         "CUDA; 2.0 on CPU with --only autoregressive, whose B=256 plain row needs 1.2)")
    ap.add_argument("--json", default=None, help="also write the raw results to this JSON file")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker is not None:
        print(json.dumps(run_case(json.loads(args.worker))))
        return
    args.steps = args.steps or (1 if args.quick else 5 if args.only else 2)
    args.rounds = args.rounds or (3 if args.only else 1)
    limit = args.max_materialised_gb
    if limit is None:
        limit = 40.0 if args.device in ("cuda", "auto") and _has_cuda() else 2.0 if args.only else 1.0
    t_start = time.perf_counter()
    cases = build_cases(args)
    runs: list[list[dict[str, Any]]] = [[] for _ in cases]
    for rnd in range(args.rounds):  # every other round in reverse order, so a drifting load evens out
        for i in (range(len(cases)) if rnd % 2 == 0 else reversed(range(len(cases)))):
            case, label = cases[i], _label(cases[i])
            if materialised_gb(case) > limit:
                if rnd == 0:
                    runs[i].append({**case, "skipped": f"theta would need {materialised_gb(case):.1f} GB > {limit} GB"})
                    print(f"skip {label}", file=sys.stderr, flush=True)
                continue
            env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
            proc = subprocess.run([sys.executable, __file__, "--worker", json.dumps(case)], capture_output=True,
                                  text=True, env=env)
            if proc.returncode != 0:
                runs[i].append({**case, "skipped": "failed: " + proc.stderr.strip().splitlines()[-1][:80]})
            else:
                runs[i].append({**case, **json.loads(proc.stdout.strip().splitlines()[-1])})
            r = runs[i][-1]
            print(f"{label}: {r.get('time_s', float('nan')):.3f} s {r.get('skipped', '')}", file=sys.stderr,
                  flush=True)
    results = [_combine(r) for r in runs]
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)
    if args.only == "forms":
        print(forms_table(results))
    else:
        print(table([r for r in results if not r.get("forward")]))
    if args.only != "forms" and any(r.get("forward") for r in results):
        print("\n" + autoregressive_table(results))
    dev = next((r["device"] for r in results if "device" in r), args.device)
    print(f"\n{len(results)} cases in {time.perf_counter() - t_start:.0f} s on {dev}, {args.threads} thread(s), "
          f"{args.steps} timed step(s) after a warm-up" + (f", median of {args.rounds} rounds (fresh processes)"
                                                            if args.rounds > 1 else "") + "; memory: "
          f"{'peak CUDA allocation' if dev.startswith('cuda') else 'peak RSS growth (ru_maxrss)'} during the steps.")


def _combine(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One result from the rounds of a case: median time and memory (skipped if any round was)."""
    bad = next((r for r in runs if "skipped" in r), None)
    if bad is not None:
        return bad
    return {**runs[0], "time_s": statistics.median(r["time_s"] for r in runs),
            "peak_mb": statistics.median(r["peak_mb"] for r in runs), "rounds": len(runs)}


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _label(c: dict[str, Any]) -> str:
    mode = "parallel" if c["p_force"] >= 1 else f"AR p={c['p_force']}"
    if c.get("forward"):
        mode += f" fast K={c['forward']['feedback_passes']}"
    what = f"WARP {c['transition']} {'factored' if c['evaluation'] == 'auto' and c['transition'] in ('identity', 'lowrank') else 'plain'}" \
        if c["model"] == "warp" else f"{c['model'].upper()} H={c['hidden']}"
    return f"{c['name']} B={c['batch']} {mode} {what}"


def table(results: list[dict[str, Any]]) -> str:
    lines = ["| config | batch | mode | model | state (numbers) | s / step | peak MB | plain / factored time | "
             "plain / factored mem | time / GRU |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    key = lambda r: (r["name"], r["batch"], r["p_force"])  # noqa: E731
    groups: dict[Any, list[dict[str, Any]]] = {}
    for r in results:
        groups.setdefault(key(r), []).append(r)
    for (name, batch, p_force), rows in groups.items():
        gru = next((r for r in rows if r["model"] == "gru" and "time_s" in r), None)
        for r in rows:
            mode = "parallel" if p_force >= 1 else f"AR {p_force}"
            if r["model"] == "warp":
                factored = r["evaluation"] == "auto" and r["transition"] in ("identity", "lowrank")
                model = f"WARP {r['transition']} {'factored' if factored else 'plain'}"
            else:
                factored, model = False, f"{r['model'].upper()} H={r['hidden']}"
            if "time_s" not in r:
                lines.append(f"| {name} | {batch} | {mode} | {model} | | skipped: {r['skipped']} | | | | |")
                continue
            ratio_t = ratio_m = ""
            if factored:
                plain = next((p for p in rows if p["model"] == "warp" and p["transition"] == r["transition"]
                              and p["evaluation"] == "plain"), None)
                if plain is not None and "time_s" in plain:
                    ratio_t = f"{plain['time_s'] / r['time_s']:.1f}x"
                    ratio_m = f"{plain['peak_mb'] / max(r['peak_mb'], 1.0):.1f}x"
                elif plain is not None:
                    ratio_t = "(plain skipped)"
            vs_gru = f"{r['time_s'] / gru['time_s']:.2f}" if gru is not None else ""
            lines.append(f"| {name} | {batch} | {mode} | {model} | {r['state']} | {r['time_s']:.3f} | "
                         f"{r['peak_mb']:.0f} | {ratio_t} | {ratio_m} | {vs_gru} |")
    return "\n".join(lines)


def autoregressive_table(results: list[dict[str, Any]]) -> str:
    """Fast autoregressive rows against the parallel and sequential AR identity rows of the same run."""
    lines = ["| config | batch | mode | model | s / step | peak MB | time / parallel | seq AR plain / this | "
             "seq AR factored / this |", "|---|---|---|---|---|---|---|---|---|"]

    def find(name: str, batch: int, p_force: float, evaluation: str) -> dict[str, Any] | None:
        return next((r for r in results if r["name"] == name and r["batch"] == batch and r["model"] == "warp"
                     and r["transition"] == "identity" and r["evaluation"] == evaluation
                     and r["p_force"] == p_force and not r.get("forward")), None)

    def ratio(a: dict[str, Any] | None, b: dict[str, Any] | None) -> str:
        ok = a is not None and b is not None and "time_s" in a and "time_s" in b
        return f"{a['time_s'] / b['time_s']:.2f}x" if ok else "-"

    groups = sorted({(r["name"], r["batch"]) for r in results if r.get("forward")}, key=lambda k: (k[0], k[1]))
    for name, batch in groups:
        par, seq, plain = find(name, batch, 1.0, "auto"), find(name, batch, 0.25, "auto"), \
            find(name, batch, 0.25, "plain")
        fast = [r for r in results if r["name"] == name and r["batch"] == batch and r.get("forward")]
        for r in [x for x in (par, seq, plain) if x is not None] + fast:
            mode = "parallel" if r["p_force"] >= 1 else f"AR {r['p_force']}"
            mode += f", {r['forward']['feedback_passes']} feedback pass(es), detached" if r.get("forward") \
                else (", sequential" if r["p_force"] < 1 else "")
            model = f"WARP identity {'plain' if r['evaluation'] == 'plain' else 'factored'}"
            if "time_s" not in r:
                lines.append(f"| {name} | {batch} | {mode} | {model} | skipped: {r['skipped']} | | | | |")
                continue
            lines.append(f"| {name} | {batch} | {mode} | {model} | {r['time_s']:.3f} | {r['peak_mb']:.0f} | "
                         f"{ratio(r, par)} | {ratio(plain, r)} | {ratio(seq, r)} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
