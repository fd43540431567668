"""Probe (2026-12-06): the contract form's sum over k, as B*T tiny bmm's (the kernel before this date), as
a broadcast product summed over k (adopted in warp_phys/root.py), and as a Python loop over k; forward + backward,
one thread, interleaved in one process. Run: OMP_NUM_THREADS=1 taskset -c 0 python <this file>."""
import time, torch
torch.set_num_threads(1)
torch.manual_seed(0)
def run(B, T, K, n_in, n_out, reps=30):
    h = torch.randn(B, T, n_in, requires_grad=True)
    c = torch.randn(B, T, K, requires_grad=True)
    wko = torch.randn(n_in, K * n_out, requires_grad=True)
    def bmm():
        hw = (h @ wko).view(B * T, K, n_out)
        return torch.bmm(c.reshape(B * T, 1, K), hw).view(B, T, n_out)
    def summ():
        hw = (h @ wko).view(B, T, K, n_out)
        return (hw * c.unsqueeze(-1)).sum(-2)
    def loop():
        hw = (h @ wko).view(B, T, K, n_out)
        y = hw[..., 0, :] * c[..., 0:1]
        for k in range(1, K):
            y = y + hw[..., k, :] * c[..., k:k+1]
        return y
    fs = {"bmm": bmm, "sum": summ, "loop": loop}
    ref = bmm()
    for n, f in fs.items():
        assert torch.allclose(f(), ref, atol=1e-4), n
    times = {n: [] for n in fs}
    for r in range(reps):
        for n, f in fs.items():
            t0 = time.perf_counter(); y = f(); y.sum().backward(); times[n].append(time.perf_counter() - t0)
    import statistics
    print(B, T, K, n_in, n_out, {n: round(statistics.median(v) * 1e3, 2) for n, v in times.items()})
print("B T K in out: median ms of forward + backward, 30 rounds interleaved (200 for T = 1)")
run(64, 256, 2, 48, 48)
run(64, 256, 2, 48, 2)
run(16, 256, 29, 32, 32)
run(16, 256, 29, 32, 2)
run(64, 64, 33, 32, 32)
run(64, 1, 33, 32, 32, reps=200)
