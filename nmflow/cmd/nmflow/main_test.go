package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/nmflow/nmflow/nmflow/traj"
)

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestZooCommandWritesTrajectories(t *testing.T) {
	t.Setenv("NMFLOW_PROGRESS", "0")
	path := filepath.Join(t.TempDir(), "zoo.safetensors")
	code, out, errs := runCLI(t, "zoo", "--dataset", "mnist", "--arch", "mlp", "--hidden", "16", "--runs", "3", "--epochs", "1",
		"--checkpoints", "2", "--train-size", "2048", "--test-size", "500", "--lr", "0.1", "--momentum", "0.9", "--seed", "5", "--out", path, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var summary struct {
		Runs         int   `json:"runs"`
		Checkpoints  int   `json:"checkpoints"`
		Params       int   `json:"params"`
		Steps        []int `json:"steps"`
		FinalTestAcc struct {
			Mean float64 `json:"mean"`
		} `json:"final_test_acc"`
		InitTestAcc struct {
			Mean float64 `json:"mean"`
		} `json:"init_test_acc"`
	}
	if err := json.Unmarshal([]byte(out), &summary); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, out)
	}
	if summary.Runs != 3 || summary.Checkpoints != 3 || summary.Params != 784*16+16+16*10+10 || summary.Steps[2] != 16 {
		t.Fatalf("summary %+v", summary)
	}
	if summary.FinalTestAcc.Mean < 0.5 || summary.InitTestAcc.Mean > 0.3 {
		t.Fatalf("accuracy init %.3f → final %.3f", summary.InitTestAcc.Mean, summary.FinalTestAcc.Mean)
	}
	z, err := traj.ReadZoo(path)
	if err != nil {
		t.Fatal(err)
	}
	if z.Meta.Seed != 5 || z.Meta.Dataset.Name != "mnist" || z.Meta.Optimizer.Momentum != 0.9 {
		t.Fatalf("metadata %+v", z.Meta)
	}
	if _, err := os.Stat(path + ".state"); !os.IsNotExist(err) {
		t.Fatalf("state file left behind after success: %v", err)
	}
}

func TestCLIErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"frobnicate"}, "unknown command"},
		{[]string{"zoo", "--runs", "x"}, "invalid value"},
		{[]string{"zoo", "--dataset", "imagenet", "--out", "/dev/null"}, "imagenet"},
		{[]string{"zoo", "--arch", "rnn", "--train-size", "256", "--out", "/dev/null"}, "unknown --arch"},
		{[]string{"zoo", "--hidden", "3,x"}, "bad width"},
		{[]string{"data", "fetch"}, "Usage"},
	}
	for _, c := range cases {
		code, _, errs := runCLI(t, c.args...)
		if code == 0 || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, stderr %q (want %q)", c.args, code, errs, c.want)
		}
	}
	if code, _, errs := runCLI(t, "zoo", "--help"); code != 0 || !strings.Contains(errs, "--checkpoints") {
		t.Errorf("zoo --help: exit %d, %q", code, errs)
	}
}

// Every subcommand answers --help with its usage on stderr and exit 0, and every flag shows its
// type as its argument name (a backquoted word in a flag's usage would take that place).
func TestHelpEverySubcommand(t *testing.T) {
	names := [][]string{{"zoo", "merge"}, {"data", "fetch"}}
	for n := range commands {
		names = append(names, []string{n})
	}
	flagLine := regexp.MustCompile(`^  -[a-z0-9-]+( (string|int|uint|int64|uint64|float|duration|value))?$`)
	for _, n := range names {
		for _, h := range []string{"--help", "-h"} {
			code, out, errs := runCLI(t, append(n, h)...)
			if code != 0 || out != "" || !strings.Contains(errs, "Usage: nmflow "+n[0]) {
				t.Errorf("nmflow %s %s: exit %d, stdout %q, stderr %q", strings.Join(n, " "), h, code, out, errs)
			}
			for _, l := range strings.Split(errs, "\n") {
				if strings.HasPrefix(l, "  -") && !flagLine.MatchString(l) {
					t.Errorf("nmflow %s --help: flag line %q (a backquoted word in the usage?)", strings.Join(n, " "), l)
				}
			}
		}
	}
}
