package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

func TestFinetuneCommand(t *testing.T) {
	dir := pipeline(t)
	out := filepath.Join(t.TempDir(), "tuned")
	args := []string{"finetune", "--model", filepath.Join(dir, "model"), "--dataset", "mnist", "--split", "test", "--reward-batch", "32",
		"--lambda", "5", "--steps", "4", "--times", "2", "--batch", "4", "--iters", "3", "--lr", "1e-3", "--seed", "2", "--out", out, "--json"}
	code, stdout, errs := runCLI(t, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var s struct {
		Iters       int      `json:"iters"`
		Reward      string   `json:"reward"`
		RewardFirst *float64 `json:"reward_first"`
		AccLast     *float64 `json:"accuracy_last"`
		Exact       bool     `json:"exact"`
	}
	if err := json.Unmarshal([]byte(stdout), &s); err != nil {
		t.Fatalf("summary is not JSON: %v\n%s", err, stdout)
	}
	if s.Iters != 3 || s.Reward != "ce:mnist" || s.RewardFirst == nil || *s.RewardFirst >= 0 || s.AccLast == nil || *s.AccLast < 0 || *s.AccLast > 1 {
		t.Errorf("summary %s", stdout)
	}
	// The shared pipeline's model uses the Kaiming source: the run must say it is approximate.
	if s.Exact || !strings.Contains(errs, "approximates") {
		t.Errorf("exact=%v; stderr: %s", s.Exact, errs)
	}
	code, _, errs = runCLI(t, "sample", "--model", out, "--n", "3", "--steps", "4", "--out", filepath.Join(t.TempDir(), "gen.safetensors"))
	if code != 0 {
		t.Fatalf("sampling the fine-tuned model: exit %d: %s", code, errs)
	}
	// Rerunning a finished run does nothing and reports the same.
	if code, again, errs := runCLI(t, args...); code != 0 || !strings.Contains(again, `"iters": 3`) {
		t.Errorf("rerun: exit %d, %s %s", code, again, errs)
	}
}

func TestFinetuneErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--model", "m"}, "--out"},
		{[]string{"--model", "m", "--out", "m"}, "base model's folder"},
		{[]string{"--out", "o", "--reward", "acc"}, "unknown --reward"},
		{[]string{"--out", "o", "--dataset", "imagenet"}, "unknown --dataset"},
		{[]string{"--out", "o", "--lambda", "-1"}, "--lambda"},
		{[]string{"--out", "o", "--steps", "4", "--times", "4"}, "--times"},
		{[]string{"--out", "o", "--clip", "0"}, "--clip 0"},
		{[]string{"--out", "o", "--loss-quantile", "0"}, "--loss-quantile"},
		{[]string{"--out", "o", "--split", "val"}, "--split"},
		{[]string{"--out", "o", "--weight", "uniform"}, "--weight"},
		{[]string{"--out", "o", "--model", filepath.Join(t.TempDir(), "none")}, "model.json"},
	} {
		code, _, errs := runCLI(t, append([]string{"finetune"}, tc.args...)...)
		if code == 0 || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want an error mentioning %q", tc.args, code, errs, tc.want)
		}
	}
}
