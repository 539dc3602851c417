package data

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// The UCI repository's processed files: 14 comma-separated values a line, "?" where a value
// is missing. nmflow reads the first 9 (HeartFeatures) and the last, num (0 = no disease,
// 1-4 = disease); oldpeak, slope, ca and thal are checked but not used, as in Detectron.

// heartUCIColumns names the 14 columns of a processed file, in order.
var heartUCIColumns = append(slices.Clone(HeartFeatures), "oldpeak", "slope", "ca", "thal", "num")

// heartRows holds parsed patients: 9 features a row (NaN where missing) and a 0/1 label.
type heartRows struct {
	x      []float64
	labels []int
}

func (r *heartRows) n() int { return len(r.labels) }

// parseHeartUCI reads one processed file. A row that is not 14 numbers or "?", or whose num
// is not a whole number in [0,4], is an ErrFormat naming its line and column.
func parseHeartUCI(b []byte) (*heartRows, error) {
	rows := &heartRows{}
	for i, line := range bytes.Split(b, []byte("\n")) {
		text := strings.TrimSpace(string(line))
		if text == "" {
			continue
		}
		fields := strings.Split(text, ",")
		if len(fields) != len(heartUCIColumns) {
			return nil, formatErr("line %d: %d values, want %d (%s)", i+1, len(fields), len(heartUCIColumns), strings.Join(heartUCIColumns, ","))
		}
		vals := make([]float64, len(fields))
		for j, f := range fields {
			if f == "?" && j < len(fields)-1 {
				vals[j] = math.NaN()
				continue
			}
			v, err := strconv.ParseFloat(f, 64)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, formatErr("line %d, %s: %q is neither a finite number nor ? (missing)", i+1, heartUCIColumns[j], f)
			}
			vals[j] = v
		}
		num := vals[len(vals)-1]
		if num != math.Trunc(num) || num < 0 || num > 4 {
			return nil, formatErr("line %d, num: %q, want a whole number from 0 (no disease) to 4", i+1, fields[len(fields)-1])
		}
		rows.x = append(rows.x, vals[:len(HeartFeatures)]...)
		rows.labels = append(rows.labels, min(int(num), 1))
	}
	if rows.n() == 0 {
		return nil, formatErr("no rows")
	}
	return rows, nil
}

// fillMissing replaces each missing feature by the median of the values present in that
// column (the lower one of an even count, so a whole number stays one): what a hospital
// recorded, not an estimate that would depend on the split.
func (r *heartRows) fillMissing() error {
	d := len(HeartFeatures)
	for j := range d {
		var seen []float64
		missing := false
		for i := range r.n() {
			if v := r.x[i*d+j]; math.IsNaN(v) {
				missing = true
			} else {
				seen = append(seen, v)
			}
		}
		if !missing {
			continue
		}
		if len(seen) == 0 {
			return formatErr("%s is missing in every row: nothing to fill it with", HeartFeatures[j])
		}
		slices.Sort(seen)
		med := seen[(len(seen)-1)/2]
		for i := range r.n() {
			if math.IsNaN(r.x[i*d+j]) {
				r.x[i*d+j] = med
			}
		}
	}
	return nil
}

// take returns the rows idx as a Split, features quantized to bytes.
func (r *heartRows) take(idx []int) Split {
	d := len(HeartFeatures)
	x := make([]float64, 0, len(idx)*d)
	labels := make([]int, 0, len(idx))
	for _, i := range idx {
		x = append(x, r.x[i*d:(i+1)*d]...)
		labels = append(labels, r.labels[i])
	}
	return Split{Images: quantizeHeart(x), Labels: labels, N: len(idx)}
}

func (r *heartRows) add(o *heartRows) {
	r.x = append(r.x, o.x...)
	r.labels = append(r.labels, o.labels...)
}

// splitHeart shuffles n rows (Fisher-Yates with SplitMix64, so the split never changes with
// the Go version) and cuts them in Detectron's proportions, 358/120/119 of 597, into train,
// val and test, each in file order.
func splitHeart(n int, seed uint64) (train, val, test []int) {
	perm := make([]int, n)
	for i := range perm {
		perm[i] = i
	}
	rng := splitMix64(seed)
	for i := n - 1; i > 0; i-- {
		j := int(rng.below(uint64(i + 1)))
		perm[i], perm[j] = perm[j], perm[i]
	}
	nVal, nTest := n*120/597, n*119/597
	nTrain := n - nVal - nTest
	train, val, test = perm[:nTrain], perm[nTrain:nTrain+nVal], perm[nTrain+nVal:]
	for _, s := range [][]int{train, val, test} {
		slices.Sort(s)
	}
	return train, val, test
}

// decodeHeartUCI builds nmflow's split from the four UCI files: missing values filled per
// hospital, Cleveland and Hungarian shuffled into train, val and iid_test, Switzerland and the
// VA in file order as ood_test.
func decodeHeartUCI(sp *spec, fs fileSet) (*Dataset, error) {
	in, ood := &heartRows{}, &heartRows{}
	for _, f := range sp.files {
		rows, err := parseHeartUCI(fs[f.name])
		if err == nil {
			err = rows.fillMissing()
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.name, err)
		}
		if heartOOD[f.name] {
			ood.add(rows)
		} else {
			in.add(rows)
		}
	}
	train, val, test := splitHeart(in.n(), heartSplitSeed)
	all := make([]int, ood.n())
	for i := range all {
		all[i] = i
	}
	d := newHeartDataset(sp, heartOriginUCI)
	d.Train, d.Test = in.take(train), in.take(test)
	d.Extra["val"], d.Extra["ood_test"] = in.take(val), ood.take(all)
	return d, nil
}

func newHeartDataset(sp *spec, origin string) *Dataset {
	return &Dataset{Name: sp.name, Shape: []int{sp.shape[0], sp.shape[1], sp.shape[2]},
		Classes: slices.Clone(sp.classes), Extra: map[string]Split{}, Origin: origin}
}
