package data

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// Timeouts chosen so a machine without internet fails in seconds, while a slow but working
// connection can still take minutes for CIFAR's 170 MB: only silence is fatal, not duration.
const (
	dialTimeout   = 4 * time.Second
	headerTimeout = 20 * time.Second
	stallTimeout  = 60 * time.Second // no byte received for this long aborts the transfer
)

var httpClient = &http.Client{Transport: &http.Transport{
	Proxy:                 http.ProxyFromEnvironment,
	DialContext:           (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext,
	TLSHandshakeTimeout:   10 * time.Second,
	ResponseHeaderTimeout: headerTimeout,
	ForceAttemptHTTP2:     true,
}}

// download fetches the dataset from its canonical location and verifies every file.
func (s *session) download() (fileSet, string, error) {
	if s.sp.fetch != nil {
		return s.sp.fetch(s)
	}
	if s.sp.archiveURL != "" {
		body, err := s.get(s.sp.archiveURL)
		if err != nil {
			return nil, "", err
		}
		defer body.Close()
		fs, err := s.sp.readArchive(body, true, s.sp.archiveURL)
		return fs, "download " + s.sp.archiveURL, err
	}
	// Mirrors in order; files already verified from one mirror are not fetched again, and the
	// first failure moves on to the next mirror (an unreachable host fails on its first file).
	fs := fileSet{}
	var errs []error
	var used []string
	for _, base := range s.sp.mirrors {
		for _, f := range s.sp.files {
			if _, ok := fs[f.name]; ok {
				continue
			}
			b, err := s.getFile(base, f)
			if err != nil {
				errs = append(errs, err)
				break
			}
			fs[f.name] = b
			if len(used) == 0 || used[len(used)-1] != base {
				used = append(used, base)
			}
		}
		if len(fs) == len(s.sp.files) {
			return fs, "download " + strings.Join(used, " + "), nil
		}
	}
	return nil, "", errors.Join(errs...)
}

// getFile downloads one file from a mirror (base+name.gz, or base+name if the mirrors are
// plain) and returns its verified decompressed content.
func (s *session) getFile(base string, f fileSpec) ([]byte, error) {
	url := base + f.name
	if !s.sp.plain {
		url += ".gz"
	}
	body, err := s.get(url)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	r := io.Reader(body)
	if s.sp.plain {
		r = io.LimitReader(body, f.size+1) // one byte more is enough to tell "too long"
	}
	raw, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	b := raw
	switch {
	case !s.sp.plain:
		b, err = gunzip(raw, f.size)
	case int64(len(raw)) > f.size:
		err = errTooLong
	}
	if errors.Is(err, errTooLong) {
		return nil, &ChecksumError{File: f.name, Path: url, WantSize: f.size, GotSize: -1}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	if err := checkContent(f, b, url); err != nil {
		return nil, err
	}
	return b, nil
}

// get starts a GET and returns its body, guarded by a stall watchdog and logging progress.
func (s *session) get(url string) (io.ReadCloser, error) {
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	req.Header.Set("User-Agent", "nmflow-data")
	s.logf("downloading %s", url)
	resp, err := httpClient.Do(req)
	if err != nil {
		cancel()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("%s: HTTP %s", url, resp.Status)
	}
	w := &watchdog{body: resp.Body, cancel: cancel, s: s, url: url, total: resp.ContentLength, start: time.Now()}
	w.timer = time.AfterFunc(stallTimeout, func() { w.stalled.Store(true); cancel() })
	return w, nil
}

// watchdog cancels a transfer that receives nothing for stallTimeout, and logs progress.
type watchdog struct {
	body    io.ReadCloser
	cancel  context.CancelFunc
	timer   *time.Timer
	stalled atomic.Bool
	s       *session
	url     string
	total   int64
	n, next int64
	start   time.Time
}

func (w *watchdog) Read(p []byte) (int, error) {
	n, err := w.body.Read(p)
	w.timer.Reset(stallTimeout)
	w.n += int64(n)
	if w.n >= w.next && w.total > 0 {
		w.s.logf("  %s: %d%% of %.1f MB", w.url, 100*w.n/w.total, float64(w.total)/1e6)
		w.next += max(w.total/10, 1)
	}
	if err != nil && err != io.EOF && w.stalled.Load() {
		err = fmt.Errorf("%s: no data for %v: %w", w.url, stallTimeout, err)
	}
	return n, err
}

func (w *watchdog) Close() error {
	w.timer.Stop()
	w.cancel()
	w.s.logf("  %s: %d bytes in %v", w.url, w.n, time.Since(w.start).Round(time.Millisecond))
	return w.body.Close()
}
