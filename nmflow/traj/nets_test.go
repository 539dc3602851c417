package traj

import (
	"slices"
	"testing"
)

// ReadNets returns a generated file's nets as they are and a zoo's at its last checkpoint.
func TestReadNets(t *testing.T) {
	z := testZoo(3, 4)
	zp, gp := tempPath(t, "zoo.safetensors"), tempPath(t, "gen.safetensors")
	if err := WriteZoo(zp, z); err != nil {
		t.Fatal(err)
	}
	g := testGenerated(5)
	if err := WriteGenerated(gp, g); err != nil {
		t.Fatal(err)
	}
	fromZoo, err := ReadNets(zp)
	if err != nil {
		t.Fatal(err)
	}
	if fromZoo.N != 3 || fromZoo.P != z.Params || fromZoo.Meta.Kind != KindZoo {
		t.Errorf("zoo nets: N=%d P=%d kind %q, want 3, %d, %q", fromZoo.N, fromZoo.P, fromZoo.Meta.Kind, z.Params, KindZoo)
	}
	for r := range 3 {
		if !slices.Equal(fromZoo.Row(r), z.At(r, 3)) {
			t.Errorf("zoo net %d is not run %d's last checkpoint", r, r)
		}
	}
	fromGen, err := ReadNets(gp)
	if err != nil {
		t.Fatal(err)
	}
	if fromGen.N != 5 || !slices.Equal(fromGen.Weights, g.Weights) {
		t.Errorf("generated nets: N=%d, weights equal %v; want 5, true", fromGen.N, slices.Equal(fromGen.Weights, g.Weights))
	}
	if _, err := ReadNets(tempPath(t, "missing.safetensors")); err == nil {
		t.Error("missing file: no error")
	}
}
