package traj

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"reflect"
	"testing"
)

// pythonReader reads a trajectory file with nothing but json, struct and numpy, as
// docs/trajectory-format.md shows, and prints what it found as JSON.
const pythonReader = `
import json, struct, sys, hashlib
import numpy as np

path = sys.argv[1]
with open(path, "rb") as f:
    raw = f.read()
(n,) = struct.unpack("<Q", raw[:8])
header = json.loads(raw[8:8 + n])
meta = header.pop("__metadata__")
nm = json.loads(meta["nmflow"])
buf = memoryview(raw)[8 + n:]
dtypes = {"F32": "<f4", "F64": "<f8", "I64": "<i8", "I32": "<i4", "U8": "u1"}

def tensor(name):
    info = header[name]
    b, e = info["data_offsets"]
    return np.frombuffer(buf[b:e], dtype=dtypes[info["dtype"]]).reshape(info["shape"])

w = tensor("weights")
out = {
    "header_len": n,
    "kind": meta["kind"],
    "format_version": meta["format_version"],
    "arch": meta["arch"],
    "layout_p": sum(int(np.prod(s["shape"])) for s in nm["layout"]["segments"]),
    "seed": nm["seed"],
    "shape": list(w.shape),
    "sum": float(w.astype(np.float64).sum()),
    "sha256": hashlib.sha256(w.tobytes()).hexdigest(),
    "first": [float(x) for x in w.reshape(-1)[:4]],
}
if meta["kind"] == "zoo":
    out["steps"] = tensor("steps").tolist()
    out["test_acc_sum"] = float(tensor("test_acc").astype(np.float64).sum())
print(json.dumps(out))
`

type pythonView struct {
	HeaderLen     int       `json:"header_len"`
	Kind          string    `json:"kind"`
	FormatVersion string    `json:"format_version"`
	Arch          string    `json:"arch"`
	LayoutP       int       `json:"layout_p"`
	Seed          uint64    `json:"seed"`
	Shape         []int     `json:"shape"`
	Sum           float64   `json:"sum"`
	SHA256        string    `json:"sha256"`
	First         []float64 `json:"first"`
	Steps         []int64   `json:"steps"`
	TestAccSum    float64   `json:"test_acc_sum"`
}

// readWithPython fails (not skips) without python3+numpy so CI cannot silently lose the
// interoperability check; NMFLOW_NO_PYTHON=1 opts out explicitly.
func readWithPython(t *testing.T, path string) pythonView {
	t.Helper()
	if os.Getenv("NMFLOW_NO_PYTHON") == "1" {
		t.Skip("NMFLOW_NO_PYTHON=1")
	}
	const python = "/usr/bin/python3"
	if _, err := os.Stat(python); err != nil {
		t.Fatalf("%s not found (%v): install python3 and python3-numpy, or set NMFLOW_NO_PYTHON=1 to skip", python, err)
	}
	if out, err := exec.Command(python, "-c", "import numpy").CombinedOutput(); err != nil {
		t.Fatalf("numpy not importable by %s: %v\n%s\ninstall python3-numpy, or set NMFLOW_NO_PYTHON=1 to skip", python, err, out)
	}
	cmd := exec.Command(python, "-c", pythonReader, path)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python reader failed: %v", err)
	}
	var v pythonView
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("python output %q: %v", out, err)
	}
	return v
}

func goView(weights []float32) (sum float64, digest string) {
	b := make([]byte, 4*len(weights))
	for i, x := range weights {
		sum += float64(x)
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	h := sha256.Sum256(b)
	return sum, hex.EncodeToString(h[:])
}

func closeTo(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func TestPythonReadsZoo(t *testing.T) {
	path := tempPath(t, "zoo.safetensors")
	z := testZoo(3, 4)
	z.Weights[2] = 1.5 // MaxFloat32 would dominate the sum and hide errors elsewhere
	if err := WriteZoo(path, z); err != nil {
		t.Fatal(err)
	}
	v := readWithPython(t, path)
	sum, digest := goView(z.Weights)
	var accSum float64
	for _, x := range z.Metrics[MetricTestAcc] {
		accSum += float64(x)
	}
	if v.HeaderLen%8 != 0 || v.Kind != "zoo" || v.FormatVersion != "1" || v.Arch != "mlp 4-3-2" || v.LayoutP != 23 || v.Seed != z.Meta.Seed {
		t.Errorf("python saw metadata %+v", v)
	}
	if !reflect.DeepEqual(v.Shape, []int{3, 4, 23}) || !reflect.DeepEqual(v.Steps, z.Steps) {
		t.Errorf("python saw shape %v steps %v, want [3 4 23] %v", v.Shape, v.Steps, z.Steps)
	}
	if v.SHA256 != digest || !closeTo(v.Sum, sum) || !closeTo(v.TestAccSum, accSum) {
		t.Errorf("python saw sum %v sha %s acc %v; Go has %v %s %v", v.Sum, v.SHA256, v.TestAccSum, sum, digest, accSum)
	}
	for i, x := range v.First {
		if x != float64(z.Weights[i]) || math.Signbit(x) != math.Signbit(float64(z.Weights[i])) {
			t.Errorf("python weight %d = %v, Go %v", i, x, z.Weights[i])
		}
	}
}

func TestPythonReadsGenerated(t *testing.T) {
	path := tempPath(t, "gen.safetensors")
	g := testGenerated(7)
	g.Weights[2] = -2.25
	if err := WriteGenerated(path, g); err != nil {
		t.Fatal(err)
	}
	v := readWithPython(t, path)
	sum, digest := goView(g.Weights)
	if v.Kind != "generated" || !reflect.DeepEqual(v.Shape, []int{7, 23}) || v.SHA256 != digest || !closeTo(v.Sum, sum) {
		t.Errorf("python saw %+v; Go has shape [7 23] sum %v sha %s", v, sum, digest)
	}
}
