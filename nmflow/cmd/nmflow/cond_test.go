package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nmflow/nmflow/nmflow/traj"
)

// tasks → fit --condition support → sample --task (a held-out one) on tiny zoos.
func TestConditionalPipeline(t *testing.T) {
	dir := t.TempDir()
	tasks := filepath.Join(dir, "tasks")
	code, stdout, errs := runCLI(t, "tasks", "--tasks", "mnist,mnist+perm:1", "--runs", "2", "--hidden", "4", "--epochs", "1", "--checkpoints", "2",
		"--batch", "32", "--train-size", "256", "--test-size", "100", "--lr", "0.1", "--out", tasks)
	if code != 0 || !strings.Contains(stdout, "mnist+perm:1") {
		t.Fatalf("tasks exit %d, stdout %q: %s", code, stdout, errs)
	}
	model := filepath.Join(dir, "model")
	fit := []string{"fit", "--zoo", tasks, "--condition", "support", "--support-k", "2", "--support-pool", "8", "--cond-dim", "4",
		"--cond-hidden", "8", "--cond-drop", "0.3", "--source", "gaussian", "--steps-per-run", "2", "--batch", "8", "--width", "16", "--depth", "1",
		"--time-dim", "4", "--seed", "1", "--out", model, "--json"}
	code, stdout, errs = runCLI(t, fit...)
	if code != 0 {
		t.Fatalf("fit exit %d: %s", code, errs)
	}
	var fs struct {
		Steps     int
		Coupling  string
		Align     string
		Condition struct {
			Tasks       []string
			K           int
			Drop        float64
			StepsPerRun int `json:"steps_per_run"`
		}
	}
	if err := json.Unmarshal([]byte(stdout), &fs); err != nil {
		t.Fatalf("fit stdout is not JSON: %v\n%s", err, stdout)
	}
	// 2 steps per run × (2 tasks × 2 runs); the generalizing coupling by default (issue 19: the
	// command line once fell back to the trajectory coupling for conditional fits).
	if fs.Steps != 8 || fs.Condition.StepsPerRun != 2 || strings.Join(fs.Condition.Tasks, ",") != "mnist,mnist+perm:1" || fs.Condition.K != 2 || fs.Condition.Drop != 0.3 {
		t.Errorf("fit summary: %s", stdout)
	}
	if fs.Coupling != "independent" || fs.Align != "none" {
		t.Errorf("conditional fit with the default coupling and alignment used %q and %q, want independent and none", fs.Coupling, fs.Align)
	}
	gen := filepath.Join(dir, "gen.safetensors")
	sample := []string{"sample", "--model", model, "--n", "3", "--solver", "euler", "--steps", "4", "--seed", "2", "--task", "mnist+rotate:30",
		"--guidance", "2", "--support-seed", "4", "--task-test", "50", "--out", gen, "--json"}
	code, stdout, errs = runCLI(t, sample...)
	if code != 0 {
		t.Fatalf("sample exit %d: %s", code, errs)
	}
	var ss struct {
		Task, Out    string
		HeldOut      bool `json:"held_out"`
		Guidance     float64
		TaskAccuracy struct {
			N    int
			Mean float64
		} `json:"task_accuracy"`
	}
	if err := json.Unmarshal([]byte(stdout), &ss); err != nil {
		t.Fatalf("sample stdout is not JSON: %v\n%s", err, stdout)
	}
	if ss.Task != "mnist+rotate:30" || !ss.HeldOut || ss.Guidance != 2 || ss.TaskAccuracy.N != 3 || ss.TaskAccuracy.Mean < 0 || ss.TaskAccuracy.Mean > 1 {
		t.Errorf("sample summary: %s", stdout)
	}
	g, err := traj.ReadGenerated(gen)
	if err != nil {
		t.Fatal(err)
	}
	if g.N != 3 || g.Meta.Extra["task"] != "mnist+rotate:30" || g.Meta.Extra["held_out"] != "true" {
		t.Errorf("generated file: N=%d extra %v", g.N, g.Meta.Extra)
	}
	// Same seeds, same nets.
	gen2 := filepath.Join(dir, "gen2.safetensors")
	sample[len(sample)-2] = gen2
	if code, _, errs = runCLI(t, sample...); code != 0 {
		t.Fatalf("second sample exit %d: %s", code, errs)
	}
	g2, err := traj.ReadGenerated(gen2)
	if err != nil {
		t.Fatal(err)
	}
	for i := range g.Weights {
		if g.Weights[i] != g2.Weights[i] {
			t.Fatalf("the same sample command gave different weights at %d", i)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--task", "mnist+flip:1"}, "bad transform"},
		{[]string{"--task", "mnist", "--support-pool", "1"}, "k ≤ 1"},
		{[]string{"--guidance", "2"}, "add --task"},
	} {
		args := append([]string{"sample", "--model", model, "--n", "2", "--out", filepath.Join(dir, "x.safetensors")}, c.args...)
		if code, _, errs := runCLI(t, args...); code == 0 || !strings.Contains(errs, c.want) {
			t.Errorf("sample %v: exit %d, stderr %q, want an error containing %q", c.args, code, errs, c.want)
		}
	}
	if code, _, errs := runCLI(t, "fit", "--zoo", tasks, "--support-k", "3", "--out", filepath.Join(dir, "m2")); code == 0 || !strings.Contains(errs, "--condition support") {
		t.Errorf("fit --support-k without --condition: exit %d, stderr %q", code, errs)
	}
	if code, _, errs := runCLI(t, "fit", "--zoo", tasks, "--condition", "support", "--steps", "6", "--steps-per-run", "2", "--out", filepath.Join(dir, "m3")); code == 0 || !strings.Contains(errs, "give one of them") {
		t.Errorf("fit --steps with --steps-per-run: exit %d, stderr %q", code, errs)
	}
	if code, _, errs := runCLI(t, "tasks", "--tasks", " , ", "--out", filepath.Join(dir, "t2")); code == 0 || !strings.Contains(errs, "mnist,fashion-mnist") {
		t.Errorf("tasks with an empty list: exit %d, stderr %q, want the default set named", code, errs)
	}
}
