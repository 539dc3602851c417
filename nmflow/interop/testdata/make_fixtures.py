#!/usr/bin/python3
"""Makes the PyTorch/NumPy fixtures of nmflow/interop's tests (committed beside this script).

Run from this folder with Debian's python3-torch (1.13) and python3-numpy:

    /usr/bin/python3 make_fixtures.py

Everything is seeded, but PyTorch builds may differ in the last bits of trained weights: the Go
tests compare against the logits saved here, not against a rerun.
"""
import os
from collections import OrderedDict

import numpy as np
import torch
from torch import nn

torch.manual_seed(0)
np.random.seed(0)
HERE = os.path.dirname(os.path.abspath(__file__))


def out(*parts):
    p = os.path.join(HERE, *parts)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    return p


def mlp_named():
    """nmflow's mlp [1,4,4] → 8 → 6 → 3 with the Layout's key names."""
    return nn.Sequential(OrderedDict([
        ("flatten", nn.Flatten()), ("fc1", nn.Linear(16, 8)), ("relu1", nn.ReLU()),
        ("fc2", nn.Linear(8, 6)), ("relu2", nn.ReLU()), ("fc3", nn.Linear(6, 3))]))


def mlp_plain():
    """The same as a plain nn.Sequential: keys 1.weight, 3.weight, 5.weight."""
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 3))


def cnn_plain():
    """nmflow's cnn [1,6,6], channels [3], dense [5], 3 classes, as a plain nn.Sequential."""
    return nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(),
                         nn.Linear(27, 5), nn.ReLU(), nn.Linear(5, 3))


x_mlp = torch.randn(5, 1, 4, 4)
x_cnn = torch.randn(5, 1, 6, 6)
np.save(out("torch", "x_mlp.npy"), x_mlp.numpy())
np.save(out("torch", "x_cnn.npy"), x_cnn.numpy())

net = mlp_named()
torch.save(net.state_dict(), out("torch", "mlp.pt"))
with torch.no_grad():
    np.save(out("torch", "mlp_logits.npy"), net(x_mlp).numpy())

# A training checkpoint: nested dict, sequential keys, optimizer state, numpy and python scalars.
plain = mlp_plain()
plain.load_state_dict(OrderedDict((k, v) for k, v in zip(plain.state_dict().keys(), net.state_dict().values())))
opt = torch.optim.SGD(plain.parameters(), lr=0.1, momentum=0.9)
plain(x_mlp).sum().backward()
grads = [p.grad.clone() for p in plain.parameters()]
opt.step()
torch.save({"state_dict": plain.state_dict(), "optimizer": opt.state_dict(), "epoch": 5,
            "test_acc": np.float64(0.75), "train_loss": 0.5}, out("torch", "mlp_checkpoint.pt"))
with torch.no_grad():
    np.save(out("torch", "mlp_checkpoint_logits.npy"), plain(x_mlp).numpy())

# Other dtypes of the first net's weights.
for name, dt in [("f64", torch.float64), ("f16", torch.float16), ("bf16", torch.bfloat16)]:
    torch.save(OrderedDict((k, v.to(dt)) for k, v in net.state_dict().items()), out("torch", f"mlp_{name}.pt"))

# Non-contiguous views: a transposed weight and slices of one shared storage.
sd = OrderedDict(net.state_dict())
big = torch.cat([sd["fc1.bias"], sd["fc2.bias"], sd["fc3.bias"]])
sd["fc1.weight"] = sd["fc1.weight"].t().contiguous().t()  # stride (1, 8)
sd["fc1.bias"], sd["fc2.bias"], sd["fc3.bias"] = big[0:8], big[8:14], big[14:17]
torch.save(sd, out("torch", "mlp_views.pt"))

cnn = cnn_plain()
torch.save(cnn.state_dict(), out("torch", "cnn.pt"))
with torch.no_grad():
    np.save(out("torch", "cnn_logits.npy"), cnn(x_cnn).numpy())

# Legacy (pre-1.6) serialization: nmflow refuses it with advice.
torch.save(net.state_dict(), out("torch", "legacy.pt"), _use_new_zipfile_serialization=False)

# NumPy: the mlp as .npz (plain and compressed), a Fortran-order and a big-endian array.
arrays = {k: v.numpy() for k, v in net.state_dict().items()}
np.savez(out("numpy", "mlp.npz"), **arrays)
np.savez_compressed(out("numpy", "mlp_compressed.npz"), **arrays)
w = arrays["fc1.weight"]
np.save(out("numpy", "fortran.npy"), np.asfortranarray(w))
np.save(out("numpy", "bigendian.npy"), w.astype(">f4"))
np.save(out("numpy", "plain.npy"), w)

# A PyTorch zoo: 3 runs of the mlp on a toy task, epoch 0 (the init) to 3, with metrics.
g = torch.Generator().manual_seed(1)
ys = torch.randint(0, 3, (96,), generator=g)  # the class is the bright band: rows 0, 1-2 or 3
xs = torch.rand(96, 1, 4, 4, generator=g)
for i, y in enumerate(ys.tolist()):
    xs[i, 0, [[0], [1, 2], [3]][y]] += 1.0
for r in range(3):
    torch.manual_seed(100 + r)
    m = mlp_named()
    opt = torch.optim.SGD(m.parameters(), lr=0.3)
    for epoch in range(4):
        if epoch > 0:
            for i in range(0, 96, 16):
                opt.zero_grad()
                nn.functional.cross_entropy(m(xs[i:i + 16]), ys[i:i + 16]).backward()
                opt.step()
        with torch.no_grad():
            logits = m(xs)
            loss = nn.functional.cross_entropy(logits, ys).item()
            acc = (logits.argmax(1) == ys).float().mean().item()
        torch.save({"model": m.state_dict(), "epoch": epoch, "train_loss": loss, "test_acc": acc},
                   out("torchzoo", f"run{r}", f"epoch{epoch}.pt"))
print("fixtures written under", HERE)
