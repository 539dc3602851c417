package backend

import (
	"bytes"
	"os"
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
