package interop

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/nmflow/nmflow/nmflow/arch"
	"github.com/nmflow/nmflow/nmflow/traj"
)

// NamesSource: the file's own key names (0.weight, net.fc_in.weight, classifier.bias, ...),
// matched to the layout by structure; Report.Matched and the imported zoo's metadata record them.
const NamesSource = "source"

// MapOptions tune Map.
type MapOptions struct {
	// Spec, when set, lets the name tie-breaks also recognize nn.Sequential index keys.
	Spec *arch.Spec
	// Prefix restricts the search to keys starting with it ("state_dict.", "module.", ...); empty
	// finds the state dict by itself.
	Prefix string
	// AllowUnexpected accepts tensors of the state dict that the layout does not use (they are still
	// reported); by default they are an error, as in load_state_dict(strict=True).
	AllowUnexpected bool
	// Keys states (part of) the mapping by hand, file key → layout segment ("0.weight" →
	// "fc1.weight"), or module → layer ("net.fc_in" → "fc1": its weight and bias). A key may omit
	// the file's wrapper prefix when that leaves it unique. See ParseKeyMap.
	Keys map[string]string
}

// Report says how a state dict was mapped onto a Layout.
type Report struct {
	Source string `json:"source"`
	// Prefix is the longest dotted prefix the mapped keys share ("model_state_dict.", "module.",
	// "state_dict.model.", or "" for a module with several children).
	Prefix string `json:"prefix"`
	// Container is the dict of the file that holds the state dict ("model_state_dict." in a
	// training-loop checkpoint, "" for a bare state_dict): Match.Source is the key under it.
	Container string `json:"container"`
	// Naming is NamesLayout or NamesSequential when every key (after Prefix) is such a name, else
	// NamesSource.
	Naming     string     `json:"naming"`
	Lead       []int      `json:"lead"` // leading (stacking) dims before each segment's shape
	Matched    []Match    `json:"matched"`
	Missing    []string   `json:"missing,omitempty"`    // layout segments with no tensor
	Mismatched []Mismatch `json:"mismatched,omitempty"` // found by name, but with another shape or dtype
	Unexpected []string   `json:"unexpected,omitempty"` // tensors of the state dict the layout lacks
	Ignored    []string   `json:"ignored,omitempty"`    // tensors outside it (optimizer state, ...)
	Numbers    []string   `json:"numbers,omitempty"`    // numbers saved beside the tensors (epoch, loss, ...)
	// Candidates lists the mappings that fit equally well when Map refuses to choose.
	Candidates [][]Match `json:"candidates,omitempty"`
}

// Match pairs a layout segment with the tensor that fills it.
type Match struct {
	Segment string `json:"segment"`
	Key     string `json:"key"`    // the tensor's full name in the file
	Source  string `json:"source"` // its key in the saved state_dict (Key without Report.Container)
	Shape   []int  `json:"shape"`
	DType   string `json:"dtype"`
	Rounded bool   `json:"rounded,omitempty"` // converting to float32 changed some value (F64 input)
	// Transposed: a GoMLX weight stored [in, out] (or [kh, kw, in, out]), turned to PyTorch's order.
	Transposed bool `json:"transposed,omitempty"`
}

// Mismatch is a tensor found under a segment's name that cannot fill it.
type Mismatch struct {
	Segment string `json:"segment"`
	Key     string `json:"key"`
	Shape   []int  `json:"shape"`
	Want    []int  `json:"want"`
	Problem string `json:"problem"`
}

// OK reports whether every segment was filled and nothing was left over.
func (r *Report) OK() bool {
	return len(r.Missing) == 0 && len(r.Mismatched) == 0 && len(r.Unexpected) == 0 && len(r.Matched) > 0
}

// String is a readable summary: the mapping chosen (file key → layout segment), then one finding
// per line.
func (r *Report) String() string {
	var b strings.Builder
	total := len(r.Matched) + len(r.Missing) + len(r.Mismatched)
	fmt.Fprintf(&b, "%s: %d/%d layout tensors found (prefix %q, %s names", r.Source, len(r.Matched), total, r.Prefix, r.Naming)
	if len(r.Lead) > 0 {
		fmt.Fprintf(&b, ", stacked %v", r.Lead)
	}
	b.WriteString(")\n")
	conv, rounded, transposed := map[string]int{}, 0, 0
	for _, m := range r.Matched {
		fmt.Fprintf(&b, "  %s %v -> %s\n", m.Key, m.Shape, m.Segment)
		if m.DType != traj.DTypeF32 {
			conv[m.DType]++
		}
		if m.Rounded {
			rounded++
		}
		if m.Transposed {
			transposed++
		}
	}
	for _, dt := range sortedKeys(conv) {
		fmt.Fprintf(&b, "  converted %d tensors from %s to F32\n", conv[dt], dt)
	}
	if rounded > 0 {
		fmt.Fprintf(&b, "  %d tensors had values that float32 rounds\n", rounded)
	}
	if transposed > 0 {
		fmt.Fprintf(&b, "  transposed %d GoMLX weights to PyTorch's [out, in] order\n", transposed)
	}
	for _, s := range r.Missing {
		fmt.Fprintf(&b, "  missing: %s\n", s)
	}
	for _, m := range r.Mismatched {
		fmt.Fprintf(&b, "  mis-shaped: %s is %v, layout segment %s wants %v: %s\n", m.Key, m.Shape, m.Segment, m.Want, m.Problem)
	}
	for _, s := range r.Unexpected {
		fmt.Fprintf(&b, "  unexpected: %s\n", s)
	}
	if n := len(r.Ignored); n > 0 {
		fmt.Fprintf(&b, "  ignored %d tensors outside the state dict (e.g. %s)\n", n, r.Ignored[0])
	}
	if n := len(r.Numbers); n > 0 {
		fmt.Fprintf(&b, "  %d numbers beside the tensors (%s", n, strings.Join(r.Numbers[:min(n, 3)], ", "))
		if n > 3 {
			b.WriteString(", …")
		}
		b.WriteString(")\n")
	}
	return strings.TrimRight(b.String(), "\n")
}

// Map fills a Layout from a state dict and returns the flat weights, [n, P] row-major with n the
// product of Report.Lead (1 for a plain state dict; a stacked file, e.g. one exported with a
// leading [N] axis, gives n = N).
//
// The match is by structure: the layout's tensors (per layer, weight then bias) must appear in
// the file in the same order with the same shapes, whatever their names. The state dict is found
// by itself among the dicts of the file (a training-loop checkpoint's model_state_dict, a
// Lightning checkpoint's state_dict, ...): the one the layout fits with the fewest tensors left
// over; the rest (optimizer state) is ignored and counted. Names only break ties: the layout's
// own or nn.Sequential names, weight/bias suffixes, a layer's weight and bias from one module.
// Two mappings that still fit equally are refused with both listed (Report.Candidates); Keys
// states the mapping by hand. A file whose keys are in another order imports when they carry the
// layout's or nn.Sequential's names. Missing or mis-shaped tensors, non-finite values and (unless
// allowed) unexpected tensors are errors; the report says which.
func Map(sd *StateDict, l arch.Layout, opt MapOptions) ([]float32, *Report, error) {
	if err := l.Validate(); err != nil {
		return nil, nil, err
	}
	view, transposed := torchConventions(sd)
	fixed, err := resolveKeys(view, l, opt.Keys)
	if err != nil {
		return nil, nil, err
	}
	seqNames := map[string]string{}
	if opt.Spec != nil {
		if seqNames, err = SequentialNames(*opt.Spec); err != nil {
			return nil, nil, err
		}
	}
	if len(fixed) == len(l.Segments) {
		// Stated in full: taken as given, in any order of the file.
		return mapStated(view, l, opt, seqNames, fixed, transposed)
	}
	var fits []*fit
	for _, g := range candidateGroups(view, opt.Prefix) {
		for _, lead := range candidateLeads(view, g) {
			if f := align(view, l, seqNames, g, lead, fixed); f != nil {
				fits = append(fits, f)
			}
		}
	}
	if len(fits) == 0 {
		// No order fits: the names may still say which tensor is which (a module that defines its
		// layers in another order than it calls them), and otherwise explain what is wrong.
		return mapByName(view, l, opt, seqNames, transposed)
	}
	sort.SliceStable(fits, func(i, j int) bool { return fits[i].better(fits[j]) })
	best := fits[0]
	rep := best.report(view, l, seqNames, transposed)
	if best.alt != nil {
		rep.Candidates = [][]Match{best.matches(view, l, best.assign, transposed), best.matches(view, l, best.alt, transposed)}
	}
	// Another dict that fits as well with other tensors (the same tensors seen from an enclosing
	// dict are no rival).
	for _, f := range fits[1:] {
		if best.better(f) || rep.Candidates != nil {
			break
		}
		if !slices.Equal(f.assign, best.assign) {
			rep.Candidates = [][]Match{best.matches(view, l, best.assign, transposed), f.matches(view, l, f.assign, transposed)}
		}
	}
	if rep.Candidates != nil {
		return nil, rep, ambiguous(sd.Path, l, rep.Candidates)
	}
	return finish(view, l, rep, opt)
}

// finish refuses unexpected tensors unless allowed, then gathers the weights.
func finish(sd *StateDict, l arch.Layout, rep *Report, opt MapOptions) ([]float32, *Report, error) {
	if len(rep.Unexpected) > 0 && !opt.AllowUnexpected {
		return nil, rep, fmt.Errorf("interop: %s holds tensors the architecture lacks (as load_state_dict(strict=True) would refuse; pass --allow-unexpected to leave them out):\n%s", sd.Path, rep)
	}
	flat, err := gather(sd, l, rep)
	if err != nil {
		return nil, rep, err
	}
	return flat, rep, nil
}

// group is a candidate state dict: the tensors of one dict of the file (and of the dicts inside
// it), in file order.
type group struct {
	prefix  string // the dict's path, used to rank and report
	members []int  // indices into StateDict.Names
}

// candidateGroups lists the dicts of the file that could hold the state dict: each container
// (Read records which dict holds which tensor), with and without the dicts inside it. With prefix
// set, only the keys under it.
func candidateGroups(sd *StateDict, prefix string) []group {
	if prefix != "" {
		var g group
		g.prefix = prefix
		for i, k := range sd.Names {
			if strings.HasPrefix(k, prefix) {
				g.members = append(g.members, i)
			}
		}
		return []group{g}
	}
	paths := map[string]bool{"": true}
	for _, k := range sd.Names {
		c := sd.Container[k]
		for i := range len(c) {
			if c[i] == '.' {
				paths[c[:i+1]] = true
			}
		}
	}
	// Each dict alone, and each dict with the dicts inside it (a model saved as several state
	// dicts, {"model": {"encoder": ..., "head": ...}}).
	var out []group
	for _, p := range sortedKeys(paths) {
		alone, all := group{prefix: p}, group{prefix: p}
		for i, k := range sd.Names {
			if c := sd.Container[k]; c == p {
				alone.members = append(alone.members, i)
				all.members = append(all.members, i)
			} else if strings.HasPrefix(c, p) {
				all.members = append(all.members, i)
			}
		}
		if len(alone.members) > 0 {
			out = append(out, alone)
		}
		if len(all.members) > len(alone.members) {
			out = append(out, all)
		}
	}
	for _, g := range out {
		weightsFirst(sd, g.members)
	}
	return out
}

// weightsFirst orders a group's tensors module by module (in order of first appearance), each
// module's weight before its bias: files sorted by name (Python's safetensors) put 0.bias before
// 0.weight. PyTorch's own order is left as it is.
func weightsFirst(sd *StateDict, members []int) {
	first := map[string]int{}
	for pos, i := range members {
		if m := module(sd.Names[i]); !hasKey(first, m) {
			first[m] = pos
		}
	}
	kind := func(name string) int {
		switch name[strings.LastIndexByte(name, '.')+1:] {
		case "weight", "weights", "kernel":
			return 0
		case "bias", "biases":
			return 1
		}
		return 2
	}
	sort.SliceStable(members, func(a, b int) bool {
		na, nb := sd.Names[members[a]], sd.Names[members[b]]
		if ma, mb := first[module(na)], first[module(nb)]; ma != mb {
			return ma < mb
		}
		return kind(na) < kind(nb)
	})
}

func hasKey[K comparable, V any](m map[K]V, k K) bool {
	_, ok := m[k]
	return ok
}

// candidateLeads lists the stackings to try: none, and the leading one or two dims of the
// group's tensors (a file exported with [N] or [R, K+1] axes).
func candidateLeads(sd *StateDict, g group) [][]int {
	out := [][]int{nil}
	seen := map[string]bool{"[]": true}
	for _, i := range g.members {
		s := sd.Tensors[sd.Names[i]].Shape
		for n := 1; n <= 2 && n < len(s); n++ {
			k := fmt.Sprint(s[:n])
			if !seen[k] && len(out) < 16 {
				seen[k] = true
				out = append(out, slices.Clone(s[:n]))
			}
		}
	}
	return out
}

// fit is the best mapping of the layout into one group.
type fit struct {
	g           group
	lead        []int
	assign      []int // segment → index into StateDict.Names
	alt         []int // another assignment with the same score, when there is one
	score       int
	unexpected  int
	prefixScore int
}

// better ranks fits: fewest tensors left over, then the names' score, then the dict's name.
func (f *fit) better(o *fit) bool {
	if f.unexpected != o.unexpected {
		return f.unexpected < o.unexpected
	}
	if f.score != o.score {
		return f.score > o.score
	}
	return f.prefixScore > o.prefixScore
}

// Name scores (tie-breaks only).
const (
	scoreExactName = 8 // the key (after any prefix) is the layout's or nn.Sequential's name
	scoreKind      = 2 // a weight under *.weight, a bias under *.bias
	scoreSameLayer = 3 // a layer's bias from the module that gave its weight
)

// align finds the order-preserving assignments of layout segments to the group's tensors with
// matching shapes (dynamic programming over segment × tensor) and keeps the best by name score;
// nil when none exists.
func align(sd *StateDict, l arch.Layout, seqNames map[string]string, g group, lead []int, fixed map[int]string) *fit {
	n, m := len(l.Segments), len(g.members)
	if m < n {
		return nil
	}
	fixedKey := map[string]bool{}
	for _, k := range fixed {
		fixedKey[k] = true
	}
	ok := func(i, j int) bool {
		name := sd.Names[g.members[j]]
		if k, isFixed := fixed[i]; isFixed {
			if k != name {
				return false
			}
		} else if fixedKey[name] {
			return false
		}
		t := sd.Tensors[name]
		if !isFloat(t.DType) || len(t.Shape) != len(lead)+len(l.Segments[i].Shape) {
			return false
		}
		return slices.Equal(t.Shape[:len(lead)], lead) && slices.Equal(t.Shape[len(lead):], l.Segments[i].Shape)
	}
	pair := func(i, j int) int {
		return nameScore(sd.Names[g.members[j]], l.Segments[i], seqNames)
	}
	trans := func(i, jp, j int) int {
		prev, cur := l.Segments[i-1], l.Segments[i]
		if prev.Kind == arch.Weight && cur.Kind == arch.Bias && module(prev.Name) == module(cur.Name) &&
			module(sd.Names[g.members[jp]]) == module(sd.Names[g.members[j]]) {
			return scoreSameLayer
		}
		return 0
	}
	const none = -1 << 30
	best := make([][]int, n)
	cnt := make([][]int, n)
	preds := make([][][]int, n)
	var prevCells []int // the tensors the previous segment can take, ascending
	for i := range n {
		best[i], cnt[i], preds[i] = make([]int, m), make([]int, m), make([][]int, m)
		var cells []int
		for j := range m {
			best[i][j] = none
			if !ok(i, j) {
				continue
			}
			if i == 0 {
				best[i][j], cnt[i][j] = pair(i, j), 1
				cells = append(cells, j)
				continue
			}
			for _, jp := range prevCells {
				if jp >= j {
					break
				}
				s := best[i-1][jp] + trans(i, jp, j) + pair(i, j)
				switch {
				case s > best[i][j]:
					best[i][j], cnt[i][j], preds[i][j] = s, cnt[i-1][jp], []int{jp}
				case s == best[i][j]:
					cnt[i][j] = min(2, cnt[i][j]+cnt[i-1][jp])
					if len(preds[i][j]) < 2 {
						preds[i][j] = append(preds[i][j], jp)
					}
				}
			}
			if best[i][j] != none {
				cells = append(cells, j)
			}
		}
		if len(cells) == 0 {
			return nil
		}
		prevCells = cells
	}
	top, ends, total := none, []int(nil), 0
	for j := range m {
		switch s := best[n-1][j]; {
		case s == none:
		case s > top:
			top, ends, total = s, []int{j}, cnt[n-1][j]
		case s == top:
			ends, total = append(ends, j), min(2, total+cnt[n-1][j])
		}
	}
	if top == none {
		return nil
	}
	var first func(i, j int) []int
	first = func(i, j int) []int {
		if i == 0 {
			return []int{j}
		}
		return append(first(i-1, preds[i][j][0]), j)
	}
	var second func(i, j int) []int
	second = func(i, j int) []int {
		if len(preds[i][j]) > 1 {
			return append(first(i-1, preds[i][j][1]), j)
		}
		return append(second(i-1, preds[i][j][0]), j)
	}
	toNames := func(path []int) []int {
		out := make([]int, len(path))
		for i, j := range path {
			out[i] = g.members[j]
		}
		return out
	}
	f := &fit{g: g, lead: lead, score: top, unexpected: m - n, prefixScore: prefixScore(g.prefix)}
	f.assign = toNames(first(n-1, ends[0]))
	switch {
	case len(ends) > 1:
		f.alt = toNames(first(n-1, ends[1]))
	case total > 1:
		f.alt = toNames(second(n-1, ends[0]))
	}
	return f
}

func isFloat(dtype string) bool {
	switch dtype {
	case traj.DTypeF32, traj.DTypeF64, traj.DTypeF16, traj.DTypeBF16:
		return true
	}
	return false
}

// module is a key without its last component ("net.fc_in.weight" → "net.fc_in").
func module(key string) string {
	if i := strings.LastIndexByte(key, '.'); i >= 0 {
		return key[:i]
	}
	return ""
}

// nameScore says how well a key's name fits a segment.
func nameScore(key string, s arch.Segment, seqNames map[string]string) int {
	score := 0
	for _, name := range []string{s.Name, seqNames[s.Name]} {
		if name != "" && (key == name || strings.HasSuffix(key, "."+name)) {
			score += scoreExactName
			break
		}
	}
	last := key[strings.LastIndexByte(key, '.')+1:]
	switch {
	case s.Kind == arch.Weight && (last == "weight" || last == "weights" || last == "kernel"):
		score += scoreKind
	case s.Kind == arch.Bias && (last == "bias" || last == "biases"):
		score += scoreKind
	}
	return score
}

// prefixScore prefers the dicts where training scripts keep the model over optimizer or EMA state.
func prefixScore(prefix string) int {
	first, _, _ := strings.Cut(prefix, ".")
	first = strings.ToLower(first)
	switch {
	case first == "model_state_dict" || first == "state_dict" || first == "model" || first == "net" || first == "network" || first == "module" || first == "model_state":
		return 1
	case strings.Contains(first, "optim") || strings.Contains(first, "ema") || strings.Contains(first, "sched"):
		return -1
	}
	return 0
}

// matches lists an assignment as Matches.
func (f *fit) matches(sd *StateDict, l arch.Layout, assign []int, transposed map[string]bool) []Match {
	out := make([]Match, len(assign))
	for i, idx := range assign {
		key := sd.Names[idx]
		t := sd.Tensors[key]
		out[i] = Match{Segment: l.Segments[i].Name, Key: key, Shape: t.Shape, DType: t.DType, Transposed: transposed[key]}
	}
	setSources(sd, out)
	return out
}

// setSources names each match as its state dict does: the key under the innermost dict that
// holds all of them (a model saved as {"encoder": ..., "head": ...} keeps those names).
func setSources(sd *StateDict, ms []Match) string {
	if len(ms) == 0 {
		return ""
	}
	c := sd.Container[ms[0].Key]
	for _, m := range ms {
		for !strings.HasPrefix(sd.Container[m.Key], c) {
			c = module(strings.TrimSuffix(c, "."))
			if c != "" {
				c += "."
			}
		}
	}
	for i := range ms {
		ms[i].Source = strings.TrimPrefix(ms[i].Key, c)
	}
	return c
}

// report describes the chosen fit.
func (f *fit) report(sd *StateDict, l arch.Layout, seqNames map[string]string, transposed map[string]bool) *Report {
	rep := &Report{Source: sd.Path, Lead: f.lead, Numbers: numberNames(sd)}
	rep.Matched = f.matches(sd, l, f.assign, transposed)
	used := map[int]bool{}
	for _, i := range f.assign {
		used[i] = true
	}
	inGroup := map[int]bool{}
	for _, i := range f.g.members {
		inGroup[i] = true
	}
	for i, k := range sd.Names {
		switch {
		case used[i]:
		case inGroup[i]:
			rep.Unexpected = append(rep.Unexpected, fmt.Sprintf("%s %v", k, sd.Tensors[k].Shape))
		default:
			rep.Ignored = append(rep.Ignored, k)
		}
	}
	keys := make([]string, len(rep.Matched))
	for i, m := range rep.Matched {
		keys[i] = m.Key
	}
	rep.Prefix = commonPrefix(keys)
	rep.Container = setSources(sd, rep.Matched)
	rep.Naming = NamesSource
	for _, naming := range []string{NamesLayout, NamesSequential} {
		all := true
		for i, m := range rep.Matched {
			name := l.Segments[i].Name
			if naming == NamesSequential {
				name = seqNames[name]
			}
			all = all && name != "" && strings.TrimPrefix(m.Key, rep.Prefix) == name
		}
		if all {
			rep.Naming = naming
			break
		}
	}
	return rep
}

// commonPrefix is the longest dotted prefix ("a.b.") all keys share, leaving each a name.
func commonPrefix(keys []string) string {
	p := module(keys[0])
	for p != "" {
		ok := true
		for _, k := range keys {
			ok = ok && strings.HasPrefix(k, p+".")
		}
		if ok {
			return p + "."
		}
		p = module(p)
	}
	return ""
}

// ambiguous is the refusal when two mappings fit equally well.
func ambiguous(path string, l arch.Layout, cands [][]Match) error {
	var b strings.Builder
	fmt.Fprintf(&b, "interop: %s: %d mappings of the file's tensors fit the architecture equally well; state the right one with --map (key=segment pairs):", path, len(cands))
	var hint []string
	for c, ms := range cands {
		fmt.Fprintf(&b, "\n  candidate %d:", c+1)
		for i, m := range ms {
			fmt.Fprintf(&b, " %s→%s", m.Key, m.Segment)
			if c == 0 && m.Key != cands[1][i].Key {
				hint = append(hint, m.Key+"="+m.Segment)
			}
		}
	}
	if len(hint) > 0 {
		fmt.Fprintf(&b, "\n  e.g. --map '%s' picks candidate 1", strings.Join(hint, ","))
	}
	return fmt.Errorf("%s", b.String())
}

// gather copies the matched tensors into the flat weights, checking dtypes and values.
func gather(sd *StateDict, l arch.Layout, rep *Report) ([]float32, error) {
	n := 1
	for _, d := range rep.Lead {
		n *= d
	}
	p := l.Size()
	flat := make([]float32, n*p)
	for i, s := range l.Segments {
		m := &rep.Matched[i]
		v, rounded, err := Float32s(sd.Tensors[m.Key])
		if err != nil {
			return nil, fmt.Errorf("interop: %s: tensor %q: %w", sd.Path, m.Key, err)
		}
		if j := traj.FirstNonFinite(v); j >= 0 {
			return nil, fmt.Errorf("interop: %s: tensor %q holds %v at flat index %d: refusing non-finite weights", sd.Path, m.Key, v[j], j)
		}
		m.Rounded = rounded
		size := s.Size()
		for r := range n {
			copy(flat[r*p+s.Offset:r*p+s.Offset+size], v[r*size:(r+1)*size])
		}
	}
	return flat, nil
}

// mapByName fills the layout by key names alone (the layout's names or nn.Sequential's, under any
// prefix): the fallback when no order of the file fits, and the diagnosis when nothing fits.
func mapByName(sd *StateDict, l arch.Layout, opt MapOptions, seqNames map[string]string, transposed map[string]bool) ([]float32, *Report, error) {
	rep := &Report{Source: sd.Path, Naming: NamesLayout, Numbers: numberNames(sd)}
	keyOf := func(naming, seg string) string {
		if naming == NamesSequential {
			return seqNames[seg]
		}
		return seg
	}
	type cand struct{ prefix, naming string }
	score := map[cand]int{}
	for _, k := range sd.Names {
		for _, naming := range []string{NamesLayout, NamesSequential} {
			for _, s := range l.Segments {
				name := keyOf(naming, s.Name)
				if name == "" {
					continue
				}
				if p, ok := strings.CutSuffix(k, name); ok && (p == "" || strings.HasSuffix(p, ".")) {
					if opt.Prefix == "" || p == opt.Prefix {
						score[cand{p, naming}]++
					}
				}
			}
		}
	}
	best, bestN := cand{opt.Prefix, NamesLayout}, 0
	for c, n := range score {
		if n > bestN || (n == bestN && (c.naming < best.naming || (c.naming == best.naming && len(c.prefix) < len(best.prefix)))) {
			best, bestN = c, n
		}
	}
	rep.Prefix, rep.Naming = best.prefix, best.naming
	if bestN == 0 {
		return nil, rep, noFit(sd, l)
	}
	used := map[string]bool{}
	var lead []int
	for _, s := range l.Segments {
		key := rep.Prefix + keyOf(rep.Naming, s.Name)
		t, ok := sd.Tensors[key]
		if !ok {
			rep.Missing = append(rep.Missing, fmt.Sprintf("%s %v (key %q)", s.Name, s.Shape, key))
			continue
		}
		used[key] = true
		mis := Mismatch{Segment: s.Name, Key: key, Shape: t.Shape, Want: s.Shape}
		if len(t.Shape) < len(s.Shape) || !slices.Equal(t.Shape[len(t.Shape)-len(s.Shape):], s.Shape) || len(t.Shape)-len(s.Shape) > 2 {
			mis.Problem = shapeHint(t.Shape, s.Shape)
			rep.Mismatched = append(rep.Mismatched, mis)
			continue
		}
		tl := t.Shape[:len(t.Shape)-len(s.Shape)]
		if lead == nil {
			lead = slices.Clone(tl)
		} else if !slices.Equal(lead, tl) {
			mis.Problem = fmt.Sprintf("stacked as %v while other tensors are stacked as %v", tl, lead)
			rep.Mismatched = append(rep.Mismatched, mis)
			continue
		}
		if !isFloat(t.DType) {
			mis.Problem = fmt.Sprintf("dtype %s is not a floating-point type", t.DType)
			rep.Mismatched = append(rep.Mismatched, mis)
			continue
		}
		rep.Matched = append(rep.Matched, Match{Segment: s.Name, Key: key, Shape: t.Shape, DType: t.DType, Transposed: transposed[key]})
	}
	rep.Container = setSources(sd, rep.Matched)
	for _, k := range sd.Names {
		switch {
		case used[k]:
		case strings.HasPrefix(k, rep.Prefix) && strings.HasPrefix(sd.Container[k], rep.Container):
			rep.Unexpected = append(rep.Unexpected, fmt.Sprintf("%s %v", k, sd.Tensors[k].Shape))
		default:
			rep.Ignored = append(rep.Ignored, k)
		}
	}
	if len(lead) > 0 {
		rep.Lead = lead
	}
	if len(rep.Missing) > 0 || len(rep.Mismatched) > 0 || (len(rep.Unexpected) > 0 && !opt.AllowUnexpected) {
		return nil, rep, fmt.Errorf("interop: %s does not fit the layout:\n%s", sd.Path, rep)
	}
	flat, err := gather(sd, l, rep)
	if err != nil {
		return nil, rep, err
	}
	return flat, rep, nil
}

// noFit explains a file none of whose tensor sequences has the layout's shapes.
func noFit(sd *StateDict, l arch.Layout) error {
	var want, have []string
	for _, s := range l.Segments {
		want = append(want, fmt.Sprintf("%s %v", s.Name, s.Shape))
	}
	hint := ""
	for _, k := range sd.Names {
		t := sd.Tensors[k]
		if len(have) < 8 {
			have = append(have, fmt.Sprintf("%s %v", k, t.Shape))
		}
		for _, s := range l.Segments {
			if hint == "" && s.Kind == arch.Weight && !strings.HasSuffix(k, "bias") && len(t.Shape) == 2 && len(s.Shape) == 2 &&
				t.Shape[0] == s.Shape[1] && t.Shape[1] == s.Shape[0] && t.Shape[0] != t.Shape[1] {
				hint = fmt.Sprintf("; %s looks like %s transposed: PyTorch Linear weights are [out, in], this is [in, out] (GoMLX, Keras, JAX): transpose it", k, s.Name)
			}
		}
	}
	if len(sd.Names) > len(have) {
		have = append(have, fmt.Sprintf("… %d more", len(sd.Names)-len(have)))
	}
	return fmt.Errorf("interop: %s has none of the layout's tensors: no tensors of the file have its shapes in its order (want %s; the file has %s)%s: wrong --arch (or widths), or state the mapping with --map (see docs/interop.md)",
		sd.Path, strings.Join(want, ", "), strings.Join(have, ", "), hint)
}

// numberNames lists a file's numbers, top-level ones (epoch, loss) first.
func numberNames(sd *StateDict) []string {
	names := sd.ScalarNames()
	sort.SliceStable(names, func(i, j int) bool {
		return !strings.Contains(names[i], ".") && strings.Contains(names[j], ".")
	})
	return names
}

// mapStated fills the layout from a mapping stated for every segment (MapOptions.Keys).
func mapStated(sd *StateDict, l arch.Layout, opt MapOptions, seqNames map[string]string, fixed map[int]string, transposed map[string]bool) ([]float32, *Report, error) {
	f := &fit{assign: make([]int, len(l.Segments))}
	index := map[string]int{}
	for i, k := range sd.Names {
		index[k] = i
	}
	var mis []string
	for i, s := range l.Segments {
		key := fixed[i]
		f.assign[i] = index[key]
		t := sd.Tensors[key]
		switch {
		case !isFloat(t.DType):
			mis = append(mis, fmt.Sprintf("%s (for %s) has dtype %s, not a floating-point type", key, s.Name, t.DType))
			continue
		case len(t.Shape) < len(s.Shape) || len(t.Shape)-len(s.Shape) > 2 || !slices.Equal(t.Shape[len(t.Shape)-len(s.Shape):], s.Shape):
			mis = append(mis, fmt.Sprintf("%s is %v, %s wants %v: %s", key, t.Shape, s.Name, s.Shape, shapeHint(t.Shape, s.Shape)))
			continue
		}
		lead := t.Shape[:len(t.Shape)-len(s.Shape)]
		if i == 0 {
			f.lead = slices.Clone(lead)
		} else if !slices.Equal(lead, f.lead) {
			mis = append(mis, fmt.Sprintf("%s is stacked as %v while %s is stacked as %v", key, lead, fixed[0], f.lead))
		}
	}
	if len(mis) > 0 {
		return nil, nil, fmt.Errorf("interop: %s: the stated mapping does not fit the architecture:\n  %s", sd.Path, strings.Join(mis, "\n  "))
	}
	if len(f.lead) == 0 {
		f.lead = nil
	}
	// The state dict is the dict holding the first tensor, or the stated prefix.
	c := sd.Container[fixed[0]]
	for _, g := range candidateGroups(sd, opt.Prefix) {
		if g.prefix == c || opt.Prefix != "" {
			f.g = g
			break
		}
	}
	rep := f.report(sd, l, seqNames, transposed)
	return finish(sd, l, rep, opt)
}
