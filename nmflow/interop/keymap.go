package interop

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/nmflow/nmflow/nmflow/arch"
)

// ParseKeyMap reads a hand-stated mapping (MapOptions.Keys, the --map flag): comma-separated
// key=segment pairs ("0.weight=fc1.weight,0.bias=fc1.bias", or per module "net.fc_in=fc1"), or
// the name of a file holding such pairs one per line ('#' starts a comment) or a JSON object.
func ParseKeyMap(s string) (map[string]string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	text, sep := s, ","
	if st, err := os.Stat(s); err == nil && !st.IsDir() {
		b, err := os.ReadFile(s)
		if err != nil {
			return nil, fmt.Errorf("interop: mapping file: %w", err)
		}
		text, sep = string(b), "\n"
		if t := strings.TrimSpace(text); strings.HasPrefix(t, "{") {
			var m map[string]string
			if err := json.Unmarshal([]byte(t), &m); err != nil {
				return nil, fmt.Errorf("interop: mapping file %s: %v (want a JSON object of key: segment strings, or key=segment lines)", s, err)
			}
			return m, nil
		}
	} else if !strings.Contains(s, "=") {
		return nil, fmt.Errorf("interop: mapping %q is neither a file nor key=segment pairs (e.g. '0.weight=fc1.weight,0.bias=fc1.bias' or 'net.fc_in=fc1')", s)
	}
	out := map[string]string{}
	for i, line := range strings.Split(text, sep) {
		line, _, _ = strings.Cut(line, "#")
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" || v == "" {
			return nil, fmt.Errorf("interop: mapping entry %d %q: want key=segment (e.g. 0.weight=fc1.weight or net.fc_in=fc1)", i+1, line)
		}
		if prev, dup := out[k]; dup && prev != v {
			return nil, fmt.Errorf("interop: mapping names %s twice (%s and %s)", k, prev, v)
		}
		out[k] = v
	}
	return out, nil
}

// resolveKeys turns a hand-stated mapping into segment index → full tensor name.
func resolveKeys(sd *StateDict, l arch.Layout, keys map[string]string) (map[int]string, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	segIdx := map[string]int{}
	layers := map[string]bool{}
	for i, s := range l.Segments {
		segIdx[s.Name] = i
		layers[module(s.Name)] = true
	}
	out := map[int]string{}
	set := func(seg int, key string) error {
		if prev, dup := out[seg]; dup && prev != key {
			return fmt.Errorf("interop: --map gives %s both %s and %s", l.Segments[seg].Name, prev, key)
		}
		for s, k := range out {
			if k == key && s != seg {
				return fmt.Errorf("interop: --map gives %s to both %s and %s", key, l.Segments[s].Name, l.Segments[seg].Name)
			}
		}
		out[seg] = key
		return nil
	}
	for _, k := range sortedKeys(keys) {
		target := keys[k]
		if i, ok := segIdx[target]; ok {
			name, err := findKey(sd, k)
			if err != nil {
				return nil, err
			}
			if err := set(i, name); err != nil {
				return nil, err
			}
			continue
		}
		if !layers[target] {
			return nil, fmt.Errorf("interop: --map %s=%s: the architecture has no segment or layer %q (it has %s)", k, target, target, strings.Join(layoutNames(l), ", "))
		}
		// A module → a layer: its weight and bias.
		for i, s := range l.Segments {
			if module(s.Name) != target {
				continue
			}
			var name string
			var err error
			for _, suffix := range suffixes(s.Kind) {
				if name, err = findKey(sd, k+"."+suffix); err == nil {
					break
				}
			}
			if err != nil {
				return nil, fmt.Errorf("interop: --map %s=%s: no tensor %s.%s in %s", k, target, k, suffixes(s.Kind)[0], sd.Path)
			}
			if err := set(i, name); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

func suffixes(k arch.Kind) []string {
	if k == arch.Bias {
		return []string{"bias", "biases"}
	}
	return []string{"weight", "weights", "kernel"}
}

func layoutNames(l arch.Layout) []string {
	var out []string
	for _, s := range l.Segments {
		out = append(out, s.Name)
	}
	return out
}

// findKey finds a tensor by its full name or, when unique, by its name under some prefix.
func findKey(sd *StateDict, key string) (string, error) {
	if _, ok := sd.Tensors[key]; ok {
		return key, nil
	}
	var found []string
	for _, n := range sd.Names {
		if strings.HasSuffix(n, "."+key) {
			found = append(found, n)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		have := sd.Names[:min(8, len(sd.Names))]
		return "", fmt.Errorf("interop: the mapping names %q, which %s does not hold (it has %s)", key, sd.Path, strings.Join(have, ", "))
	}
	sort.Strings(found)
	return "", fmt.Errorf("interop: the mapping names %q, which several tensors of %s end with (%s): give the full key", key, sd.Path, strings.Join(found, ", "))
}
