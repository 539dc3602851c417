package crashtest

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

const env = "NMFLOW_CRASHTEST_CHILD"

func TestMain(m *testing.M) {
	if marker, ok := Child(env); ok {
		w := BlockAt(2, marker, nil)
		w.Write([]byte("first"))
		w.Write([]byte("second: blocks here"))
		Exit("the example child", nil)
	}
	os.Exit(m.Run())
}

// TestKill: the child blocks at its second write, after creating the marker, and is killed.
func TestKill(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "marker")
	start := time.Now()
	Kill(t, env, marker, marker, 30*time.Second)
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("no marker after the kill: %v", err)
	}
	t.Logf("child started, blocked and killed in %v", time.Since(start))
}
