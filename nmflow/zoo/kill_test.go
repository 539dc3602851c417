package zoo

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nmflow/nmflow/nmflow/internal/crashtest"
)

const envKillChild = "NMFLOW_ZOO_KILL_CHILD"

func TestMain(m *testing.M) {
	if state, ok := crashtest.Child(envKillChild); ok {
		// Log-style progress writes one line per 10% of the 72 steps; the 6th comes at step 44,
		// after the checkpoints at 18 and 36 were saved: the child blocks there and is killed.
		_, err := Train(context.Background(), smallConfig(), synthetic(), Options{State: state, Progress: crashtest.BlockAt(6, state+".blocked", nil)})
		crashtest.Exit("the zoo", err)
	}
	os.Exit(m.Run())
}

// TestKilledZooResumes: a zoo killed mid-run resumes from its state file to the same result, bit
// for bit, as an uninterrupted run with the same seed.
func TestKilledZooResumes(t *testing.T) {
	full, err := Train(context.Background(), smallConfig(), synthetic(), quiet())
	if err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(t.TempDir(), "zoo.state")
	crashtest.Kill(t, envKillChild, state, state+".blocked", 60*time.Second)
	o := quiet()
	o.State = state
	resumed, err := Train(context.Background(), smallConfig(), synthetic(), o)
	if err != nil {
		t.Fatal(err)
	}
	if got := resumed.Meta.Extra["resumed_at_step"]; got != "36" {
		t.Fatalf("resumed at step %q, want 36 (the last checkpoint before the kill)", got)
	}
	sameCheckpoints(t, "killed and resumed", resumed, full, 0, 1, 2, 3, 4)
	for name, m := range full.Metrics {
		for i := range m {
			if m[i] != resumed.Metrics[name][i] {
				t.Fatalf("metric %s differs at %d after the kill", name, i)
			}
		}
	}
}
