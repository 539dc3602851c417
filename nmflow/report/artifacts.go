package report

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/nmflow/nmflow/nmflow/traj"
)

// outPathPrefix finds nb.OutPath("prefix" — names built at run time start with such a literal.
var outPathPrefix = regexp.MustCompile(`OutPath\("([^"]+)"`)

// findArtifacts lists the entries of dir the notebook text names (or all of them) with metadata.
func findArtifacts(dir, text string, all bool) ([]Artifact, error) {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var prefixes []string
	for _, m := range outPathPrefix.FindAllStringSubmatch(text, -1) {
		prefixes = append(prefixes, m[1])
	}
	var out []Artifact
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".state") {
			continue
		}
		used := all || mentions(text, name)
		for _, p := range prefixes {
			used = used || strings.HasPrefix(name, p)
		}
		if !used {
			continue
		}
		a, err := describeArtifact(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// mentions reports whether text names the file: name not preceded by another file-name character
// (so "t02-zoo.safetensors" does not count as naming "02-zoo.safetensors").
func mentions(text, name string) bool {
	for i := strings.Index(text, name); i >= 0; {
		if i == 0 || !strings.ContainsRune("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-", rune(text[i-1])) {
			return true
		}
		j := strings.Index(text[i+1:], name)
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return false
}

func describeArtifact(path string) (Artifact, error) {
	a := Artifact{Name: filepath.Base(path), Info: map[string]string{}}
	st, err := os.Stat(path)
	if err != nil {
		return a, err
	}
	if st.IsDir() {
		a.Kind = "folder"
		err := filepath.WalkDir(path, func(_ string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				if i, e := d.Info(); e == nil {
					a.Bytes += i.Size()
				}
			}
			return err
		})
		if err != nil {
			return a, err
		}
		if b, err := os.ReadFile(filepath.Join(path, "model.json")); err == nil {
			a.Kind = "model"
			modelInfo(b, a.Info)
		}
		return a, nil
	}
	a.Bytes = st.Size()
	if strings.HasSuffix(path, ".safetensors") {
		if a.DataSHA256, err = TensorDataHash(path); err == nil {
			a.Kind = "safetensors"
			if m, err := traj.ReadMeta(path); err == nil {
				a.Kind = m.Kind
				metaInfo(m, a.Info)
			}
			return a, nil
		}
		// Named .safetensors but not one: reported as a plain file, with why.
		a.Info["error"] = err.Error()
	}
	a.Kind = "file"
	b, err := os.ReadFile(path)
	if err != nil {
		return a, err
	}
	a.SHA256 = sha256Hex(b)
	return a, nil
}

// metaInfo picks what reproduces a trajectory or generated-weights file.
func metaInfo(m traj.Meta, info map[string]string) {
	set := func(k, v string) {
		if v != "" && v != "0" {
			info[k] = v
		}
	}
	set("nmflow", m.NmflowVersion)
	set("gomlx", m.GoMLXVersion)
	set("backend", m.Backend)
	set("created", m.Created)
	set("arch", m.Arch.String())
	set("parameters", fmt.Sprint(m.Layout.Size()))
	set("init", m.Init)
	set("dataset", m.Dataset.Name)
	set("seed", fmt.Sprint(m.Seed))
	if len(m.RunSeeds) > 0 {
		info["run_seeds"] = fmt.Sprintf("%d seeds, first %d", len(m.RunSeeds), m.RunSeeds[0])
	}
	if m.Optimizer.Name != "" {
		info["optimizer"] = fmt.Sprintf("%s lr %g momentum %g, batch %d, %d epochs", m.Optimizer.Name, m.Optimizer.LR,
			m.Optimizer.Momentum, m.Optimizer.BatchSize, m.Optimizer.Epochs)
	}
	for k, v := range m.Extra {
		info[k] = v
	}
}

// modelInfo reads the parts of a meta-model's model.json that identify the fit.
func modelInfo(b []byte, info map[string]string) {
	var m struct {
		Nmflow   string          `json:"nmflow_version"`
		GoMLX    string          `json:"gomlx_version"`
		Backend  string          `json:"backend"`
		Created  string          `json:"created"`
		Config   json.RawMessage `json:"config"`
		Steps    int             `json:"steps_done"`
		Wall     float64         `json:"wall_seconds"`
		History  []float64       `json:"loss_history"`
		BaseInfo struct {
			ZooSeed uint64 `json:"zoo_seed"`
			Runs    int    `json:"runs"`
		} `json:"base"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		info["error"] = "model.json: " + err.Error()
		return
	}
	info["nmflow"], info["gomlx"], info["backend"], info["created"] = m.Nmflow, m.GoMLX, m.Backend, m.Created
	info["config"] = string(m.Config)
	var cfg struct {
		Seed uint64 `json:"seed"`
	}
	if json.Unmarshal(m.Config, &cfg) == nil {
		info["seed"] = fmt.Sprint(cfg.Seed)
	}
	info["steps"] = fmt.Sprint(m.Steps)
	info["wall_seconds"] = fmt.Sprintf("%.1f", m.Wall)
	info["zoo_seed"] = fmt.Sprint(m.BaseInfo.ZooSeed)
	if n := len(m.History); n > 0 {
		info["final_loss"] = fmt.Sprintf("%.6g", m.History[n-1])
	}
}

// TensorDataHash is the SHA-256 of a safetensors file's tensor bytes, those after its header
// (8-byte little-endian length, JSON): files with bit-identical numbers hash alike though their
// headers record different creation times.
func TensorDataHash(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var n uint64
	if err := binary.Read(f, binary.LittleEndian, &n); err != nil {
		return "", fmt.Errorf("%s: not a safetensors file: %w", path, err)
	}
	if st, err := f.Stat(); err != nil {
		return "", err
	} else if n > uint64(st.Size()-8) {
		return "", fmt.Errorf("%s: not a safetensors file: its header would be %d bytes, the file holds %d", path, n, st.Size())
	}
	if _, err := f.Seek(int64(n), io.SeekCurrent); err != nil {
		return "", err
	}
	h := sha256.New()
	if _, err := io.Copy(h, bufio.NewReader(f)); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// copyPath copies a file or a folder tree.
func copyPath(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		return traj.WriteAtomic(target, func(w io.Writer) error { _, err := io.Copy(w, f); return err })
	})
}
