package progress

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a manual clock for deterministic rate-limiting tests.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newTestBar(t *testing.T, w *bytes.Buffer, total int, label string, opts ...Option) (*Bar, *fakeClock) {
	t.Helper()
	t.Setenv(EnvProgress, "")
	t.Setenv("GONB_PIPE", "")
	b := NewWriter(w, total, label, opts...)
	c := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	b.now = c.now
	b.start = c.now()
	return b, c
}

func TestTerminalRateLimited(t *testing.T) {
	var buf bytes.Buffer
	b, clk := newTestBar(t, &buf, 1000, "zoo", Interactive(true))
	// 1000 updates, 1 ms apart: 1 s in all, so about 5 redraws at 200 ms (plus the first and last).
	for i := 0; i < 1000; i++ {
		clk.advance(time.Millisecond)
		b.Add(1)
	}
	draws := strings.Count(buf.String(), "\r")
	if draws < 5 || draws > 8 {
		t.Fatalf("got %d redraws for 1000 updates over 1s, want 5..8; output %q", draws, buf.String())
	}
	if strings.Contains(buf.String(), "\n") {
		t.Fatalf("terminal bar wrote a newline before Done: %q", buf.String())
	}
	b.SetInfo("loss 0.31")
	b.Done()
	out := buf.String()
	if !strings.HasSuffix(out, "\n") || strings.Count(out, "\n") != 1 {
		t.Fatalf("Done should end the line once: %q", out)
	}
	last := out[strings.LastIndex(out, "\r")+1:]
	for _, want := range []string{"zoo done 1000/1000", "in 1.0s", "(1000/s)", "loss 0.31"} {
		if !strings.Contains(last, want) {
			t.Errorf("summary %q lacks %q", last, want)
		}
	}
	b.Add(5) // after Done: ignored
	b.Done()
	if buf.String() != out {
		t.Fatalf("bar wrote after Done")
	}
}

func TestTerminalLineContent(t *testing.T) {
	var buf bytes.Buffer
	b, clk := newTestBar(t, &buf, 200, "fit", Interactive(true))
	clk.advance(10 * time.Second)
	b.SetInfo("loss 0.50")
	b.Set(50)
	line := buf.String()
	line = line[strings.LastIndex(line, "\r")+1:]
	for _, want := range []string{"fit [=====>", " 25% 50/200", "10.0s", "eta 30.0s", "loss 0.50"} {
		if !strings.Contains(line, want) {
			t.Errorf("line %q lacks %q", line, want)
		}
	}
	// A shorter redraw blanks the rest of the longer previous line.
	clk.advance(time.Second)
	b.SetInfo("")
	b.Add(0)
	prev := len(line)
	s := buf.String()
	cur := s[strings.LastIndex(s, "\r")+1:]
	if len(cur) != prev {
		t.Errorf("redraw is %d chars, previous %d: leftovers not blanked (%q)", len(cur), prev, cur)
	}
}

func TestLogModeAtMostTenLines(t *testing.T) {
	var buf bytes.Buffer
	b, clk := newTestBar(t, &buf, 12345, "train", Interactive(false))
	for i := 0; i < 12345; i++ {
		clk.advance(time.Millisecond)
		b.Add(1)
		if i%100 == 0 {
			b.SetInfo(fmt.Sprintf("step %d", i))
		}
	}
	b.Done()
	out := buf.String()
	if strings.Contains(out, "\r") {
		t.Fatalf("log mode must not use \\r: %q", out)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 10 {
		t.Fatalf("got %d lines, want 10 (9 steps + summary):\n%s", len(lines), out)
	}
	for i, l := range lines[:9] {
		want := fmt.Sprintf("%3d%%", 10*(i+1))
		if !strings.Contains(l, want) {
			t.Errorf("line %d %q lacks %q", i, l, want)
		}
	}
	if !strings.HasPrefix(lines[9], "train done 12345/12345") {
		t.Errorf("closing line %q", lines[9])
	}
}

func TestLogModeBigJumps(t *testing.T) {
	var buf bytes.Buffer
	b, _ := newTestBar(t, &buf, 3, "epochs", Interactive(false))
	b.Add(1)
	b.Add(1)
	b.Add(1)
	b.Done()
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 3 { // 33%, 66%, summary
		t.Fatalf("got %d lines:\n%s", len(lines), buf.String())
	}
}

func TestUnknownTotal(t *testing.T) {
	var buf bytes.Buffer
	b, clk := newTestBar(t, &buf, 0, "scan", Interactive(false))
	for i := 0; i < 100; i++ {
		clk.advance(10 * time.Second) // 1000 s in all
		b.Add(1)
	}
	b.Done()
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) > 10 {
		t.Fatalf("unknown total wrote %d lines, want <= 10:\n%s", len(lines), buf.String())
	}
	if !strings.Contains(lines[len(lines)-1], "scan done 100 in 16m40s") {
		t.Errorf("closing line %q", lines[len(lines)-1])
	}
}

func TestStoppedEarly(t *testing.T) {
	var buf bytes.Buffer
	b, clk := newTestBar(t, &buf, 10, "", Interactive(false))
	clk.advance(time.Second)
	b.Set(4)
	b.Done()
	if !strings.Contains(buf.String(), "stopped at 4/10") {
		t.Fatalf("got %q", buf.String())
	}
}

func TestSilentAndDisabled(t *testing.T) {
	var buf bytes.Buffer
	b, _ := newTestBar(t, &buf, 10, "x", Silent(), Interactive(true))
	b.Add(10)
	b.Done()
	if buf.Len() != 0 || b.Count() != 10 {
		t.Fatalf("silent bar wrote %q, count %d", buf.String(), b.Count())
	}
	for _, v := range []string{"0", "false", "OFF"} {
		t.Setenv(EnvProgress, v)
		b := NewWriter(&buf, 10, "x", Interactive(true))
		b.Add(10)
		b.Done()
		if buf.Len() != 0 {
			t.Fatalf("%s=%s: bar wrote %q", EnvProgress, v, buf.String())
		}
	}
	t.Setenv(EnvProgress, "1")
	if Disabled() {
		t.Fatal("NMFLOW_PROGRESS=1 should not disable")
	}
}

func TestNilBar(t *testing.T) {
	var b *Bar
	b.Add(1)
	b.Set(2)
	b.SetInfo("x")
	b.SetTotal(3)
	b.Done()
	if b.Count() != 0 {
		t.Fatal("nil bar count")
	}
}

// syncBuffer is a goroutine-safe writer (bytes.Buffer is not).
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func TestConcurrent(t *testing.T) {
	t.Setenv(EnvProgress, "")
	var out syncBuffer
	b := NewWriter(&out, 8000, "par", Interactive(true), Interval(0))
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				b.Add(1)
				if i%50 == 0 {
					b.SetInfo(fmt.Sprintf("g%d", i))
				}
			}
		}()
	}
	wg.Wait()
	b.Done()
	if b.Count() != 8000 {
		t.Fatalf("count %d, want 8000", b.Count())
	}
	if !strings.Contains(out.b.String(), "par done 8000/8000") {
		t.Fatalf("no summary in output")
	}
}

func TestFormatDuration(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "0ms"},
		{850 * time.Millisecond, "850ms"},
		{12300 * time.Millisecond, "12.3s"},
		{4*time.Minute + 5*time.Second, "4m05s"},
		{2*time.Hour + 3*time.Minute, "2h03m"},
	} {
		if got := FormatDuration(c.d); got != c.want {
			t.Errorf("FormatDuration(%v) = %q, want %q", c.d, got, c.want)
		}
	}
}
