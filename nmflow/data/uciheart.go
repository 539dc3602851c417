package data

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// UCI Heart Disease as split for covariate-shift detection by Detectron (Ginsberg et al., ICLR
// 2023): train, val and iid_test come from the Cleveland and Hungarian hospitals, ood_test from
// Switzerland and the VA Long Beach (different covariates, e.g. cholesterol recorded as 0). Nine
// features and a binary label (heart disease or not).
//
// Files: train.csv, val.csv, iid_test.csv, ood_test.csv with the header below, values written as
// Python's repr of float64 (the canonical copies; MD5s below). A local folder holding them (or a
// uci-heart/ subfolder) is read first. The download route fetches Detectron's
// uci_heart_processed.mat, decodes it and renders it to the same four CSV files, which must then
// match the same MD5s: one checksum guards both routes.
//
// The Dataset has Train = train.csv, Test = iid_test.csv and Extra["val"], Extra["ood_test"].
// Examples have shape [9,1,1] (one "channel" per feature, so ChannelStats and standardization are
// per feature) and are stored as bytes, like every nmflow dataset, so zoo training and detect reuse
// the image pipeline unchanged: each feature is rounded to a whole number of HeartUnits and
// clamped to [0,255]. That is exact for the integer-valued features; cholesterol is kept in steps
// of 3 mg/dl (error ≤ 1.5), and the fractional values the source's imputation left in binary
// features round to 0 or 1.

// HeartFeatures names the nine feature columns, in file order.
var HeartFeatures = []string{"age", "sex", "cp", "trestbps", "chol", "fbs", "restecg", "thalach", "exang"}

// HeartUnits is the quantization step of each feature (same order as HeartFeatures).
var HeartUnits = []float64{1, 1, 1, 1, 3, 1, 1, 1, 1}

// heartMATURL is Detectron's processed copy, pinned to a commit.
const heartMATURL = "https://raw.githubusercontent.com/rgklab/detectron/ab6feea196994dd835fcd797cac566cde3132ec6/data/sample_data/uci_heart_processed.mat"

// heartSplits maps each CSV file to its split name in the .mat ("<name>_data", "<name>_labels").
var heartSplits = []struct{ file, name string }{
	{"train.csv", "train"}, {"val.csv", "val"}, {"iid_test.csv", "iid_test"}, {"ood_test.csv", "ood_test"},
}

var uciHeartSpec = &spec{
	name:    "uci-heart",
	aliases: []string{"uci_heart", "heart"},
	format:  formatCustom,
	shape:   [3]int{len(HeartFeatures), 1, 1},
	classes: []string{"no disease", "disease"},
	files: []fileSpec{
		{"train.csv", 16410, "c0d39e1385f677c263f272893f7d7d98"},
		{"val.csv", 5572, "0c908cdf5fb9154eea2ae933e8ebceea"},
		{"iid_test.csv", 5514, "6e7e17b7afbe658ed6958333869e2596"},
		{"ood_test.csv", 17922, "a1fc26a17d7ef1b0eb31a8b8b532830a"},
	},
	subdirs:    []string{"uci-heart", "uci_heart", ""},
	archiveURL: heartMATURL,
	decode:     decodeHeart,
	fetch:      fetchHeart,
	hint: "set NMFLOW_DATA (or Options.Dir) to a folder holding train.csv, val.csv, iid_test.csv and " +
		"ood_test.csv (or a uci-heart/ subfolder), or run `nmflow data fetch uci-heart` on a machine " +
		"with internet access",
}

const heartHeader = "age,sex,cp,trestbps,chol,fbs,restecg,thalach,exang,label"

func decodeHeart(sp *spec, fs fileSet) (*Dataset, error) {
	d := &Dataset{Name: sp.name, Shape: []int{sp.shape[0], sp.shape[1], sp.shape[2]},
		Classes: append([]string(nil), sp.classes...), Extra: map[string]Split{}}
	for _, s := range heartSplits {
		x, y, err := parseHeartCSV(fs[s.file])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.file, err)
		}
		split := Split{Images: quantizeHeart(x), Labels: y, N: len(y)}
		switch s.name {
		case "train":
			d.Train = split
		case "iid_test":
			d.Test = split
		default:
			d.Extra[s.name] = split
		}
	}
	return d, nil
}

// parseHeartCSV reads one split: the exact header, then 9 finite features and a 0/1 label a row.
func parseHeartCSV(b []byte) (x []float64, labels []int, err error) {
	r := csv.NewReader(bytes.NewReader(b))
	r.FieldsPerRecord = len(HeartFeatures) + 1
	r.ReuseRecord = true
	head, err := r.Read()
	if err != nil {
		return nil, nil, formatErr("no header: %v", err)
	}
	if got := strings.Join(head, ","); got != heartHeader {
		return nil, nil, formatErr("header %q, want %q", got, heartHeader)
	}
	for row := 1; ; row++ {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, formatErr("%v", err)
		}
		for j, f := range rec[:len(HeartFeatures)] {
			v, err := strconv.ParseFloat(f, 64)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, nil, formatErr("row %d, %s: %q is not a finite number", row, HeartFeatures[j], f)
			}
			x = append(x, v)
		}
		switch rec[len(HeartFeatures)] {
		case "0":
			labels = append(labels, 0)
		case "1":
			labels = append(labels, 1)
		default:
			return nil, nil, formatErr("row %d: label %q, want 0 or 1", row, rec[len(HeartFeatures)])
		}
	}
	if len(labels) == 0 {
		return nil, nil, formatErr("no rows")
	}
	return x, labels, nil
}

// quantizeHeart maps rows of 9 features to bytes: round(v / unit), clamped to [0,255].
func quantizeHeart(x []float64) []uint8 {
	out := make([]uint8, len(x))
	d := len(HeartFeatures)
	for i, v := range x {
		out[i] = uint8(min(max(math.Round(v/HeartUnits[i%d]), 0), 255))
	}
	return out
}

// fetchHeart downloads Detectron's .mat, renders the four CSV files and verifies them.
func fetchHeart(s *session) (fileSet, string, error) {
	url := s.sp.archiveURL
	body, err := s.get(url)
	if err != nil {
		return nil, "", err
	}
	defer body.Close()
	raw, err := io.ReadAll(io.LimitReader(body, 64<<20))
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", url, err)
	}
	fs, err := heartFromMAT(raw)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", url, err)
	}
	for _, f := range s.sp.files {
		if err := checkContent(f, fs[f.name], url+" (rendered as "+f.name+")"); err != nil {
			return nil, "", err
		}
	}
	return fs, "download " + url, nil
}

// heartFromMAT renders the splits of a MAT file (<split>_data [N,9], <split>_labels N values) as
// the canonical CSV files.
func heartFromMAT(raw []byte) (fileSet, error) {
	vars, err := readMAT(raw)
	if err != nil {
		return nil, err
	}
	fs := fileSet{}
	for _, s := range heartSplits {
		x, okX := vars[s.name+"_data"]
		y, okY := vars[s.name+"_labels"]
		if !okX || !okY {
			return nil, formatErr("MAT file lacks %s_data or %s_labels", s.name, s.name)
		}
		n := len(y.Data)
		if len(x.Dims) != 2 || x.Dims[0] != n || x.Dims[1] != len(HeartFeatures) {
			return nil, formatErr("%s_data has dims %v, want [%d %d]", s.name, x.Dims, n, len(HeartFeatures))
		}
		var b strings.Builder
		b.WriteString(heartHeader + "\n")
		for i := range n {
			for j := range len(HeartFeatures) {
				b.WriteString(PyFloat(x.Data[j*n+i])) // column-major
				b.WriteByte(',')
			}
			if l := y.Data[i]; l != 0 && l != 1 {
				return nil, formatErr("%s_labels[%d] = %v, want 0 or 1", s.name, i, l)
			}
			fmt.Fprintf(&b, "%d\n", int(y.Data[i]))
		}
		fs[s.file] = []byte(b.String())
	}
	return fs, nil
}

// PyFloat formats v as Python's repr(float) does: the shortest string that reads back as v,
// positional for exponents in [-4, 16) with at least one decimal ("52.0"), else scientific with a
// two-digit exponent ("1e-05", "1.5e+16").
func PyFloat(v float64) string {
	switch {
	case math.IsNaN(v):
		return "nan"
	case math.IsInf(v, 1):
		return "inf"
	case math.IsInf(v, -1):
		return "-inf"
	}
	e := strconv.FormatFloat(v, 'e', -1, 64) // e.g. "-2.7612e+00"
	mant, expStr, _ := strings.Cut(e, "e")
	exp, _ := strconv.Atoi(expStr)
	sign := ""
	if mant[0] == '-' {
		sign, mant = "-", mant[1:]
	}
	digits := strings.Replace(mant, ".", "", 1)
	if exp < -4 || exp >= 16 {
		m := digits[:1]
		if len(digits) > 1 {
			m += "." + digits[1:]
		}
		es := "+"
		if exp < 0 {
			es, exp = "-", -exp
		}
		return fmt.Sprintf("%s%se%s%02d", sign, m, es, exp)
	}
	if exp < 0 {
		return sign + "0." + strings.Repeat("0", -exp-1) + digits
	}
	if len(digits) <= exp+1 {
		return sign + digits + strings.Repeat("0", exp+1-len(digits)) + ".0"
	}
	return sign + digits[:exp+1] + "." + digits[exp+1:]
}
