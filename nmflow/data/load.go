package data

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Environment variables read when the matching Options field is empty.
const (
	EnvData  = "NMFLOW_DATA"  // local dataset folder(s), a list like PATH
	EnvCache = "NMFLOW_CACHE" // cache root
)

// ErrNotFound marks a LoadError: no source could provide the dataset.
var ErrNotFound = errors.New("dataset not available")

// Attempt is one source tried by Load or Fetch and why it failed.
type Attempt struct {
	Source string // e.g. "cache /home/u/.cache/nmflow/mnist"
	Err    error
}

// LoadError lists every source tried, in order, and what to do about it.
type LoadError struct {
	Dataset  string
	Attempts []Attempt
	Hint     string
}

func (e *LoadError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "data: could not load %q; tried:", e.Dataset)
	for i, a := range e.Attempts {
		msg := strings.ReplaceAll(a.Err.Error(), "\n", "\n       ")
		fmt.Fprintf(&b, "\n  %d. %s: %s", i+1, a.Source, msg)
	}
	if e.Hint != "" {
		fmt.Fprintf(&b, "\nTo fix: %s.", e.Hint)
	}
	return b.String()
}

// Unwrap exposes the individual failures, e.g. to errors.Is(err, ErrChecksum).
func (e *LoadError) Unwrap() []error {
	out := make([]error, len(e.Attempts))
	for i, a := range e.Attempts {
		out[i] = a.Err
	}
	return out
}

// Is makes errors.Is(err, ErrNotFound) true.
func (e *LoadError) Is(target error) bool { return target == ErrNotFound }

// source is one place to get the files from.
type source struct {
	what  string // for messages, e.g. "local folder /x (NMFLOW_DATA)"
	cache bool   // the cache itself: never copied onto itself, checked without reading by Fetch
	copy  bool   // verified files from here are copied into the cache by Load
	get   func() (fs fileSet, desc string, err error)
}

// session holds what one Load or Fetch call resolved from its options.
type session struct {
	sp       *spec
	opt      Options
	cacheDir string // <cache root>/<name>; "" if no cache folder could be determined
	cacheErr error
	log      io.Writer
}

func newSession(name string, opt Options) (*session, error) {
	sp, err := lookup(name)
	if err != nil {
		return nil, err
	}
	s := &session{sp: sp, opt: opt, log: opt.Log}
	if s.log == nil {
		s.log = io.Discard
	}
	root, err := cacheRoot(opt)
	if err != nil {
		s.cacheErr = err
	} else {
		s.cacheDir = filepath.Join(root, sp.name)
	}
	return s, nil
}

func (s *session) logf(format string, args ...any) {
	msg := strings.ReplaceAll(fmt.Sprintf(format, args...), "\n", "\n    ")
	fmt.Fprintf(s.log, "nmflow/data: %s: %s\n", s.sp.name, msg)
}

// cacheRoot resolves Options.Cache, NMFLOW_CACHE, then os.UserCacheDir()/nmflow.
func cacheRoot(opt Options) (string, error) {
	if opt.Cache != "" {
		return opt.Cache, nil
	}
	if c := os.Getenv(EnvCache); c != "" {
		return c, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache folder: set %s or Options.Cache (%v)", EnvCache, err)
	}
	return filepath.Join(d, "nmflow"), nil
}

// localRoots resolves Options.Dir, else NMFLOW_DATA, and says which one it used.
func localRoots(opt Options) (roots []string, from string) {
	if opt.Dir != "" {
		return filepath.SplitList(opt.Dir), "Options.Dir"
	}
	return filepath.SplitList(os.Getenv(EnvData)), EnvData
}

// localSources gives one source per local root; with no root, one that only explains how to
// set one, so the final error tells the user about NMFLOW_DATA.
func (s *session) localSources(verify bool) []source {
	roots, from := localRoots(s.opt)
	if len(roots) == 0 {
		return []source{{what: "local folder", get: func() (fileSet, string, error) {
			return nil, "", fmt.Errorf("none given (set %s or Options.Dir)", EnvData)
		}}}
	}
	var out []source
	for _, root := range roots {
		out = append(out, source{what: fmt.Sprintf("local folder %s (%s)", root, from), get: func() (fileSet, string, error) {
			if !isDir(root) {
				return nil, "", errors.New("not a folder")
			}
			var errs []error
			var looked []string
			seen := map[string]bool{}
			for _, sub := range s.sp.subdirs {
				dir := filepath.Join(root, filepath.FromSlash(sub))
				if seen[dir] {
					continue
				}
				seen[dir] = true
				looked = append(looked, dir)
				fs, err := s.sp.readFolder(dir, verify)
				if err == nil {
					return fs, "folder " + dir, nil
				}
				if !errors.Is(err, errNoFiles) {
					s.logf("rejected %s: %v", dir, err)
					errs = append(errs, err)
				}
			}
			if len(errs) == 0 {
				return nil, "", fmt.Errorf("no %s files in %s", s.sp.name, strings.Join(looked, ", "))
			}
			return nil, "", errors.Join(errs...)
		}})
	}
	return out
}

func (s *session) cacheSource(read bool) source {
	what := "cache " + s.cacheDir
	if s.cacheDir == "" {
		what = "cache"
	}
	return source{what: what, cache: true, get: func() (fileSet, string, error) {
		if s.cacheErr != nil {
			return nil, "", s.cacheErr
		}
		fs, err := s.sp.readCache(s.cacheDir, read)
		if errors.Is(err, errNoFiles) {
			err = errors.New("empty")
		}
		return fs, "cache " + s.cacheDir, err
	}}
}

func (s *session) downloadSource() source {
	what := "download"
	if s.sp.archiveURL != "" {
		what += " " + s.sp.archiveURL
	} else {
		what += " " + strings.Join(s.sp.mirrors, " | ")
	}
	return source{what: what, copy: true, get: func() (fileSet, string, error) {
		if s.opt.NoDownload {
			return nil, "", errors.New("skipped (Options.NoDownload)")
		}
		return s.download()
	}}
}

func (s *session) offlineSources() []source {
	var out []source
	for _, r := range s.sp.offline {
		out = append(out, source{what: r.what, copy: true, get: func() (fileSet, string, error) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			dir, err := r.dir(ctx, !s.opt.NoDownload, s)
			if err != nil {
				return nil, "", err
			}
			fs, err := s.sp.readFolder(dir, true)
			if errors.Is(err, errNoFiles) {
				err = fmt.Errorf("no %s files in %s", s.sp.name, dir)
			}
			return fs, r.what + " (" + dir + ")", err
		}})
	}
	return out
}

// Load returns the dataset, trying a local folder, the cache, a download and the offline
// routes in that order (see the package documentation). Files from a download or an offline
// route are copied into the cache once verified. The error, when every source fails, is a
// *LoadError listing each attempt and what to do.
func Load(name string, opt Options) (*Dataset, error) {
	s, err := newSession(name, opt)
	if err != nil {
		return nil, err
	}
	var srcs []source
	srcs = append(srcs, s.localSources(!opt.SkipChecksum)...)
	srcs = append(srcs, s.cacheSource(true), s.downloadSource())
	srcs = append(srcs, s.offlineSources()...)

	var attempts []Attempt
	for _, src := range srcs {
		start := time.Now()
		fs, desc, err := src.get()
		var ds *Dataset
		if err == nil {
			ds, err = s.sp.build(fs)
		}
		if err != nil {
			attempts = append(attempts, Attempt{src.what, err})
			continue
		}
		if src.copy {
			if s.cacheDir == "" {
				s.logf("not cached: %v", s.cacheErr)
			} else if err := s.sp.storeCache(s.cacheDir, fs); err != nil {
				s.logf("could not write the cache (loading anyway): %v", err)
			} else {
				desc += ", cached in " + s.cacheDir
			}
		}
		ds.Source = desc
		if ds.Origin != "" {
			ds.Source += " (" + ds.Origin + ")"
		}
		s.logf("loaded from %s in %v: %d train, %d test", desc, time.Since(start).Round(time.Millisecond), ds.Train.N, ds.Test.N)
		return ds, nil
	}
	return nil, &LoadError{Dataset: s.sp.name, Attempts: attempts, Hint: s.sp.hint}
}

// Fetch makes the verified files of a dataset present in the cache and returns that folder,
// <cache>/<name>. A complete cache is checked by its markers and returned at once; otherwise
// the local folder, the download and the offline routes are tried in Load's order. Fetch
// always verifies checksums (Options.SkipChecksum does not apply): the cache holds only
// canonical files.
func Fetch(name string, opt Options) (dir string, err error) {
	s, err := newSession(name, opt)
	if err != nil {
		return "", err
	}
	if s.cacheErr != nil {
		return "", fmt.Errorf("data: fetch %s: %w", s.sp.name, s.cacheErr)
	}
	srcs := []source{s.cacheSource(false)}
	srcs = append(srcs, s.localSources(true)...)
	srcs = append(srcs, s.downloadSource())
	srcs = append(srcs, s.offlineSources()...)

	var attempts []Attempt
	for _, src := range srcs {
		fs, desc, err := src.get()
		if err == nil && !src.cache {
			// Decode before caching, so structurally broken files never reach the cache.
			if _, err = s.sp.build(fs); err == nil {
				err = s.sp.storeCache(s.cacheDir, fs)
			}
		}
		if err != nil {
			attempts = append(attempts, Attempt{src.what, err})
			continue
		}
		s.logf("%s ready in %s (from %s)", s.sp.name, s.cacheDir, desc)
		return s.cacheDir, nil
	}
	return "", &LoadError{Dataset: s.sp.name, Attempts: attempts, Hint: s.sp.hint}
}
