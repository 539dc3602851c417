#!/usr/bin/env python3
"""PyTorch reference for `nmflow bench`: the same four workloads, sizes, data laws and training
recipes, written the way a good PyTorch user would (models stacked and batched with bmm/einsum, no
Python loop over models). Prints a JSON report in nmflow's schema (docs/bench.md). PyTorch >= 1.13.

Before timing anything it checks which BLAS torch's matmuls run on (the build's BLAS_INFO and the
libraries mapped into this process) and refuses the reference BLAS (Debian's libblas3), which is
5-14x slower than OpenBLAS and would make every ratio look better than it is: install
libopenblas0-pthread (scripts/install-deps.sh --bench) or pass --allow-reference-blas (the report
is then marked). It also measures its GEMM peak (a square float32 matmul) for the roofline column.

  python3 bench/pytorch/bench.py [--quick] [--workloads zoo,fit,sample,eval] [--iters N] [--device cpu|cuda]
                                 [--threads T] [--nmflow-report nmflow.json] [--allow-reference-blas]

The fit follows the recipe and default net of nmflow's report (--nmflow-report; scripts/bench-compare.sh
passes the round's), else RECIPE below.
"""
import argparse, json, math, os, re, sys, time

import torch
import torch.nn.functional as F

WORKLOADS = ["zoo", "fit", "sample", "eval"]
# nmflow's fit configuration (its report's fit_config: flow.Config.Defaults with the bench's lr),
# used without --nmflow-report. The warm-up is that of the timed fit (2 + iters steps; Steps/20).
RECIPE = {"method": "cfm", "sigma": 0, "norm": "layer", "source": "kaiming", "coupling": "independent", "predict": "target",
          "time_skew": 5, "batch_size": 64, "lr": 1e-3, "warmup": None, "min_lr": 0.01, "weight_decay": 0.01, "clip": 1,
          "ema": 0.99, "net": {"width": 128, "depth": 1, "time_dim": 64}}
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


def blas():
    """(name, problem): the BLAS torch's CPU matmuls run on, and a message when it is the reference
    BLAS (or cannot be told). Debian's torch is built with BLAS_INFO=generic and loads whatever
    libblas.so.3 the alternatives system points at; pip wheels link MKL statically."""
    torch.mm(torch.ones(64, 64), torch.ones(64, 64))  # make sure the BLAS is loaded
    build = re.search(r"BLAS_INFO=([^,\s]+)", torch.__config__.show())
    libs = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 6 and re.search(r"blas|mkl|blis|atlas", os.path.basename(parts[5])):
                    libs.add(os.path.realpath(parts[5]))
    except OSError:
        pass
    return classify_blas(build.group(1) if build else "?", libs)


def classify_blas(build, libs):
    """blas() from the build's BLAS_INFO and the paths of the BLAS libraries mapped in. A generic
    build takes sgemm_ from the libblas.so.3 it links, so that library decides: an OpenBLAS mapped
    beside it (e.g. pulled in by liblapack.so.3) does not make the matmuls fast."""
    optimized = r"openblas|mkl|blis|atlas"
    if re.search(r"mkl|open", build.lower()):  # MKL or OpenBLAS linked into torch (pip wheels)
        return f"{build} (built in; BLAS_INFO={build})", None
    blas_libs = sorted(p for p in libs if os.path.basename(p).startswith("libblas"))
    ref = [p for p in blas_libs if not re.search(optimized, p)]
    if ref:
        return (f"reference BLAS {', '.join(ref)} (BLAS_INFO={build})",
                f"PyTorch's matmuls run on the reference BLAS ({', '.join(ref)}), 5-14x slower than OpenBLAS: "
                "every nmflow/PyTorch ratio would look that much better than it is. Install OpenBLAS "
                "(scripts/install-deps.sh --bench, or apt-get install libopenblas0-pthread), or pass "
                "--allow-reference-blas to measure anyway (the report is marked)")
    fast = blas_libs or sorted(p for p in libs if re.search(optimized, p))
    if fast:
        return f"{', '.join(fast)} (BLAS_INFO={build})", None
    return (f"unknown (BLAS_INFO={build}, no BLAS library mapped)",
            "cannot tell which BLAS PyTorch uses (no BLAS library mapped and BLAS_INFO is not mkl or openblas)")


def cpu_ticks():
    """(busy ticks of the machine, ticks of this process), from /proc (Linux); None elsewhere."""
    try:
        with open("/proc/stat") as f:
            cpu = f.readline().split()
        with open("/proc/self/stat") as f:
            own = f.read().rsplit(")", 1)[1].split()
        return sum(int(cpu[i]) for i in (1, 2, 3, 6, 7, 8)), int(own[11]) + int(own[12])
    except (OSError, IndexError, ValueError):
        return None


def other_cores(start, t0):
    """Cores other processes kept busy on average since cpu_ticks() gave start at time t0 (-1:
    unknown), as nmflow's report (bench.QuietLimit)."""
    end, wall = cpu_ticks(), time.perf_counter() - t0
    if start is None or end is None or wall <= 0:
        return -1
    return max(((end[0] - start[0]) - (end[1] - start[1])) / 100 / wall, 0)


def gemm_peak(n, dev, reps=5):
    """Best GFLOP/s of an n×n·n×n float32 matmul over reps calls (after one warm-up)."""
    a, b = torch.randn(n, n, device=dev), torch.randn(n, n, device=dev)
    torch.mm(a, b); sync(dev)
    best = math.inf
    for _ in range(reps):
        t = time.perf_counter(); torch.mm(a, b); sync(dev)
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best / 1e9


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
        init = [p.detach().clone() for p in (w1, b1, w2, b2)]
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
        # Checks: the mean per-run training loss of the last timed step, and the RMS of the weights'
        # change (the loss on random labels hardly moves; the weights do, by the step's update).
        res = result("zoo", f"R={r}", "model-steps/s", rate * r, warm, n, float(state["loss"]) / r, "loss")
        with torch.no_grad():
            ps = (w1, b1, w2, b2)
            res["moved"] = math.sqrt(sum(float(((p - q) ** 2).sum()) for p, q in zip(ps, init)) / sum(p.numel() for p in ps))
        out.append(res)
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


def cosine_lr(s, steps, warm_up, lr, min_frac):
    """flow.CosineLR: linear warm-up over warm_up steps, then a cosine down to min_frac·lr."""
    if s < warm_up:
        return lr * (s + 1) / warm_up
    frac = (s - warm_up) / max(1, steps - warm_up)
    lo = lr * min_frac
    return lo + (lr - lo) * 0.5 * (1 + math.cos(math.pi * frac))


def mlp_segments(h):
    """(size, init bound) of the 784-h-10 MLP's layout segments, in nmflow's order (w1, b1, w2, b2)."""
    return [(h * 784, 1 / math.sqrt(784)), (h, 1 / math.sqrt(784)), (10 * h, 1 / math.sqrt(h)), (10, 1 / math.sqrt(h))]


def fit_run(h, width, depth, steps, rc, a, dev):
    """One fit of `steps` steps with nmflow's CFM recipe rc (its report's fit_config):
    the bench zoo (32 PyTorch-law inits, targets = inits + N(0, 0.05²)), per-layer normalization
    fitted on inits and targets, fresh PyTorch-law source draws (independent coupling), times
    u^time_skew, endpoint prediction, AdamW with warm-up + cosine to min_lr, global gradient-norm
    clip and the weights' EMA (decay min(ema, s/(s+10))). Returns (seconds, losses)."""
    start = time.perf_counter()
    torch.manual_seed(a.seed)
    g = torch.Generator().manual_seed(a.seed)
    segs = mlp_segments(h)
    inits = torch.cat([uniform((32, n), b, g) for n, b in segs], 1)
    finals = inits + 0.05 * torch.randn(inits.shape, generator=g)
    rows = torch.cat([inits, finals], 0)
    mean, std, bound, off = [], [], [], 0
    for n, b in segs:
        seg = rows[:, off:off + n]
        m, s = seg.mean().item(), seg.std(unbiased=False).item() or 1.0
        mean.append(torch.full((n,), m)); std.append(torch.full((n,), s)); bound.append(torch.full((n,), b))
        off += n
    mean, std, bound = torch.cat(mean).to(dev), torch.cat(std).to(dev), torch.cat(bound).to(dev)
    x1s = ((finals.to(dev) - mean) / std)
    p = x1s.shape[1]
    net = VelocityNet(p, width, depth).to(dev)
    params = list(net.parameters())
    ema = [q.detach().clone() for q in params]
    lr, batch = rc["lr"], rc["batch_size"]
    # The report resolves the warm-up for its own fit (rc["steps"]); a fit of other length takes
    # flow's default rule, Steps/20, as nmflow's does.
    warm_up = rc["warmup"] if rc["warmup"] is not None and steps == rc.get("steps") else steps // 20
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=rc["weight_decay"], foreach=True)
    losses = []
    for s in range(steps):
        i = torch.randint(0, 32, (batch,), device=dev)
        x1 = x1s[i]
        x0 = ((torch.rand(batch, p, device=dev) * 2 - 1) * bound - mean) / std  # fresh inits, normalized
        t = torch.rand(batch, device=dev) ** rc["time_skew"]
        xt = (1 - t[:, None]) * x0 + t[:, None] * x1
        loss = ((xt + net(xt, t) - x1) ** 2).mean()            # PredictTarget: D = x_t + out ≈ x1
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if rc["clip"] > 0:
            torch.nn.utils.clip_grad_norm_(params, rc["clip"])
        for grp in opt.param_groups:
            grp["lr"] = cosine_lr(s, steps, warm_up, lr, rc["min_lr"])
        opt.step()
        with torch.no_grad():
            d = min(rc["ema"], s / (s + 10))
            torch._foreach_mul_(ema, d)
            torch._foreach_add_(ema, [q.detach() for q in params], alpha=1 - d)
        losses.append(loss.item())
    sync(dev)
    return time.perf_counter() - start, losses


def fit(a, dev):
    rc = dict(RECIPE)
    if a.nmflow_report:
        with open(a.nmflow_report) as f:
            rc.update(json.load(f).get("fit_config") or {})
    want = {"method": "cfm", "sigma": 0, "norm": "layer", "source": "kaiming", "coupling": "independent", "predict": "target"}
    for k, v in want.items():
        if rc.get(k, 0) != v:
            sys.exit(f"bench.py: nmflow's fit config has {k} = {rc.get(k)!r}; this reference implements {k} = {v!r} only "
                     "(update fit_run to match)")
    if rc["net"].get("time_dim", 64) != 64:
        sys.exit(f"bench.py: nmflow's fit config has time_dim {rc['net']['time_dim']}; this reference implements 64 only")
    dw, dd = rc["net"]["width"], rc["net"]["depth"]
    # The last field: timed steps, as nmflow's bench (about a second or more on either side).
    cases = [(1, 16, 1, False, 2), (1, dw, dd, True, 2)] if a.quick else \
        [(1, 256, 1, False, 100), (12, 256, 1, False, 40), (128, 256, 1, False, 10), (32, dw, dd, True, 40)]
    out = []
    for h, width, depth, named, steps in cases:
        n = a.iters or steps
        # As nmflow's bench: a fit of 2 steps (setup, first steps) and one of 2+n from scratch; the
        # difference is n steady-state steps. Check: the mean loss of those n steps.
        warm, _ = fit_run(h, width, depth, 2, rc, a, dev)
        total, losses = fit_run(h, width, depth, 2 + n, rc, a, dev)
        p = sum(sz for sz, _ in mlp_segments(h))
        case = f"P={p}" + (f" {width}x{depth}" if named else "")
        # When the n steps are lost in the timing noise (tiny --quick sizes), the whole second fit,
        # setup included, bounds the rate from below (as nmflow's fitRate).
        rate = n / (total - warm) if total > warm else (2 + n) / total
        out.append(result("fit", case, "steps/s", rate, warm, n, sum(losses[2:]) / n, "loss"))
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
            state["rms"] = float((x - x0).pow(2).mean().sqrt())  # check: RMS of the displacement
        k = a.iters or (2 if a.quick else 3)
        warm, rate = time_it(k, integrate, dev)
        out.append(result("sample", method, "nets/s", rate * n, warm, k, state["rms"], "displacement"))
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
        state["loss"] = F.cross_entropy(logits.transpose(1, 2), Y[None].expand(nets, -1), reduction="none").mean(1)
        state["acc"] = (logits.argmax(-1) == Y[None]).float().mean(1)
    k = a.iters or (2 if a.quick else 10)
    warm, rate = time_it(k, run, dev)
    # Check: the mean over nets of the per-net test loss.
    return [result("eval", f"N={nets}", "nets/s", rate * nets, warm, k, float(state["loss"].mean()), "loss")]


def result(w, case, unit, thr, warm, iters, check, check_name):
    return {"workload": w, "case": case, "unit": unit, "throughput": thr, "warmup_s": warm, "iters": iters,
            "compiles": 0, "check": check, "check_name": check_name}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny sizes (seconds): a smoke test")
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument("--iters", type=int, default=0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: PyTorch's default)")
    ap.add_argument("--nmflow-report", default="",
                    help="nmflow's JSON report of the same round: the fit follows its fit_config "
                         "(scripts/bench-compare.sh passes it)")
    ap.add_argument("--allow-reference-blas", action="store_true",
                    help="measure even on the reference BLAS (the report is marked; the ratios are not fair)")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        sys.exit("bench.py: --device cuda but torch.cuda.is_available() is False")
    fns = {"zoo": zoo, "fit": fit, "sample": sample, "eval": evaluate}
    ws = a.workloads.split(",")
    for w in ws:
        if w not in fns:
            sys.exit(f"bench.py: unknown workload {w!r} (want {', '.join(WORKLOADS)})")
    warnings = []
    name, problem = blas() if dev.type == "cpu" else (f"cuda {torch.version.cuda}", None)
    if problem:
        if not a.allow_reference_blas:
            sys.exit("bench.py: " + problem)
        warnings.append(problem)
        print("\n*** WARNING: " + problem + " ***\n", file=sys.stderr)
    peak = gemm_peak(256 if a.quick else 1024, dev)
    print(f"bench: BLAS {name}; {torch.get_num_threads()} threads; GEMM peak {peak:.1f} GFLOP/s", file=sys.stderr)
    results = []
    load, t0 = cpu_ticks(), time.perf_counter()
    for w in ws:
        for r in fns[w](a, dev):
            print(f"bench {r['workload']} {r['case']}: {r['throughput']:.4g} {r['unit']} (warm-up {r['warmup_s']:.2f}s, "
                  f"{r['check_name']} {r['check']:.5g})", file=sys.stderr)
            results.append(r)
    json.dump({"impl": "pytorch", "backend": f"torch {torch.__version__} {dev.type}", "quick": a.quick,
               "threads": torch.get_num_threads(), "blas": name, "peak_gflops": peak,
               "other_cores": other_cores(load, t0), "warnings": warnings,
               "results": results}, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
