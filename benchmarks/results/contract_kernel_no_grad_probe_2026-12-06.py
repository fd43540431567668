"""Probe (2026-12-06, not adopted): the contract form's sum over k in the passes without autograd
(warp_phys.rollout._factored_no_grad uses the in-place baddbmm_): against a broadcast product summed over k, the same into
a buffer, and one in-place addcmul_ per k. One thread, interleaved in one process. Run: OMP_NUM_THREADS=1 taskset -c 0 python <this file>."""
import time, torch, statistics
torch.set_num_threads(1)
torch.manual_seed(0)
def run(BT, K, n_out, reps=40):
    hw = torch.randn(BT, K, n_out); c = torch.randn(BT, K); y0 = torch.randn(BT, n_out)
    buf = torch.empty(BT, K, n_out)
    def bmm():
        y = y0.clone(); y.unsqueeze(1).baddbmm_(c.unsqueeze(1), hw); return y
    def summ():
        y = y0.clone(); y += (hw * c.unsqueeze(-1)).sum(1); return y
    def summ_buf():
        y = y0.clone(); torch.mul(hw, c.unsqueeze(-1), out=buf); y += buf.sum(1); return y
    def loopk():
        y = y0.clone()
        for k in range(K): y.addcmul_(hw[:, k], c[:, k:k+1])
        return y
    fs = {"baddbmm_": bmm, "sum": summ, "sum_buf": summ_buf, "addcmul_k": loopk}
    ref = bmm()
    for n, f in fs.items(): assert torch.allclose(f(), ref, atol=1e-4), n
    t = {n: [] for n in fs}
    for _ in range(reps):
        for n, f in fs.items():
            t0 = time.perf_counter(); f(); t[n].append(time.perf_counter() - t0)
    print(BT, K, n_out, {n: round(statistics.median(v) * 1e3, 3) for n, v in t.items()})
print("rows K out: median ms, no autograd, interleaved")
run(64 * 256, 2, 48)
run(64 * 256, 2, 2)
run(8192, 2, 48)
run(16 * 256, 29, 32)
run(16 * 256, 29, 2)
run(8192, 29, 32)
