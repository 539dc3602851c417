package traj

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nmflow/nmflow/nmflow"
	"github.com/nmflow/nmflow/nmflow/arch"
)

// Tensor names and plain-string __metadata__ keys of the container.
const (
	TensorWeights = "weights"
	TensorSteps   = "steps"

	// MetaKeyNmflow holds the JSON of Meta; the other keys duplicate a few of its fields as plain
	// strings for tools that only list metadata.
	MetaKeyNmflow        = "nmflow"
	MetaKeyFormat        = "format"
	MetaKeyFormatVersion = "format_version"
	MetaKeyKind          = "kind"
	MetaKeyArch          = "arch"
	MetaKeyDataset       = "dataset"
	MetaKeySeed          = "seed"
	MetaKeyBackend       = "backend"
	MetaKeyNmflowVersion = "nmflow_version"
	MetaKeyCreated       = "created"
	// MetaKeySHA256 is the Checksum of the file's tensors, verified on every read.
	MetaKeySHA256 = "sha256"
)

// Check verifies that sizes agree with each other and with the Layout.
func (g *Generated) Check() error {
	if g.N <= 0 || g.P <= 0 {
		return fmt.Errorf("traj: generated weights have N=%d, P=%d; both must be positive", g.N, g.P)
	}
	if n := g.N * g.P; len(g.Weights) != n {
		return fmt.Errorf("traj: generated weights have %d values, want N*P = %d", len(g.Weights), n)
	}
	if p := g.Meta.Layout.Size(); p != 0 && p != g.P {
		return fmt.Errorf("traj: layout describes P=%d parameters, weights have P=%d", p, g.P)
	}
	return nil
}

// WriteZoo writes z to path atomically. It first fills z.Meta's Format, FormatVersion and Kind
// (and Created, NmflowVersion, GoMLXVersion when empty), so after a successful write z.Meta equals
// what ReadZoo returns. It refuses anything ReadZoo would reject (non-finite weights, sizes that
// disagree, a missing layout), so bad data fails when produced, not when consumed.
func WriteZoo(path string, z *Zoo) error {
	if z == nil {
		return fmt.Errorf("traj: writing %s: nil zoo", path)
	}
	if err := fillMeta(&z.Meta, KindZoo); err != nil {
		return fmt.Errorf("traj: writing %s: %w", path, err)
	}
	if err := checkZoo(z); err != nil {
		return fmt.Errorf("traj: writing %s: %w", path, err)
	}
	metrics := make([]string, 0, len(z.Metrics))
	for name := range z.Metrics {
		if name == "" || name == TensorWeights || name == TensorSteps || name == metadataKey {
			return fmt.Errorf("traj: writing %s: invalid metric name %q", path, name)
		}
		metrics = append(metrics, name)
	}
	sort.Strings(metrics)
	meta, err := encodeMeta(&z.Meta)
	if err != nil {
		return fmt.Errorf("traj: writing %s: %w", path, err)
	}
	r, k, p := z.Runs, z.Checkpoints, z.Params
	tensors := map[string]Tensor{
		TensorSteps:   I64Tensor([]int{k}, z.Steps),
		TensorWeights: F32Tensor([]int{r, k, p}, z.Weights),
	}
	// steps (8 bytes each) first so weights and everything after stay 8-byte aligned.
	order := []string{TensorSteps, TensorWeights}
	for _, name := range metrics {
		tensors[name] = F32Tensor([]int{r, k}, z.Metrics[name])
		order = append(order, name)
	}
	meta[MetaKeySHA256] = Checksum(tensors)
	return WriteSafetensors(path, tensors, order, meta)
}

// WriteGenerated writes g to path atomically; it fills g.Meta like WriteZoo does.
func WriteGenerated(path string, g *Generated) error {
	if g == nil {
		return fmt.Errorf("traj: writing %s: nil generated weights", path)
	}
	if err := fillMeta(&g.Meta, KindGenerated); err != nil {
		return fmt.Errorf("traj: writing %s: %w", path, err)
	}
	if err := checkGenerated(g); err != nil {
		return fmt.Errorf("traj: writing %s: %w", path, err)
	}
	meta, err := encodeMeta(&g.Meta)
	if err != nil {
		return fmt.Errorf("traj: writing %s: %w", path, err)
	}
	tensors := map[string]Tensor{TensorWeights: F32Tensor([]int{g.N, g.P}, g.Weights)}
	meta[MetaKeySHA256] = Checksum(tensors)
	return WriteSafetensors(path, tensors, []string{TensorWeights}, meta)
}

// ReadZoo reads and validates a zoo file.
func ReadZoo(path string) (*Zoo, error) {
	tensors, raw, err := ReadSafetensors(path)
	if err != nil {
		return nil, err
	}
	m, err := decodeMeta(path, raw, KindZoo)
	if err != nil {
		return nil, err
	}
	z, err := decodeZoo(path, tensors, m)
	if err != nil {
		return nil, err
	}
	if err := verify(path, tensors, raw); err != nil { // after the checks with more specific messages
		return nil, err
	}
	return z, nil
}

// ReadGenerated reads and validates a file of generated weights.
func ReadGenerated(path string) (*Generated, error) {
	tensors, raw, err := ReadSafetensors(path)
	if err != nil {
		return nil, err
	}
	m, err := decodeMeta(path, raw, KindGenerated)
	if err != nil {
		return nil, err
	}
	g, err := decodeGenerated(path, tensors, m)
	if err != nil {
		return nil, err
	}
	if err := verify(path, tensors, raw); err != nil {
		return nil, err
	}
	return g, nil
}

// ReadNets reads the nets of either kind of file: a generated file's, or a zoo's at its last
// checkpoint (Zoo.Final), e.g. to score a zoo's trained nets like generated ones.
func ReadNets(path string) (*Generated, error) {
	m, err := ReadMeta(path)
	if err != nil {
		return nil, err
	}
	if m.Kind != KindZoo {
		return ReadGenerated(path)
	}
	z, err := ReadZoo(path)
	if err != nil {
		return nil, err
	}
	return z.Final(), nil
}

// ReadWeights reads either kind of file as a flat [n, p] matrix of nets, one per row. For a
// generated file n = N. For a zoo n = R*(K+1): every checkpoint of every run, run-major, so row
// r*(K+1)+k is run r at checkpoint k (use ReadZoo to tell checkpoints or steps apart).
func ReadWeights(path string) (weights []float32, n, p int, meta Meta, err error) {
	tensors, raw, err := ReadSafetensors(path)
	if err != nil {
		return nil, 0, 0, Meta{}, err
	}
	m, err := decodeMeta(path, raw, "")
	if err != nil {
		return nil, 0, 0, Meta{}, err
	}
	if m.Kind == KindZoo {
		z, err := decodeZoo(path, tensors, m)
		if err == nil {
			err = verify(path, tensors, raw)
		}
		if err != nil {
			return nil, 0, 0, Meta{}, err
		}
		return z.Weights, z.Runs * z.Checkpoints, z.Params, z.Meta, nil
	}
	g, err := decodeGenerated(path, tensors, m)
	if err == nil {
		err = verify(path, tensors, raw)
	}
	if err != nil {
		return nil, 0, 0, Meta{}, err
	}
	return g.Weights, g.N, g.P, g.Meta, nil
}

// ReadMeta reads only the metadata of a file of either kind, without loading the tensors.
func ReadMeta(path string) (Meta, error) {
	raw, err := headerOnly(path)
	if err != nil {
		return Meta{}, err
	}
	return decodeMeta(path, raw, "")
}

func fillMeta(m *Meta, kind string) error {
	m.Format, m.FormatVersion, m.Kind = FormatName, FormatVersion, kind
	if m.Created == "" {
		m.Created = time.Now().UTC().Format(time.RFC3339)
	}
	if m.NmflowVersion == "" {
		m.NmflowVersion = nmflow.Version
	}
	if m.GoMLXVersion == "" {
		m.GoMLXVersion = nmflow.GoMLXVersion
	}
	// Every consumer needs the layout to give the flat vector meaning, so it is mandatory.
	if err := m.Layout.Validate(); err != nil {
		return fmt.Errorf("meta.Layout is required and must be valid: %w", err)
	}
	return nil
}

func encodeMeta(m *Meta) (map[string]string, error) {
	j, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encoding metadata: %w", err)
	}
	return map[string]string{
		MetaKeyFormat:        m.Format,
		MetaKeyFormatVersion: strconv.Itoa(m.FormatVersion),
		MetaKeyKind:          m.Kind,
		MetaKeyNmflow:        string(j),
		MetaKeyArch:          m.Arch.String(),
		MetaKeyDataset:       m.Dataset.Name,
		MetaKeySeed:          strconv.FormatUint(m.Seed, 10),
		MetaKeyBackend:       m.Backend,
		MetaKeyNmflowVersion: m.NmflowVersion,
		MetaKeyCreated:       m.Created,
	}, nil
}

// decodeMeta checks the plain keys before parsing the JSON so a foreign or newer file fails
// with a message about that, not about some field it cannot parse. wantKind "" accepts both.
func decodeMeta(path string, raw map[string]string, wantKind string) (Meta, error) {
	fail := func(format string, a ...any) (Meta, error) {
		return Meta{}, fmt.Errorf("traj: file %s "+format, append([]any{path}, a...)...)
	}
	format, ok := raw[MetaKeyFormat]
	if !ok {
		return fail("is not an nmflow trajectory file (no %q in __metadata__)", MetaKeyFormat)
	}
	if format != FormatName {
		return fail("has format %q, want %q", format, FormatName)
	}
	v, err := strconv.Atoi(raw[MetaKeyFormatVersion])
	if err != nil || v < 1 {
		return fail("has invalid format_version %q", raw[MetaKeyFormatVersion])
	}
	if v > FormatVersion {
		return fail("has format_version %d, newer than this nmflow reads (%d): upgrade nmflow", v, FormatVersion)
	}
	kind := raw[MetaKeyKind]
	switch {
	case kind != KindZoo && kind != KindGenerated:
		return fail("has unknown kind %q (want %q or %q)", kind, KindZoo, KindGenerated)
	case wantKind == KindZoo && kind == KindGenerated:
		return fail("holds generated weights (written by 'nmflow sample'), not a zoo (written by 'nmflow zoo' or 'nmflow import'; from Go, read generated weights with ReadGenerated)")
	case wantKind == KindGenerated && kind == KindZoo:
		return fail("holds a zoo (written by 'nmflow zoo' or 'nmflow import'), not generated weights (written by 'nmflow sample'; from Go, read a zoo with ReadZoo or ReadWeights)")
	}
	js, ok := raw[MetaKeyNmflow]
	if !ok {
		return fail("has no %q metadata", MetaKeyNmflow)
	}
	var m Meta
	// Unknown fields are ignored on purpose: adding optional fields does not bump the version.
	if err := json.Unmarshal([]byte(js), &m); err != nil {
		return fail("has invalid %q metadata: %v", MetaKeyNmflow, err)
	}
	if m.Format != format || m.FormatVersion != v || m.Kind != kind {
		return fail("has inconsistent metadata: plain keys say %s v%d %s, %q JSON says %s v%d %s",
			format, v, kind, MetaKeyNmflow, m.Format, m.FormatVersion, m.Kind)
	}
	if m.Layout.Size() == 0 {
		return fail("has no layout in its metadata")
	}
	if err := checkArchLayout(m); err != nil {
		return fail("has contradictory metadata: %v", err)
	}
	return m, nil
}

// Checksum is the SHA-256 (hex) of tensors: each one's name, dtype, shape and bytes, in name
// order. Trajectory files and zoo resume states record it so that flipped bytes are caught on read
// instead of silently changing a result.
func Checksum(tensors map[string]Tensor) string {
	names := make([]string, 0, len(tensors))
	for n := range tensors {
		names = append(names, n)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		t := tensors[n]
		fmt.Fprintf(h, "%s %s %v\n", n, t.DType, t.Shape)
		h.Write(t.Data)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// verify checks the recorded checksum; files written before checksums (or by other tools) have none.
func verify(path string, tensors map[string]Tensor, raw map[string]string) error {
	if want, ok := raw[MetaKeySHA256]; ok && want != Checksum(tensors) {
		return fmt.Errorf("traj: file %s is corrupt: its tensors do not match the checksum it was written with; restore it from a copy or produce it again", path)
	}
	return nil
}

// checkArchLayout cross-checks the two descriptions of the nets a file holds (arch.Spec.CheckLayout).
func checkArchLayout(m Meta) error {
	if err := m.Layout.Validate(); err != nil {
		return err
	}
	if m.Arch.Kind == "" {
		return nil // files from before arch was recorded carry the layout alone
	}
	return m.Arch.CheckLayout(m.Layout)
}

func decodeZoo(path string, tensors map[string]Tensor, m Meta) (*Zoo, error) {
	fail := func(format string, a ...any) (*Zoo, error) {
		return nil, fmt.Errorf("traj: zoo %s: "+format, append([]any{path}, a...)...)
	}
	wt, ok := tensors[TensorWeights]
	if !ok {
		return fail("missing tensor %q", TensorWeights)
	}
	if wt.DType != DTypeF32 || len(wt.Shape) != 3 {
		return fail("tensor %q is %s %v, want F32 [R, K+1, P]", TensorWeights, wt.DType, wt.Shape)
	}
	st, ok := tensors[TensorSteps]
	if !ok {
		return fail("missing tensor %q", TensorSteps)
	}
	z := &Zoo{Meta: m, Runs: wt.Shape[0], Checkpoints: wt.Shape[1], Params: wt.Shape[2], Metrics: map[string][]float32{}}
	if st.DType != DTypeI64 || len(st.Shape) != 1 || st.Shape[0] != z.Checkpoints {
		return fail("tensor %q is %s %v, want I64 [K+1] = [%d]", TensorSteps, st.DType, st.Shape, z.Checkpoints)
	}
	for name, t := range tensors {
		if name == TensorWeights || name == TensorSteps {
			continue
		}
		if t.DType != DTypeF32 || len(t.Shape) != 2 || t.Shape[0] != z.Runs || t.Shape[1] != z.Checkpoints {
			return fail("metric %q is %s %v, want F32 [R, K+1] = [%d, %d]", name, t.DType, t.Shape, z.Runs, z.Checkpoints)
		}
		z.Metrics[name], _ = t.Float32s()
	}
	// Validated above, so these cannot fail.
	z.Weights, _ = wt.Float32s()
	z.Steps, _ = st.Int64s()
	if err := checkZoo(z); err != nil {
		return fail("%v", strings.TrimPrefix(err.Error(), "traj: "))
	}
	return z, nil
}

func decodeGenerated(path string, tensors map[string]Tensor, m Meta) (*Generated, error) {
	fail := func(format string, a ...any) (*Generated, error) {
		return nil, fmt.Errorf("traj: generated weights %s: "+format, append([]any{path}, a...)...)
	}
	wt, ok := tensors[TensorWeights]
	if !ok {
		return fail("missing tensor %q", TensorWeights)
	}
	if wt.DType != DTypeF32 || len(wt.Shape) != 2 {
		return fail("tensor %q is %s %v, want F32 [N, P]", TensorWeights, wt.DType, wt.Shape)
	}
	for name := range tensors {
		if name != TensorWeights {
			return fail("unexpected tensor %q (a generated file holds only %q)", name, TensorWeights)
		}
	}
	g := &Generated{Meta: m, N: wt.Shape[0], P: wt.Shape[1]}
	g.Weights, _ = wt.Float32s()
	if err := checkGenerated(g); err != nil {
		return fail("%v", strings.TrimPrefix(err.Error(), "traj: "))
	}
	return g, nil
}

// checkZoo is Zoo.Check plus what the file format adds: a layout, run seeds per
// run, increasing steps and finite weights.
func checkZoo(z *Zoo) error {
	if err := z.Check(); err != nil {
		return err
	}
	if z.Meta.Layout.Size() == 0 { // Check allows it; a file does not
		return fmt.Errorf("traj: meta has no layout")
	}
	if n := len(z.Meta.RunSeeds); n != 0 && n != z.Runs {
		return fmt.Errorf("traj: meta has %d run seeds for R=%d runs", n, z.Runs)
	}
	for i, s := range z.Steps {
		if s < 0 || (i > 0 && s <= z.Steps[i-1]) {
			return fmt.Errorf("traj: steps must be non-negative and increasing, got %v", z.Steps)
		}
	}
	if i := FirstNonFinite(z.Weights); i >= 0 {
		r, k, p := i/(z.Checkpoints*z.Params), i/z.Params%z.Checkpoints, i%z.Params
		return fmt.Errorf("traj: weight at run %d, checkpoint %d, param %d (%s) is %v",
			r, k, p, paramName(z.Meta.Layout, p), z.Weights[i])
	}
	return nil
}

func checkGenerated(g *Generated) error {
	if err := g.Check(); err != nil {
		return err
	}
	if g.Meta.Layout.Size() == 0 {
		return fmt.Errorf("traj: meta has no layout")
	}
	if i := FirstNonFinite(g.Weights); i >= 0 {
		return fmt.Errorf("traj: weight at net %d, param %d (%s) is %v",
			i/g.P, i%g.P, paramName(g.Meta.Layout, i%g.P), g.Weights[i])
	}
	return nil
}

// FirstNonFinite returns the index of the first NaN or ±Inf in v, or -1 when all are finite.
func FirstNonFinite(v []float32) int {
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return i
		}
	}
	return -1
}

// paramName names flat index p by its segment and index, e.g. "fc1.weight[1,2]".
func paramName(l arch.Layout, p int) string {
	for _, s := range l.Segments {
		if p < s.Offset || p >= s.Offset+s.Size() {
			continue
		}
		idx := make([]string, len(s.Shape))
		rem := p - s.Offset
		for d := len(s.Shape) - 1; d >= 0; d-- {
			idx[d] = strconv.Itoa(rem % s.Shape[d])
			rem /= s.Shape[d]
		}
		return s.Name + "[" + strings.Join(idx, ",") + "]"
	}
	return "outside the layout"
}
