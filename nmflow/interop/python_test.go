//go:build torch

// The PyTorch round trip needs python3-torch (Debian, ~220 packages), which CI does not install:
// it runs with `make test-torch` (go test -tags torch). The committed fixtures made by PyTorch
// (testdata/make_fixtures.py) cover the Go side in every test run.

package interop

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nmflow/nmflow/nmflow/arch"
)

// checkHelpers counts the checks of a python script, which prints them as JSON at the end.
const checkHelpers = `
fails, checks = [], 0

def check(name, ok):
    global checks
    checks += 1
    if not ok:
        fails.append(name)
`

// pythonCheck loads what nmflow wrote into the matching nn.Sequential (strict load_state_dict)
// and compares tensors and logits with the PyTorch originals, bit for bit.
const pythonCheck = `
import json, struct, sys
from collections import OrderedDict
import numpy as np, torch
from torch import nn

d = sys.argv[1]
fx = sys.argv[2]
` + checkHelpers + `
def mlp_named():
    return nn.Sequential(OrderedDict([("flatten", nn.Flatten()), ("fc1", nn.Linear(16, 8)), ("relu1", nn.ReLU()),
        ("fc2", nn.Linear(8, 6)), ("relu2", nn.ReLU()), ("fc3", nn.Linear(6, 3))]))
def mlp_plain():
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 3))
def cnn_plain():
    return nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(),
        nn.Linear(27, 5), nn.ReLU(), nn.Linear(5, 3))

def compare(name, net, sd, ref_sd, x):
    net.load_state_dict(sd, strict=True)
    for k, v in ref_sd.items():
        check(f"{name}: tensor {k}", torch.equal(net.state_dict()[k], v))
    with torch.no_grad():
        return net(x)

x_mlp = torch.from_numpy(np.load(f"{fx}/torch/x_mlp.npy"))
x_cnn = torch.from_numpy(np.load(f"{fx}/torch/x_cnn.npy"))
orig = torch.load(f"{fx}/torch/mlp_checkpoint.pt")["state_dict"]   # PyTorch's own file
ref_net = mlp_plain(); ref_net.load_state_dict(orig)
with torch.no_grad():
    ref_logits = ref_net(x_mlp)

# nmflow wrote .pt files with sequential and with layout names.
got = torch.load(f"{d}/seq.pt")
check("seq.pt is an OrderedDict", isinstance(got, OrderedDict))
out = compare("seq.pt", mlp_plain(), got, orig, x_mlp)
check("seq.pt logits", torch.equal(out, ref_logits))
named = mlp_named()
out = compare("layout.pt", named, torch.load(f"{d}/layout.pt"), OrderedDict(zip(named.state_dict().keys(), orig.values())), x_mlp)
check("layout.pt logits", torch.equal(out, ref_logits))

# Stacked export of two nets: row i loads into the net.
stack = torch.load(f"{d}/stack.pt")
for i in range(2):
    out = compare(f"stack.pt[{i}]", mlp_plain(), OrderedDict((k, v[i]) for k, v in stack.items()), orig, x_mlp)
    check(f"stack.pt[{i}] logits", torch.equal(out, ref_logits))

# npz and safetensors (read with numpy only).
z = np.load(f"{d}/seq.npz")
out = compare("seq.npz", mlp_plain(), OrderedDict((k, torch.from_numpy(z[k])) for k in z.files), orig, x_mlp)
check("seq.npz logits", torch.equal(out, ref_logits))
raw = open(f"{d}/seq.safetensors", "rb").read()
(n,) = struct.unpack("<Q", raw[:8]); hdr = json.loads(raw[8:8+n]); hdr.pop("__metadata__", None)
st = OrderedDict((k, torch.from_numpy(np.frombuffer(raw[8+n+v["data_offsets"][0]:8+n+v["data_offsets"][1]], "<f4").reshape(v["shape"]).copy())) for k, v in hdr.items())
out = compare("seq.safetensors", mlp_plain(), st, orig, x_mlp)
check("seq.safetensors logits", torch.equal(out, ref_logits))

# The CNN.
corig = torch.load(f"{fx}/torch/cnn.pt")
cref = cnn_plain(); cref.load_state_dict(corig)
out = compare("cnn.pt", cnn_plain(), torch.load(f"{d}/cnn.pt"), corig, x_cnn)
with torch.no_grad():
    check("cnn.pt logits", torch.equal(out, cref(x_cnn)))
print(json.dumps({"checks": checks, "fails": fails}))
`

// TestPyTorchRoundTrip: PyTorch → nmflow → PyTorch gives identical tensors and identical logits.
func TestPyTorchRoundTrip(t *testing.T) {
	needTorch(t)
	dir := t.TempDir()
	mlp := arch.MustNew(mlpSpec).Layout()
	flat, _ := mustMap(t, fixture("torch", "mlp_checkpoint.pt"), mlpSpec)
	write := func(name, format string, l arch.Layout, spec arch.Spec, flat []float32, lead []int, naming string) {
		t.Helper()
		rename, err := Rename(spec, naming)
		if err != nil {
			t.Fatal(err)
		}
		sd, err := FromFlat(l, flat, lead, rename)
		if err != nil {
			t.Fatal(err)
		}
		if err := Write(filepath.Join(dir, name), format, sd, map[string]string{"arch": spec.String()}); err != nil {
			t.Fatal(err)
		}
	}
	write("seq.pt", ExportPT, mlp, mlpSpec, flat, nil, NamesSequential)
	write("layout.pt", ExportPT, mlp, mlpSpec, flat, nil, NamesLayout)
	write("stack.pt", ExportPT, mlp, mlpSpec, append(append([]float32{}, flat...), flat...), []int{2}, NamesSequential)
	write("seq.npz", ExportNpz, mlp, mlpSpec, flat, nil, NamesSequential)
	write("seq.safetensors", ExportSafetensors, mlp, mlpSpec, flat, nil, NamesSequential)
	cflat, _ := mustMap(t, fixture("torch", "cnn.pt"), cnnSpec)
	write("cnn.pt", ExportPT, arch.MustNew(cnnSpec).Layout(), cnnSpec, cflat, nil, NamesSequential)

	fx, _ := filepath.Abs("testdata")
	runCheck(t, pythonCheck, dir, fx)
}

// runCheck runs a check script (argv: nmflow's output folder, the fixtures) and fails unless it
// made some checks and none failed.
func runCheck(t *testing.T, script, dir, fx string) {
	t.Helper()
	cmd := exec.Command(python, "-c", script, dir, fx)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python check failed: %v\n%s", err, out)
	}
	if s := string(out); !strings.Contains(s, `"fails": []`) || strings.Contains(s, `"checks": 0`) {
		t.Fatalf("PyTorch disagrees with nmflow's files: %s", s)
	}
	t.Logf("python: %s", strings.TrimSpace(string(out)))
}

// python is Debian's interpreter, the one python3-torch installs into.
const python = "/usr/bin/python3"

// needTorch fails the test, saying what to install, when PyTorch is missing.
func needTorch(t *testing.T) {
	t.Helper()
	if out, err := exec.Command(python, "-c", "import torch, numpy").CombinedOutput(); err != nil {
		t.Fatalf("python3 with torch and numpy is not available (%s): install python3-torch and python3-numpy (Debian)", strings.TrimSpace(lastLine(string(out))))
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// sourceKeysCheck loads what nmflow exported under the recorded source keys into the very module
// classes that saved the fixtures (testdata/byo/modules.py), strictly, and compares tensors and
// logits with PyTorch's originals, bit for bit.
const sourceKeysCheck = `
import json, os, sys
sys.dont_write_bytecode = True
import numpy as np, torch
d, fx = sys.argv[1], sys.argv[2]
sys.path.insert(0, fx)
import modules
` + checkHelpers + `
def same(name, make, exported, orig, x):
    net, ref = make(), make()
    try:
        net.load_state_dict(exported, strict=True)
    except RuntimeError as e:
        check(f"{name}: load_state_dict: {e}", False)
        return
    ref.load_state_dict(orig, strict=True)
    for k, v in orig.items():
        check(f"{name}: tensor {k}", torch.equal(net.state_dict()[k], v))
    with torch.no_grad():
        check(f"{name}: logits", torch.equal(net(x), ref(x)))

x = torch.from_numpy(np.load(f"{fx}/x_mlp.npy"))
for name, (make, wrapper) in modules.MLP_FIXTURES.items():
    orig = torch.load(f"{fx}/{name}.pt")
    if wrapper:
        orig = orig[wrapper]
    same(name, make, torch.load(f"{d}/{name}.pt"), orig, x)
same("convnet", modules.ConvNet, torch.load(f"{d}/convnet.pt"), torch.load(f"{fx}/convnet.pt"), torch.from_numpy(np.load(f"{fx}/x_cnn.npy")))
stack = torch.load(f"{d}/zoo.pt")
for r in range(2):
    for k in range(3):
        same(f"zoo run{r} epoch{k}", modules.sequential, {n: v[r, k] for n, v in stack.items()}, torch.load(f"{fx}/zoo/run{r}/epoch{k}.pt"), x)
print(json.dumps({"checks": checks, "fails": fails}))
`

// TestPyTorchRoundTripSourceKeys: each bring-your-own fixture, imported and exported under its
// source keys, loads with load_state_dict(strict=True) into the module class that saved it, with
// identical tensors and logits.
func TestPyTorchRoundTripSourceKeys(t *testing.T) {
	needTorch(t)
	dir := t.TempDir()
	imp := func(name, from string, spec arch.Spec) {
		t.Helper()
		z, _, err := Import(from, AssembleOptions{Spec: spec})
		if err != nil {
			t.Fatal(err)
		}
		exportSource(t, z, filepath.Join(dir, name+".pt"))
	}
	for _, c := range byoCases {
		imp(strings.TrimSuffix(c.file, ".pt"), fixture("byo", c.file), byoMLP)
	}
	imp("convnet", fixture("byo", "convnet.pt"), byoCNN)
	imp("zoo", fixture("byo", "zoo"), byoMLP)
	fx, _ := filepath.Abs(fixture("byo"))
	runCheck(t, sourceKeysCheck, dir, fx)
}
