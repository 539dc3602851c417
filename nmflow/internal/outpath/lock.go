package outpath

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gofrs/flock"
)

// Lock is an exclusive advisory lock (flock) held on an output for a job's lifetime.
type Lock struct {
	fl   *flock.Flock
	path string
}

// LockedError says that another live process holds the lock.
type LockedError struct {
	Output string    // what the job would write
	PID    int       // holder's process id (0: unknown)
	Since  time.Time // when it took the lock (zero: unknown)
}

func (e *LockedError) Error() string {
	who := "another nmflow process"
	if e.PID > 0 {
		who = fmt.Sprintf("pid %d", e.PID)
	}
	if !e.Since.IsZero() {
		who += " since " + e.Since.Local().Format(time.DateTime)
	}
	return fmt.Sprintf("%s is locked by %s: another job is writing it; wait for it to finish or choose another output (nothing was changed)", e.Output, who)
}

// LockFile is the lock file of an output: out + ".lock" beside a file, a hidden file inside a folder.
func LockFile(out string, isDir bool) string {
	if isDir {
		return filepath.Join(out, ".nmflow.lock")
	}
	return filepath.Clean(out) + ".lock"
}

// Acquire takes the lock of out without waiting (a folder output is created if missing). It fails
// with a *LockedError when another process holds it. The lock file records the holder's pid and
// start time for that message; Release removes it.
func Acquire(out string, isDir bool) (*Lock, error) {
	if isDir {
		if err := os.MkdirAll(out, 0o755); err != nil {
			return nil, err
		}
	}
	path := LockFile(out, isDir)
	for range 10 {
		fl := flock.New(path)
		ok, err := fl.TryLock()
		if err != nil {
			return nil, fmt.Errorf("locking %s: %w", out, err)
		}
		if !ok {
			e := &LockedError{Output: out}
			if b, err := os.ReadFile(path); err == nil {
				e.PID, e.Since = parseHolder(string(b))
			}
			return nil, e
		}
		// The file may have been removed by a releasing holder between our open and our lock: then
		// we hold a lock on an unlinked file that nobody else sees, so start again.
		held, err1 := fl.Stat()
		now, err2 := os.Stat(path)
		if err1 != nil || err2 != nil || !os.SameFile(held, now) {
			fl.Close()
			continue
		}
		holder := fmt.Sprintf("pid %d\nsince %s\n", os.Getpid(), time.Now().UTC().Format(time.RFC3339))
		if err := os.WriteFile(path, []byte(holder), 0o644); err != nil {
			fl.Close()
			return nil, fmt.Errorf("locking %s: %w", out, err)
		}
		return &Lock{fl: fl, path: path}, nil
	}
	return nil, fmt.Errorf("locking %s: the lock file %s keeps changing; is another job starting?", out, path)
}

// Release removes the lock file and drops the lock. It is safe on a nil Lock.
func (l *Lock) Release() error {
	if l == nil {
		return nil
	}
	os.Remove(l.path) // before unlocking, so a waiter never locks a file about to vanish unseen
	return l.fl.Close()
}

func parseHolder(s string) (pid int, since time.Time) {
	for _, line := range strings.Split(s, "\n") {
		k, v, _ := strings.Cut(line, " ")
		switch k {
		case "pid":
			pid, _ = strconv.Atoi(v)
		case "since":
			since, _ = time.Parse(time.RFC3339, v)
		}
	}
	return pid, since
}
