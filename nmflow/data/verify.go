package data

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// fileSet maps canonical file names to their decompressed content.
type fileSet map[string][]byte

// missing lists the dataset's files absent from fs, in canonical order.
func (sp *spec) missing(fs fileSet) []string {
	var out []string
	for _, f := range sp.files {
		if _, ok := fs[f.name]; !ok {
			out = append(out, f.name)
		}
	}
	return out
}

// ErrChecksum marks a file whose decompressed size or MD5 is not the canonical one.
var ErrChecksum = errors.New("checksum mismatch")

// ChecksumError says which file failed verification, with expected and actual values.
type ChecksumError struct {
	File                  string // canonical file name
	Path                  string // where it was read from
	WantSize, GotSize     int64  // decompressed sizes; GotSize -1 means "larger than WantSize"
	WantMD5, GotMD5       string // hex MD5s of the decompressed content; empty if the size already differs
	WantSHA256, GotSHA256 string // hex SHA-256s, set only when the MD5 matched and the SHA-256 did not
}

func (e *ChecksumError) Error() string {
	if e.GotSize < 0 {
		return fmt.Sprintf("%s (%s): more than %d bytes after decompression: not the canonical file", e.File, e.Path, e.WantSize)
	}
	if e.WantSize != e.GotSize {
		return fmt.Sprintf("%s (%s): %d bytes after decompression, want %d: truncated, corrupt or not the canonical file",
			e.File, e.Path, e.GotSize, e.WantSize)
	}
	what := "corrupt or not the canonical file"
	if e.GotSHA256 != "" {
		return fmt.Sprintf("%s (%s): SHA-256 of the content is %s, want %s: %s", e.File, e.Path, e.GotSHA256, e.WantSHA256, what)
	}
	if other := knownFile(e.GotMD5); other != "" {
		what = "it is " + other // e.g. Fashion-MNIST's files where MNIST's were expected
	}
	return fmt.Sprintf("%s (%s): MD5 of the decompressed content is %s, want %s: %s",
		e.File, e.Path, e.GotMD5, e.WantMD5, what)
}

// knownFile names the registry file with this MD5 ("fashion-mnist's t10k-images-idx3-ubyte"), or "".
func knownFile(sum string) string {
	for _, sp := range specs {
		for v := sp; v != nil; v = v.alt {
			for _, f := range v.files {
				if f.md5 == sum {
					return v.name + "'s " + f.name
				}
			}
		}
	}
	return ""
}

// Is makes errors.Is(err, ErrChecksum) true.
func (e *ChecksumError) Is(target error) bool { return target == ErrChecksum }

func md5hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

// checkContent verifies decompressed content against the canonical size, then MD5, then
// SHA-256 where the file has one.
func checkContent(f fileSpec, b []byte, from string) error {
	if int64(len(b)) != f.size {
		return &ChecksumError{File: f.name, Path: from, WantSize: f.size, GotSize: int64(len(b))}
	}
	if got := md5hex(b); got != f.md5 {
		return &ChecksumError{File: f.name, Path: from, WantSize: f.size, GotSize: f.size, WantMD5: f.md5, GotMD5: got}
	}
	if f.sha256 != "" {
		if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != f.sha256 {
			return &ChecksumError{File: f.name, Path: from, WantSize: f.size, GotSize: f.size, WantMD5: f.md5, GotMD5: f.md5,
				WantSHA256: f.sha256, GotSHA256: hex.EncodeToString(sum[:])}
		}
	}
	return nil
}

// stamp identifies a file version cheaply: its size and modification time.
type stamp struct {
	size  int64
	mtime int64 // nanoseconds
}

func stampOf(fi os.FileInfo) stamp { return stamp{fi.Size(), fi.ModTime().UnixNano()} }

// verifiedInProcess remembers local files already verified by this process (path → stamp and
// MD5), so a notebook calling Load repeatedly on a read-only folder hashes each file once.
var verifiedInProcess sync.Map

type verifiedEntry struct {
	stamp
	md5 string
}

// locate returns the path of an accepted variant of f's name in dir: raw or .gz, and the
// "train-images.idx3-ubyte" spelling some distributions use. "" if none is a regular file.
func locate(dir string, f fileSpec) string {
	names := []string{f.name, f.name + ".gz"}
	if alt := strings.Replace(f.name, "-idx", ".idx", 1); alt != f.name {
		names = append(names, alt, alt+".gz")
	}
	for _, n := range names {
		p := filepath.Join(dir, n)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	return ""
}

// errNoFiles says a folder holds none of the dataset's files (as opposed to a bad copy).
var errNoFiles = errors.New("none of the dataset's files")

// readFolder reads all the dataset's files from dir (raw or gzipped, or CIFAR's tar.gz),
// verifying them unless verify is false. A folder holding none of them may hold sp.alt's.
func (sp *spec) readFolder(dir string, verify bool) (fileSet, error) {
	fs, err := sp.readFolderFiles(dir, verify)
	if errors.Is(err, errNoFiles) && sp.alt != nil {
		return sp.alt.readFolder(dir, verify)
	}
	return fs, err
}

func (sp *spec) readFolderFiles(dir string, verify bool) (fileSet, error) {
	paths := make([]string, len(sp.files))
	var missing []string
	for i, f := range sp.files {
		if paths[i] = locate(dir, f); paths[i] == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) == len(sp.files) {
		if sp.archiveName != "" {
			if p := filepath.Join(dir, sp.archiveName); isFile(p) {
				fh, err := os.Open(p)
				if err != nil {
					return nil, err
				}
				defer fh.Close()
				return sp.readArchive(fh, verify, p)
			}
		}
		return nil, errNoFiles
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%s is incomplete: missing %s", dir, strings.Join(missing, ", "))
	}
	contents := make([][]byte, len(sp.files))
	// Files are independent: decompressing and hashing them in parallel hides the big one's cost.
	err := parallel(len(sp.files), func(i int) error {
		var err error
		contents[i], err = readFile(paths[i], sp.files[i], verify)
		return err
	})
	if err != nil {
		return nil, err
	}
	fs := fileSet{}
	for i, f := range sp.files {
		fs[f.name] = contents[i]
	}
	return fs, nil
}

// readFile reads one file, decompressing it if it is gzipped, and verifies it if asked.
func readFile(p string, f fileSpec, verify bool) ([]byte, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	b := raw
	if isGzip(raw) {
		limit := int64(maxUnverified)
		if verify {
			limit = f.size // one byte more is enough to tell "too long"
		}
		if b, err = gunzip(raw, limit); err != nil {
			if verify && errors.Is(err, errTooLong) {
				return nil, &ChecksumError{File: f.name, Path: p, WantSize: f.size, GotSize: -1}
			}
			return nil, fmt.Errorf("%s: %w", p, err)
		}
	}
	if !verify {
		return b, nil
	}
	st := stampOf(fi)
	if v, ok := verifiedInProcess.Load(p); ok {
		if e := v.(verifiedEntry); e.stamp == st && e.md5 == f.md5 && int64(len(b)) == f.size {
			return b, nil
		}
	}
	if err := checkContent(f, b, p); err != nil {
		return nil, err
	}
	verifiedInProcess.Store(p, verifiedEntry{st, f.md5})
	return b, nil
}

// parallel runs fn(0..n-1) concurrently and joins the errors in index order.
func parallel(n int, fn func(i int) error) error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = fn(i) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// The cache holds each file decompressed, as <cache>/<dataset>/<file>, next to a marker
// <file>.verified recording the stamp and MD5 it was verified with. A matching marker lets
// Load skip the MD5 pass; any change to the file (size or mtime) forces a new one.

const markerSuffix = ".verified"

func formatMarker(st stamp, sum string) []byte {
	return fmt.Appendf(nil, "size %d\nmtime %d\nmd5 %s\n", st.size, st.mtime, sum)
}

// markerOK reports whether p's marker vouches for the file with stamp st and MD5 want.
func markerOK(p string, st stamp, want string) bool {
	b, err := os.ReadFile(p + markerSuffix)
	if err != nil {
		return false
	}
	var got stamp
	var sum string
	for line := range strings.Lines(string(b)) {
		k, v, _ := strings.Cut(strings.TrimSpace(line), " ")
		switch k {
		case "size":
			got.size, _ = strconv.ParseInt(v, 10, 64)
		case "mtime":
			got.mtime, _ = strconv.ParseInt(v, 10, 64)
		case "md5":
			sum = v
		}
	}
	return got == st && sum == want
}

// readCache returns the cached files; with read false it only checks they are there and
// verified (Fetch), returning an empty set. A cached file that fails verification is removed,
// since the cache is ours and a fresh copy must be able to replace it. A cache holding none of
// the files may hold sp.alt's.
func (sp *spec) readCache(dir string, read bool) (fileSet, error) {
	fs, err := sp.readCacheFiles(dir, read)
	if errors.Is(err, errNoFiles) && sp.alt != nil {
		return sp.alt.readCache(dir, read)
	}
	return fs, err
}

func (sp *spec) readCacheFiles(dir string, read bool) (fileSet, error) {
	fs := fileSet{}
	var missing []string
	var errs []error
	for _, f := range sp.files {
		p := filepath.Join(dir, f.name)
		fi, err := os.Stat(p)
		if err != nil {
			missing = append(missing, f.name)
			continue
		}
		st := stampOf(fi)
		trusted := st.size == f.size && markerOK(p, st, f.md5)
		if trusted && !read {
			continue
		}
		b, err := os.ReadFile(p)
		if err == nil && int64(len(b)) != st.size {
			trusted = false // changed under us
		}
		if err == nil && !trusted {
			if err = checkContent(f, b, p); err != nil {
				os.Remove(p)
				os.Remove(p + markerSuffix)
				err = fmt.Errorf("%w (removed from the cache)", err)
			} else {
				_ = writeAtomic(dir, f.name+markerSuffix, formatMarker(st, f.md5)) // best effort
			}
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if read {
			fs[f.name] = b
		}
	}
	if len(missing) == len(sp.files) {
		return nil, errNoFiles
	}
	if len(missing) > 0 {
		errs = append(errs, fmt.Errorf("missing %s", strings.Join(missing, ", ")))
	}
	return fs, errors.Join(errs...)
}

// storeCache writes verified files into dir, each atomically (temporary file in the same
// folder, then rename), followed by its marker, so readers never see a partial file.
func (sp *spec) storeCache(dir string, fs fileSet) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, f := range sp.variant(fs).files {
		b, ok := fs[f.name]
		if !ok {
			return fmt.Errorf("internal: %s not loaded", f.name)
		}
		if err := writeAtomic(dir, f.name, b); err != nil {
			return err
		}
		fi, err := os.Stat(filepath.Join(dir, f.name))
		if err != nil {
			return err
		}
		if err := writeAtomic(dir, f.name+markerSuffix, formatMarker(stampOf(fi), f.md5)); err != nil {
			return err
		}
	}
	return nil
}

func writeAtomic(dir, name string, b []byte) (err error) {
	tmp, err := os.CreateTemp(dir, "."+name+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(b); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Chmod(0o644); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(dir, name))
}
