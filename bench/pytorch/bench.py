#!/usr/bin/env python3
"""PyTorch reference for `nmflow bench`: the same four workloads, sizes and seeds where they matter,
written the way a good PyTorch user would (models stacked and batched with bmm/einsum, no Python loop
over models). Prints a JSON report in nmflow's schema (docs/bench.md). PyTorch >= 1.13.

  python3 bench/pytorch/bench.py [--quick] [--workloads zoo,fit,sample,eval] [--iters N] [--device cpu|cuda]
"""
import argparse, json, math, sys, time

import torch
import torch.nn.functional as F

WORKLOADS = ["zoo", "fit", "sample", "eval"]
SOLVERS = ["euler", "midpoint", "rk4"]


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def time_it(n, f, dev):
    """Warm-up call (timed apart), then n calls: returns (warm-up s, calls per second)."""
    t = time.perf_counter(); f(); sync(dev); warm = time.perf_counter() - t
    t = time.perf_counter()
    for _ in range(n):
        f()
    sync(dev)
    return warm, n / (time.perf_counter() - t)


def images(n, seed, dev):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, 784), generator=g, dtype=torch.uint8)
    y = torch.randint(0, 10, (n,), generator=g)
    return x.to(dev), y.to(dev)


def uniform(shape, bound, g):
    return (torch.rand(shape, generator=g) * 2 - 1) * bound


def mlp_params(r, hidden, g, dev):
    """R stacked MLPs 784-hidden-10, PyTorch's default init U(±1/sqrt(fan_in)), [out,in] weights."""
    ps = [uniform((r, hidden, 784), 1 / math.sqrt(784), g), uniform((r, hidden), 1 / math.sqrt(784), g),
          uniform((r, 10, hidden), 1 / math.sqrt(hidden), g), uniform((r, 10), 1 / math.sqrt(hidden), g)]
    return [p.to(dev).requires_grad_() for p in ps]


def zoo(a, dev):
    rs, hidden, train = ([1, 4], 8, 512) if a.quick else ([1, 8, 64, 256], 32, 8192)
    X, Y = images(train, a.seed, dev)
    out = []
    for r in rs:
        g = torch.Generator().manual_seed(a.seed)
        w1, b1, w2, b2 = mlp_params(r, hidden, g, dev)
        opt = torch.optim.SGD([w1, b1, w2, b2], lr=0.05)
        state = {"loss": 0.0}

        def step():
            idx = torch.randint(0, train, (r, 128), device=dev)  # each run its own minibatch
            x = X[idx].float() / 255                                 # [R,B,784]
            h = torch.relu(torch.baddbmm(b1.unsqueeze(1), x, w1.transpose(1, 2)))
            logits = torch.baddbmm(b2.unsqueeze(1), h, w2.transpose(1, 2))  # [R,B,10]
            loss = F.cross_entropy(logits.reshape(-1, 10), Y[idx].reshape(-1), reduction="sum") / 128
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            state["loss"] = loss
        n = a.iters or (2 if a.quick else 20)
        warm, rate = time_it(n, step, dev)
        out.append(result("zoo", f"R={r}", "model-steps/s", rate * r, warm, n, float(state["loss"]) / r))
    return out


def time_embedding(t, dim=64):
    half = dim // 2
    freqs = 1000 * torch.exp(-math.log(1e4) * torch.arange(half, device=t.device) / half)
    args = t[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], -1)


class VelocityNet(torch.nn.Module):
    """nmflow's flow net (flow/net.go): Linear(P+64→W), Depth residual blocks
    (LN, SiLU, Linear + time Linear, SiLU, Linear), LN, SiLU, zero-init Linear(W→P)."""

    def __init__(self, p, width, depth):
        super().__init__()
        L = torch.nn.Linear
        self.inp = L(p + 64, width)
        self.blocks = torch.nn.ModuleList([torch.nn.ModuleDict({"norm": torch.nn.LayerNorm(width), "a": L(width, width),
                                                                "time": L(64, width), "b": L(width, width)}) for _ in range(depth)])
        self.norm = torch.nn.LayerNorm(width)
        self.out = L(width, p)
        torch.nn.init.zeros_(self.out.weight); torch.nn.init.zeros_(self.out.bias)

    def forward(self, x, t):
        emb = time_embedding(t)
        h = self.inp(torch.cat([x, emb], -1))
        for b in self.blocks:
            a = b["a"](F.silu(b["norm"](h))) + b["time"](emb)
            h = h + b["b"](F.silu(a))
        return self.out(F.silu(self.norm(h)))


def fit(a, dev):
    hs, width = ([1], 16) if a.quick else ([1, 12, 128], 256)
    out = []
    for h in hs:
        torch.manual_seed(a.seed)
        g = torch.Generator().manual_seed(a.seed)
        w = [p.detach().reshape(32, -1) for p in mlp_params(32, h, g, "cpu")]
        x0s = torch.cat([w[0], w[1], w[2], w[3]], 1).to(dev)    # 32 inits [32,P] in nmflow's layout order
        x1s = x0s + 0.05 * torch.randn(x0s.shape, generator=g).to(dev)
        p = x0s.shape[1]
        net = VelocityNet(p, width, 1).to(dev)
        opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
        state = {}

        def step():
            i = torch.randint(0, 32, (64,), device=dev)
            x1 = x1s[i]
            x0 = (torch.rand_like(x1) * 2 - 1) * x0s.abs().amax(0)  # a source draw of the init's scale
            t = torch.rand(64, device=dev)
            xt = (1 - t[:, None]) * x0 + t[:, None] * x1
            loss = ((xt + net(xt, t) - x1) ** 2).mean()            # PredictTarget: D = x_t + out ≈ x1
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            state["loss"] = loss
        n = a.iters or (2 if a.quick else 10)
        warm, rate = time_it(n, step, dev)
        out.append(result("fit", f"P={p}", "steps/s", rate, warm, n, float(state["loss"])))
    return out


def sample(a, dev):
    n, d, hidden, steps = (4, 64, 16, 5) if a.quick else (64, 25450, 512, 100)
    g = torch.Generator().manual_seed(a.seed)
    w1 = uniform((d, hidden), 1 / math.sqrt(d), g).to(dev)        # [in,out] like nmflow's bench velocity
    w2 = uniform((hidden, d), 1 / math.sqrt(hidden), g).to(dev)
    b1, b2, wt = uniform(hidden, 0.1, g).to(dev), uniform(d, 0.01, g).to(dev), uniform(hidden, 1, g).to(dev)
    x0 = torch.randn((n, d), generator=g).to(dev)

    def v(x, t):
        return torch.addmm(b2, F.silu(torch.addmm(b1 + t * wt, x, w1)), w2)

    out = []
    for method in SOLVERS:
        state = {}

        @torch.no_grad()
        def integrate():
            x, dt = x0.clone(), 1.0 / steps
            for i in range(steps):
                t = i * dt
                if method == "euler":
                    x = x + dt * v(x, t)
                elif method == "midpoint":
                    x = x + dt * v(x + 0.5 * dt * v(x, t), t + 0.5 * dt)
                else:
                    k1 = v(x, t); k2 = v(x + 0.5 * dt * k1, t + 0.5 * dt)
                    k3 = v(x + 0.5 * dt * k2, t + 0.5 * dt); k4 = v(x + dt * k3, t + dt)
                    x = x + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
            state["rms"] = float(x.pow(2).mean().sqrt())
        k = a.iters or (2 if a.quick else 3)
        warm, rate = time_it(k, integrate, dev)
        out.append(result("sample", method, "nets/s", rate * n, warm, k, state["rms"]))
    return out


def evaluate(a, dev):
    nets, hidden, examples = (4, 8, 256) if a.quick else (64, 32, 10000)
    g = torch.Generator().manual_seed(a.seed)
    w1, b1, w2, b2 = [p.detach() for p in mlp_params(nets, hidden, g, dev)]
    X, Y = images(examples, a.seed + 1, dev)
    state = {}

    @torch.no_grad()
    def run():
        x = X.float() / 255
        h = torch.relu(torch.einsum("ni,rhi->rnh", x, w1) + b1[:, None])   # one shared first-layer matmul
        logits = torch.baddbmm(b2[:, None], h, w2.transpose(1, 2))         # [R,N,10]
        # Per-net mean loss and accuracy, as nmflow's Evaluator returns (the zoo records both).
        state["loss"] = torch.nn.functional.cross_entropy(logits.transpose(1, 2), Y[None].expand(nets, -1), reduction="none").mean(1)
        state["acc"] = float((logits.argmax(-1) == Y[None]).float().mean())
    k = a.iters or (2 if a.quick else 3)
    warm, rate = time_it(k, run, dev)
    return [result("eval", f"N={nets}", "nets/s", rate * nets, warm, k, state["acc"])]


def result(w, case, unit, thr, warm, iters, check):
    return {"workload": w, "case": case, "unit": unit, "throughput": thr, "warmup_s": warm, "iters": iters, "compiles": 0, "check": check}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny sizes (seconds): a smoke test")
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument("--iters", type=int, default=0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: PyTorch's default)")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        sys.exit("bench.py: --device cuda but torch.cuda.is_available() is False")
    fns = {"zoo": zoo, "fit": fit, "sample": sample, "eval": evaluate}
    results = []
    for w in a.workloads.split(","):
        if w not in fns:
            sys.exit(f"bench.py: unknown workload {w!r} (want {', '.join(WORKLOADS)})")
        for r in fns[w](a, dev):
            print(f"bench {r['workload']} {r['case']}: {r['throughput']:.4g} {r['unit']} (warm-up {r['warmup_s']:.2f}s)", file=sys.stderr)
            results.append(r)
    json.dump({"impl": "pytorch", "backend": f"torch {torch.__version__} {dev.type}", "quick": a.quick, "results": results}, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
