package backend

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestNewHonoursEnv(t *testing.T) {
	t.Setenv(EnvBackend, "go")
	b, info, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Finalize()
	if info.Config != "go" || info.Reason != "GOMLX_BACKEND" || !strings.Contains(info.Name, "Go") {
		t.Fatalf("unexpected info %+v", info)
	}
}

func TestBadEnvIsAnErrorNotAPanic(t *testing.T) {
	t.Setenv(EnvBackend, "xla:/nonexistent/xla_cuda_plugin.so")
	_, _, err := New()
	if err == nil || !strings.Contains(err.Error(), "GOMLX_BACKEND") {
		t.Fatalf("want an error naming GOMLX_BACKEND, got %v", err)
	}
}

func TestFallbackToGoWithNotice(t *testing.T) {
	t.Setenv(EnvBackend, "")
	os.Unsetenv(EnvBackend)
	t.Setenv("PJRT_PLUGIN_LIBRARY_PATH", t.TempDir()) // an empty plugin folder
	var buf bytes.Buffer
	old := Notice
	Notice = &buf
	defer func() { Notice = old }()
	b, info, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Finalize()
	if len(JAXCUDAPlugins()) == 0 || !hasGPU() { // on a GPU machine XLA may legitimately win
		if info.Config != "go" || info.Reason != "fallback" {
			t.Fatalf("want go fallback, got %+v", info)
		}
		if !strings.Contains(buf.String(), "GOMLX_BACKEND=xla") {
			t.Fatalf("notice should say how to enable XLA, got %q", buf.String())
		}
	}
}

func TestPluginsInSearchPath(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "pjrt_c_api_cpu_plugin.so")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PJRT_PLUGIN_LIBRARY_PATH", dir)
	got := PluginsInSearchPath()
	if len(got) != 1 || got[0] != f {
		t.Fatalf("got %v, want [%s]", got, f)
	}
}

func TestUnknownBackendNameIsAnErrorNotAStackTrace(t *testing.T) {
	t.Setenv(EnvBackend, "foo")
	_, _, err := New()
	if err == nil || !strings.Contains(err.Error(), `GOMLX_BACKEND="foo"`) || !strings.Contains(err.Error(), "can't find backend") ||
		!strings.Contains(err.Error(), "GOMLX_BACKEND=go") {
		t.Fatalf("want an error naming the backend and the fix, got %v", err)
	}
}

// The variable is set by this package's init when the environment lacks it, in a child process
// started without it (this test binary's own environment has it from the Makefile).
func TestAutoInstallIsOffWithoutTheVariable(t *testing.T) {
	if os.Getenv("NMFLOW_AUTOINSTALL_CHILD") == "1" {
		if v, ok := os.LookupEnv(noAutoInstallEnv); !ok || v != "1" {
			t.Fatalf("in-process %s = %q, %v", noAutoInstallEnv, v, ok)
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^TestAutoInstallIsOffWithoutTheVariable$", "-test.v")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, noAutoInstallEnv+"=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "NMFLOW_AUTOINSTALL_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS") {
		t.Fatalf("child: %v\n%s", err, out)
	}
}
