package backend

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/gomlx/compute"
	_ "github.com/gomlx/gomlx/backends/default" // registers "go" and, with cgo, "xla"
)

// noAutoInstallEnv is go-xla's switch against downloading PJRT plugins (see autoinstall.go).
const noAutoInstallEnv = "GOMLX_NO_AUTO_INSTALL"

// EnvBackend is the variable GoMLX itself reads ("go", "xla:cuda", "xla:/abs/plugin.so", ...).
const EnvBackend = "GOMLX_BACKEND"

// Info says which backend runs; it is recorded in every artifact's metadata.
type Info struct {
	// Config is the GOMLX_BACKEND-style string that created the backend, e.g. "go" or "xla:/…/plugin.so".
	Config string `json:"config"`
	// Name is the backend's own description, e.g. "Go Backend (parallelism=4)".
	Name string `json:"name"`
	// Reason tells why this backend was chosen ("GOMLX_BACKEND", "plugin found", "fallback").
	Reason string `json:"reason"`
}

func (i Info) String() string { return fmt.Sprintf("%s [%s; %s]", i.Name, i.Config, i.Reason) }

var (
	once    sync.Once
	shared  compute.Backend
	info    Info
	initErr error
	// Notice receives the one-line fallback notice; tests may silence it.
	Notice io.Writer = os.Stderr
)

// Default returns the process-wide backend, created on first use (see the package comment).
func Default() (compute.Backend, Info, error) {
	once.Do(func() { shared, info, initErr = New() })
	return shared, info, initErr
}

// MustDefault is Default for notebooks and examples: it panics with the error's explanation.
func MustDefault() compute.Backend {
	b, _, err := Default()
	if err != nil {
		panic(err)
	}
	return b
}

// Current describes the process-wide backend, creating it if needed ("unavailable: …" on error).
func Current() Info {
	_, i, err := Default()
	if err != nil {
		return Info{Config: os.Getenv(EnvBackend), Name: "unavailable: " + err.Error()}
	}
	return i
}

// New creates a fresh backend following the package's selection order.
func New() (compute.Backend, Info, error) {
	if cfg := strings.TrimSpace(os.Getenv(EnvBackend)); cfg != "" {
		b, err := newWithConfig(cfg)
		if err != nil {
			return nil, Info{}, fmt.Errorf("backend: GOMLX_BACKEND=%q failed: %w (unset it to fall back to the pure-Go backend, or set GOMLX_BACKEND=go)", cfg, err)
		}
		return b, Info{Config: cfg, Name: describe(cfg, b), Reason: "GOMLX_BACKEND"}, nil
	}
	var tried []string
	if registered("xla") {
		for _, cfg := range xlaCandidates() {
			setCUDADataDir(cfg)
			b, err := newWithConfig(cfg)
			if err == nil {
				return b, Info{Config: cfg, Name: b.Description(), Reason: "plugin found"}, nil
			}
			tried = append(tried, fmt.Sprintf("%s: %v", cfg, firstLine(err.Error())))
		}
	}
	b, err := newWithConfig("go")
	if err != nil {
		return nil, Info{}, fmt.Errorf("backend: pure-Go backend failed: %w", err)
	}
	// In GoNB every cell is a new process: the notice would repeat in each cell's output, and
	// notebooks show the backend themselves.
	if Notice != nil && os.Getenv("GONB_PIPE") == "" {
		why := "no PJRT plugin found"
		if len(tried) > 0 {
			why = "XLA failed (" + strings.Join(tried, "; ") + ")"
		}
		fmt.Fprintf(Notice, "nmflow: using the pure-Go backend: %s; for a GPU set GOMLX_BACKEND=xla:/abs/path/xla_cuda_plugin.so or PJRT_PLUGIN_LIBRARY_PATH (see README, \"GPU\")\n", why)
	}
	return b, Info{Config: "go", Name: describe("go", b), Reason: "fallback"}, nil
}

// newWithConfig is compute.NewWithConfig with its panics (an unknown backend name panics there)
// turned into errors, so a typo in GOMLX_BACKEND never shows a stack trace.
func newWithConfig(cfg string) (b compute.Backend, err error) {
	defer func() {
		if r := recover(); r != nil {
			b, err = nil, fmt.Errorf("%s", firstLine(fmt.Sprint(r)))
		}
	}()
	if isGo(cfg) {
		// Before the first graph: DotGeneral nodes keep the implementation found when built.
		installGEMM()
	}
	return compute.NewWithConfig(cfg)
}

// describe is the backend's own description, plus which float32 matmul the pure-Go backend runs.
func describe(cfg string, b compute.Backend) string {
	if isGo(cfg) {
		return b.Description() + "; " + installGEMM()
	}
	return b.Description()
}

// isGo reports whether cfg names the pure-Go backend, with or without options ("go:ops_sequential").
func isGo(cfg string) bool { return cfg == "go" || strings.HasPrefix(cfg, "go:") }

func registered(name string) bool {
	for _, n := range compute.List() {
		if n == name {
			return true
		}
	}
	return false
}

// xlaCandidates lists XLA configs worth trying, most specific first: plugins in go-xla's own search
// path (only if one exists there, since a search that finds nothing is an error anyway) and the CUDA
// plugin shipped inside an installed JAX, loaded by absolute path so that its RPATH resolves.
func xlaCandidates() []string {
	var out []string
	if len(PluginsInSearchPath()) > 0 {
		out = append(out, "xla")
	}
	if hasGPU() {
		out = append(out, JAXCUDAPlugins()...)
	}
	return out
}

// PluginsInSearchPath returns PJRT plugin files in go-xla's search folders.
func PluginsInSearchPath() []string {
	var dirs []string
	if p := os.Getenv("PJRT_PLUGIN_LIBRARY_PATH"); p != "" {
		dirs = append(dirs, filepath.SplitList(p)...)
	} else {
		home, _ := os.UserHomeDir()
		for _, d := range []string{".local/lib/go-xla", ".local/lib/go-xla/nvidia", ".local/lib/gomlx/pjrt"} {
			if home != "" {
				dirs = append(dirs, filepath.Join(home, d))
			}
		}
		dirs = append(dirs, "/usr/local/lib/go-xla", "/usr/local/lib/go-xla/nvidia", "/usr/local/lib/gomlx/pjrt")
	}
	var found []string
	for _, d := range dirs {
		for _, pat := range []string{"pjrt-plugin-*.so", "pjrt_plugin_*.so", "pjrt_c_api_*_plugin.so"} {
			m, _ := filepath.Glob(filepath.Join(d, pat))
			for _, f := range m {
				if strings.Contains(f, "cuda") && !hasGPU() {
					continue
				}
				found = append(found, f)
			}
		}
	}
	return found
}

// JAXCUDAPlugins finds jax_plugins/xla_cuda*/xla_cuda_plugin.so in Python site-packages folders
// (from the running python3 when available, plus the usual locations), newest CUDA first.
func JAXCUDAPlugins() []string {
	roots := map[string]bool{}
	if out, err := exec.Command("python3", "-c", "import site,sys;print('\\n'.join(site.getsitepackages()+[site.getusersitepackages()]+sys.path))").Output(); err == nil {
		for _, l := range strings.Split(string(out), "\n") {
			if l = strings.TrimSpace(l); l != "" {
				roots[l] = true
			}
		}
	}
	for _, pat := range []string{"/usr/local/lib/python3*/dist-packages", "/usr/local/lib/python3*/site-packages", "/usr/lib/python3/dist-packages", "/opt/conda/lib/python3*/site-packages", "/root/.local/lib/python3*/site-packages"} {
		m, _ := filepath.Glob(pat)
		for _, d := range m {
			roots[d] = true
		}
	}
	var found []string
	seen := map[string]bool{}
	for r := range roots {
		m, _ := filepath.Glob(filepath.Join(r, "jax_plugins", "xla_cuda*", "xla_cuda_plugin.so"))
		for _, f := range m {
			if abs, err := filepath.Abs(f); err == nil && !seen[abs] {
				seen[abs] = true
				found = append(found, "xla:"+abs)
			}
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(found)))
	return found
}

// setCUDADataDir points XLA at ptxas/libdevice from the nvidia-cuda-nvcc wheel next to a JAX plugin
// (site-packages/nvidia/cu*), unless XLA_FLAGS already names a CUDA data dir.
func setCUDADataDir(cfg string) {
	path, ok := strings.CutPrefix(cfg, "xla:")
	if !ok || !filepath.IsAbs(path) || strings.Contains(os.Getenv("XLA_FLAGS"), "xla_gpu_cuda_data_dir") {
		return
	}
	sitePackages := filepath.Dir(filepath.Dir(filepath.Dir(path)))
	dirs, _ := filepath.Glob(filepath.Join(sitePackages, "nvidia", "cu[0-9]*"))
	if len(dirs) == 0 {
		return
	}
	sort.Strings(dirs)
	flags := strings.TrimSpace(os.Getenv("XLA_FLAGS") + " --xla_gpu_cuda_data_dir=" + dirs[len(dirs)-1])
	_ = os.Setenv("XLA_FLAGS", flags)
}

func hasGPU() bool {
	m, _ := filepath.Glob("/dev/nvidia[0-9]*")
	return len(m) > 0
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
