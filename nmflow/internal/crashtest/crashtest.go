// Package crashtest kills a test's own binary, rerun as a child process, at a chosen point with
// SIGKILL, so tests can check that what a crash leaves behind (a half-written file, a resume
// state) is usable: the previous file intact, training resumable to the same result.
//
// The child is the test binary run with no tests and an environment variable set; the package's
// TestMain sees the variable (Child) and does the work instead of running tests. The work blocks
// at a deterministic point through a writer from BlockAt (a progress writer, or the file writer
// under an atomic write), which first creates a marker file; Kill waits for the marker and kills.
package crashtest

import (
	"io"
	"os"
	"os/exec"
	"testing"
	"time"
)

// Child returns the value of env and whether this process is a child started by Kill.
func Child(env string) (string, bool) {
	v := os.Getenv(env)
	return v, v != ""
}

// BlockAt returns a writer that passes writes to w (nil: discards them) and, after passing on
// its n-th Write, creates the file marker and blocks forever, waiting to be killed.
func BlockAt(n int, marker string, w io.Writer) io.Writer {
	if w == nil {
		w = io.Discard
	}
	return &blocker{n: n, marker: marker, w: w}
}

type blocker struct {
	n, calls int
	marker   string
	w        io.Writer
}

func (b *blocker) Write(p []byte) (int, error) {
	n, err := b.w.Write(p)
	if b.calls++; b.calls == b.n {
		if err := os.WriteFile(b.marker, nil, 0o644); err != nil {
			panic(err)
		}
		for { // until SIGKILL (a bare select{} would be a deadlock when nothing else runs)
			time.Sleep(time.Hour)
		}
	}
	return n, err
}

// Exit ends a child whose work finished without being killed: the parent sees exit status 3 and
// the reason on stderr.
func Exit(what string, err error) {
	msg := "<nil>"
	if err != nil {
		msg = err.Error()
	}
	os.Stderr.WriteString("crashtest child: " + what + " finished without being killed: " + msg + "\n")
	os.Exit(3)
}

// Kill runs this test binary as a child with env=value (and NMFLOW_PROGRESS=1, so progress
// writers are used), waits up to timeout for the file marker, kills the child with SIGKILL and
// checks that it did not exit on its own.
func Kill(t testing.TB, env, value, marker string, timeout time.Duration) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env+"="+value, "NMFLOW_PROGRESS=1")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.After(timeout)
	for {
		if _, err := os.Stat(marker); err == nil {
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("the child exited before reaching %s: %v", marker, err)
		case <-deadline:
			cmd.Process.Kill()
			t.Fatalf("the child did not reach %s within %v", marker, timeout)
		case <-time.After(5 * time.Millisecond):
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := <-exited; err == nil {
		t.Fatal("the child exited cleanly; it should have been killed")
	}
}
