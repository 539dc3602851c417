// Package progress shows the progress of long loops (zoo training, meta-model fitting, sampling)
// wherever the code runs:
//
//   - in a terminal: one line on stderr, redrawn in place with '\r' at most ~5 times a second,
//     with percent, count/total, elapsed time, ETA and a free-form info text ("loss 0.31");
//   - in a log (stderr is not a terminal, e.g. CI): at most about ten plain lines, one per 10%
//     of the total, plus a closing line, so logs stay readable;
//   - in a GoNB notebook (GONB_PIPE set): an HTML <progress> bar updated in place, replaced by a
//     one-line summary when the work is done.
//
// NMFLOW_PROGRESS=0 (or "false", "off", "no") turns every bar off. A nil *Bar is a valid,
// silent bar, so library code can take an optional *Bar and call its methods unconditionally.
//
// Usage:
//
//	bar := progress.New(steps, "fit")
//	defer bar.Done()
//	for i := 0; i < steps; i++ {
//		loss := step()
//		bar.SetInfo(fmt.Sprintf("loss %.3f", loss))
//		bar.Add(1)
//	}
//
// All methods are safe for concurrent use.
package progress

import (
	"fmt"
	"html"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/janpfeifer/gonb/gonbui"
	"github.com/janpfeifer/gonb/gonbui/protocol"
	"golang.org/x/term"
)

// EnvProgress names the variable that turns progress output off when set to 0, false, off or no.
const EnvProgress = "NMFLOW_PROGRESS"

// DefaultInterval is the minimum time between two redraws of a terminal or notebook bar.
const DefaultInterval = 200 * time.Millisecond

// logSteps is how many evenly spaced lines a bar writes to a non-terminal (10 → every 10%).
const logSteps = 10

// logUnknownEvery is how often a bar with an unknown total writes to a non-terminal.
const logUnknownEvery = 30 * time.Second

type mode int

const (
	modeOff      mode = iota // writes nothing
	modeTerminal             // '\r'-redrawn single line
	modeLog                  // a few plain lines
	modeNotebook             // GoNB HTML, updated in place
)

// Option configures a Bar at creation.
type Option func(*config)

type config struct {
	silent      bool
	interactive *bool
	interval    time.Duration
}

// Silent makes a bar that writes nothing (it still counts): for tests and quiet callers.
func Silent() Option { return func(c *config) { c.silent = true } }

// Interactive forces the terminal style ('\r' redraws) when on, or the log style (about ten
// plain lines) when off, instead of detecting whether the writer is a terminal. It does not
// apply in a notebook, where New always uses HTML.
func Interactive(on bool) Option { return func(c *config) { c.interactive = &on } }

// Interval sets the minimum time between redraws (default DefaultInterval).
func Interval(d time.Duration) Option { return func(c *config) { c.interval = d } }

// Bar is a progress indicator; create it with New or NewWriter, finish it with Done.
type Bar struct {
	mu sync.Mutex

	mode     mode
	w        io.Writer
	interval time.Duration
	now      func() time.Time // replaced by tests

	total int
	label string
	n     int
	info  string

	start    time.Time
	lastDraw time.Time // zero until the first draw
	lastLen  int       // length of the last terminal line, to blank leftovers
	logNext  int       // next 1..logSteps step to log (known total)
	logLines int       // lines written in log mode, excluding the closing one
	htmlID   string    // GoNB display id, once displayed
	done     bool
}

// New returns a bar for total units of work (total <= 0: unknown) labelled label. It writes to
// the notebook when run by GoNB, and to stderr otherwise (terminal or log style, detected).
func New(total int, label string, opts ...Option) *Bar {
	cfg := makeConfig(opts)
	m := modeOff
	switch {
	case cfg.silent || Disabled():
	case inNotebook():
		m = modeNotebook
	default:
		m = textMode(os.Stderr, cfg)
	}
	return newBar(m, os.Stderr, total, label, cfg)
}

// NewWriter returns a bar writing text to w (never notebook HTML): terminal style when w is a
// terminal, log style otherwise, unless the Interactive option says which.
func NewWriter(w io.Writer, total int, label string, opts ...Option) *Bar {
	cfg := makeConfig(opts)
	m := modeOff
	if !cfg.silent && !Disabled() && w != nil {
		m = textMode(w, cfg)
	}
	return newBar(m, w, total, label, cfg)
}

// To is NewWriter(w, ...) when w is non-nil and New(...) otherwise: the choice every long job
// with an optional Progress writer makes.
func To(w io.Writer, total int, label string, opts ...Option) *Bar {
	if w != nil {
		return NewWriter(w, total, label, opts...)
	}
	return New(total, label, opts...)
}

// Disabled reports whether NMFLOW_PROGRESS turns progress output off.
func Disabled() bool {
	switch strings.ToLower(strings.TrimSpace(os.Getenv(EnvProgress))) {
	case "0", "false", "off", "no":
		return true
	}
	return false
}

func makeConfig(opts []Option) config {
	cfg := config{interval: DefaultInterval}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	if cfg.interval < 0 {
		cfg.interval = 0
	}
	return cfg
}

func inNotebook() bool { return os.Getenv(protocol.GONB_PIPE_ENV) != "" }

func textMode(w io.Writer, cfg config) mode {
	if cfg.interactive != nil {
		if *cfg.interactive {
			return modeTerminal
		}
		return modeLog
	}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return modeTerminal
	}
	return modeLog
}

func newBar(m mode, w io.Writer, total int, label string, cfg config) *Bar {
	b := &Bar{mode: m, w: w, interval: cfg.interval, now: time.Now, total: total, label: label, logNext: 1}
	b.start = b.now()
	return b
}

// Add advances the bar by n units.
func (b *Bar) Add(n int) { b.change(true, func() { b.n += n }) }

// Set sets the number of units done so far.
func (b *Bar) Set(n int) { b.change(true, func() { b.n = n }) }

// SetTotal changes the total (<= 0: unknown).
func (b *Bar) SetTotal(total int) { b.change(true, func() { b.total = total }) }

// SetInfo sets the free-form text shown after the counts, e.g. "loss 0.31". It draws nothing
// itself: the next Add or Set (or Done) shows it, so call it before Add in a loop.
func (b *Bar) SetInfo(s string) { b.change(false, func() { b.info = s }) }

// change applies f under the lock, then redraws when draw; a nil or finished bar ignores it.
func (b *Bar) change(draw bool, f func()) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return
	}
	f()
	if draw {
		b.update()
	}
}

// Count returns the number of units done so far.
func (b *Bar) Count() int {
	if b == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.n
}

// Done finishes the bar: a terminal line is completed with a newline, a log gets a closing line,
// a notebook bar is replaced by a one-line summary. Later calls do nothing.
func (b *Bar) Done() { b.change(false, b.finish) }

// finish draws the bar's last state; b.mu is held.
func (b *Bar) finish() {
	b.done = true
	now := b.now()
	switch b.mode {
	case modeTerminal:
		line := b.summary(now)
		fmt.Fprintf(b.w, "\r%s%s\n", line, b.pad(line))
	case modeLog:
		fmt.Fprintln(b.w, b.summary(now))
	case modeNotebook:
		msg := `<div class="nmflow-progress">` + html.EscapeString(b.summary(now)) + `</div>`
		if b.htmlID == "" {
			gonbui.DisplayHTML(msg)
		} else {
			gonbui.UpdateHTML(b.htmlID, msg)
		}
		gonbui.Sync()
	}
}

// update redraws if due; b.mu is held.
func (b *Bar) update() {
	now := b.now()
	switch b.mode {
	case modeTerminal, modeNotebook:
		final := b.total > 0 && b.n >= b.total
		if !b.lastDraw.IsZero() && now.Sub(b.lastDraw) < b.interval && !final {
			return
		}
		b.lastDraw = now
		if b.mode == modeTerminal {
			line := b.line(now)
			fmt.Fprintf(b.w, "\r%s%s", line, b.pad(line))
			return
		}
		if b.htmlID == "" {
			b.htmlID = gonbui.UniqueId()
		}
		gonbui.UpdateHTML(b.htmlID, b.html(now))
	case modeLog:
		if b.total > 0 {
			step := 0
			for b.logNext < logSteps && b.n*logSteps >= b.logNext*b.total {
				step = b.logNext
				b.logNext++
			}
			// Reaching the total is left to Done's closing line.
			if step > 0 && b.n < b.total {
				b.logLines++
				fmt.Fprintln(b.w, b.line(now))
			}
			return
		}
		if b.logLines < logSteps-1 && now.Sub(b.start) >= time.Duration(b.logLines+1)*logUnknownEvery {
			b.logLines++
			fmt.Fprintln(b.w, b.line(now))
		}
	}
}

// pad returns the spaces that blank what remains of the previous, longer terminal line.
func (b *Bar) pad(line string) string {
	n := len(line)
	extra := b.lastLen - n
	b.lastLen = n
	if extra <= 0 {
		return ""
	}
	return strings.Repeat(" ", extra)
}

const barWidth = 20

// line is the running status, e.g. "fit [=====>    ]  42% 420/1000 12s eta 16s loss 0.31".
func (b *Bar) line(now time.Time) string {
	var sb strings.Builder
	elapsed := now.Sub(b.start)
	if b.label != "" {
		sb.WriteString(b.label)
		sb.WriteByte(' ')
	}
	if b.total > 0 {
		frac := b.fraction()
		if b.mode == modeTerminal {
			filled := int(frac * barWidth)
			sb.WriteByte('[')
			sb.WriteString(strings.Repeat("=", filled))
			if filled < barWidth {
				sb.WriteByte('>')
				sb.WriteString(strings.Repeat(" ", barWidth-filled-1))
			}
			sb.WriteString("] ")
		}
		fmt.Fprintf(&sb, "%3d%% %d/%d %s", int(frac*100), b.n, b.total, FormatDuration(elapsed))
		if b.n > 0 && b.n < b.total {
			eta := time.Duration(float64(elapsed) * float64(b.total-b.n) / float64(b.n))
			fmt.Fprintf(&sb, " eta %s", FormatDuration(eta))
		}
	} else {
		fmt.Fprintf(&sb, "%d %s", b.n, FormatDuration(elapsed))
		if r := rate(b.n, elapsed); r != "" {
			sb.WriteString(" " + r)
		}
	}
	if b.info != "" {
		sb.WriteString(" " + b.info)
	}
	return sb.String()
}

// summary is the closing line, e.g. "fit done 1000/1000 in 12.3s (81.3/s) loss 0.31".
func (b *Bar) summary(now time.Time) string {
	var sb strings.Builder
	elapsed := now.Sub(b.start)
	if b.label != "" {
		sb.WriteString(b.label)
		sb.WriteByte(' ')
	}
	if b.total > 0 && b.n < b.total {
		fmt.Fprintf(&sb, "stopped at %d/%d", b.n, b.total)
	} else if b.total > 0 {
		fmt.Fprintf(&sb, "done %d/%d", b.n, b.total)
	} else {
		fmt.Fprintf(&sb, "done %d", b.n)
	}
	fmt.Fprintf(&sb, " in %s", FormatDuration(elapsed))
	if r := rate(b.n, elapsed); r != "" {
		sb.WriteString(" (" + r + ")")
	}
	if b.info != "" {
		sb.WriteString(" " + b.info)
	}
	return sb.String()
}

// html is the notebook rendering of the running status.
func (b *Bar) html(now time.Time) string {
	text := html.EscapeString(b.line(now))
	if b.total <= 0 {
		return `<div class="nmflow-progress"><progress></progress> <code>` + text + `</code></div>`
	}
	return fmt.Sprintf(`<div class="nmflow-progress"><progress value="%d" max="%d" style="width:20em"></progress> <code>%s</code></div>`,
		min(max(b.n, 0), b.total), b.total, text)
}

func (b *Bar) fraction() float64 {
	if b.total <= 0 {
		return 0
	}
	f := float64(b.n) / float64(b.total)
	return min(max(f, 0), 1)
}

func rate(n int, elapsed time.Duration) string {
	if n <= 0 || elapsed < 10*time.Millisecond {
		return ""
	}
	r := float64(n) / elapsed.Seconds()
	switch {
	case r >= 100:
		return fmt.Sprintf("%.0f/s", r)
	case r >= 1:
		return fmt.Sprintf("%.1f/s", r)
	default:
		return fmt.Sprintf("%.1fs each", 1/r)
	}
}

// FormatDuration writes d compactly: "850ms", "12.3s", "4m05s", "2h03m".
func FormatDuration(d time.Duration) string {
	switch {
	case d < 0:
		d = 0
		fallthrough
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		s := int(d.Round(time.Second).Seconds())
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	default:
		m := int(d.Round(time.Minute).Minutes())
		return fmt.Sprintf("%dh%02dm", m/60, m%60)
	}
}
