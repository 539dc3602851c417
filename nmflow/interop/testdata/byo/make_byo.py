#!/usr/bin/python3
"""Makes the bring-your-own-checkpoint fixtures of nmflow/interop's tests (committed beside it):
one net saved under each key naming and wrapper PyTorch users meet, a whole pickled module
(refused), a zoo from the ordinary loop and the flat weights and logits the Go tests compare with.

Run from anywhere with Debian's python3-torch (1.13) and python3-numpy:

    /usr/bin/python3 nmflow/interop/testdata/byo/make_byo.py
"""
import os
import sys

import numpy as np
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ beside the fixtures
sys.path.insert(0, HERE)
import modules  # noqa: E402

torch.manual_seed(0)


def out(*parts):
    p = os.path.join(HERE, *parts)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    return p


def flat(params):
    """nmflow's flat vector: per layer in forward order, weight (row-major) then bias."""
    return torch.cat([p.detach().reshape(-1) for p in params]).numpy()


ref = modules.sequential()
x = torch.randn(4, 12)
np.save(out("x_mlp.npy"), x.numpy())
np.save(out("mlp_flat.npy"), flat(ref.parameters()))
with torch.no_grad():
    np.save(out("mlp_logits.npy"), ref(x).numpy())

# The same weights under every naming and wrapper.
for name, (make, wrapper) in modules.MLP_FIXTURES.items():
    net = make()
    net.load_state_dict(dict(zip(net.state_dict().keys(), ref.state_dict().values())))
    sd = net.state_dict()
    if name == "training_loop":
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        net(x).sum().backward()
        opt.step()  # optimizer state (exp_avg, exp_avg_sq) of the same shapes as the weights
        net.load_state_dict(dict(zip(net.state_dict().keys(), ref.state_dict().values())))
        obj = {"epoch": 3, "model_state_dict": net.state_dict(), "optimizer_state_dict": opt.state_dict(), "loss": 0.25}
    elif name == "lightning":
        opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
        net(x).sum().backward()
        opt.step()
        net.load_state_dict(dict(zip(net.state_dict().keys(), ref.state_dict().values())))
        obj = {"epoch": 2, "global_step": 30, "pytorch-lightning_version": "2.1.0", "state_dict": net.state_dict(),
               "loops": {"fit_loop": {"state_dict": {}, "epoch_progress": {"current": {"completed": 2}}}},
               "callbacks": {}, "optimizer_states": [opt.state_dict()], "lr_schedulers": [],
               "hparams_name": "kwargs", "hyper_parameters": {"lr": 0.1}}
    else:
        obj = sd
    torch.save(obj, out(f"{name}.pt"))

# A whole pickled module: refused, never unpickled.
torch.save(ref, out("whole_module.pt"))

# The cnn [1,6,6] under custom names.
cnn = modules.ConvNet()
xc = torch.randn(4, 1, 6, 6)
np.save(out("x_cnn.npy"), xc.numpy())
torch.save(cnn.state_dict(), out("convnet.pt"))
np.save(out("cnn_flat.npy"), flat(cnn.parameters()))
with torch.no_grad():
    np.save(out("cnn_logits.npy"), cnn(xc).numpy())

# The ordinary loop: torch.save(net.state_dict(), f"run{r}/epoch{k}.pt"), epoch 0 the init.
g = torch.Generator().manual_seed(1)
xs = torch.randn(48, 12, generator=g)
ys = (xs[:, :3].argmax(1))
zoo = []
for r in range(2):
    torch.manual_seed(10 + r)
    net = modules.sequential()
    opt = torch.optim.SGD(net.parameters(), lr=0.2)
    run = []
    for epoch in range(3):
        if epoch > 0:
            for i in range(0, 48, 16):
                opt.zero_grad()
                nn.functional.cross_entropy(net(xs[i:i + 16]), ys[i:i + 16]).backward()
                opt.step()
        torch.save(net.state_dict(), out("zoo", f"run{r}", f"epoch{epoch}.pt"))
        run.append(flat(net.parameters()))
    zoo.append(run)
np.save(out("zoo_flat.npy"), np.array(zoo, dtype=np.float32))
print("fixtures written under", HERE)
