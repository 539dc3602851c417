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

// UCI Heart Disease (Janosi et al., UCI Machine Learning Repository, CC BY 4.0) as used for
// covariate-shift detection by Detectron (Ginsberg et al., ICLR 2023): train, val and iid_test
// come from the Cleveland and Hungarian hospitals, ood_test from Switzerland and the VA Long
// Beach (different covariates, e.g. cholesterol recorded as 0). Nine features and a binary
// label (heart disease, num > 0, or not).
//
// The dataset has two canonical forms, told apart by their files; both hold the same 920
// patients with the same features and labels and give splits of the same sizes (358, 120, 119,
// 323), but not the same split:
//
//   - the UCI repository's processed.cleveland.data, processed.hungarian.data,
//     processed.switzerland.data and processed.va.data (sizes, MD5s and SHA-256s below): what
//     the download fetches from the repository, and what a local folder may hold (e.g. the
//     unzipped heart+disease.zip). nmflow splits them itself: the 597 Cleveland and Hungarian
//     patients are shuffled with heartSplitSeed into train, val and iid_test; the 323 from
//     Switzerland and the VA are ood_test. A missing value ("?") becomes the median of that
//     feature among the patients of the same hospital, a whole number like every value there;
//   - Detectron's split as train.csv, val.csv, iid_test.csv and ood_test.csv (MD5s below), the
//     CSV rendering of its uci_heart_processed.mat (values as Python's repr of float64): read
//     from a local folder (or a uci-heart/ subfolder) or the cache only, since Detectron
//     publishes it on GitHub. Detectron filled the missing values with fractional estimates.
//
// Dataset.Origin names the form that was read. The Dataset has Train = train, Test = iid_test
// and Extra["val"], Extra["ood_test"]. Examples have shape [9,1,1] (one "channel" per feature,
// so ChannelStats and standardization are per feature) and are stored as bytes, like every
// nmflow dataset, so zoo training and detect reuse the image pipeline unchanged: each feature
// is rounded to a whole number of HeartUnits and clamped to [0,255]. That is exact for the
// integer-valued features; cholesterol is kept in steps of 3 mg/dl (error ≤ 1.5), and the
// fractional values Detectron's imputation left in binary features round to 0 or 1.

// HeartFeatures names the nine feature columns, in file order.
var HeartFeatures = []string{"age", "sex", "cp", "trestbps", "chol", "fbs", "restecg", "thalach", "exang"}

// HeartUnits is the quantization step of each feature (same order as HeartFeatures).
var HeartUnits = []float64{1, 1, 1, 1, 3, 1, 1, 1, 1}

// heartUCIURL is the UCI repository's folder of the processed files.
const heartUCIURL = "https://archive.ics.uci.edu/ml/machine-learning-databases/heart-disease/"

// heartSplitSeed seeds the shuffle that splits the UCI files' in-distribution patients.
const heartSplitSeed = 1988

// Dataset.Origin of the two forms.
const (
	heartOriginUCI       = "nmflow's split of the UCI files"
	heartOriginDetectron = "Detectron's split"
)

// heartUCIFiles are the UCI repository's files, in-distribution hospitals first. Their MD5s
// are the ones other loaders pin too (e.g. FLamby's fed_heart_disease); the SHA-256s were
// computed from copies that agreed byte for byte.
var heartUCIFiles = []fileSpec{
	{"processed.cleveland.data", 18461, "2d91a8ff69cfd9616aa47b59d6f843db", "a74b7efa387bc9d108d7d0115d831fe9b414b29ae7124f331b622b4efa0427c8"},
	{"processed.hungarian.data", 10263, "22e96bee155b5973568101c93b3705f6", "d1ad108f785768cd3d7e82dc522e6f5a61eea93cccfb3a46ee8076f73fc3d796"},
	{"processed.switzerland.data", 4109, "9a87f7577310b3917730d06ba9349e20", "834a405ccf5b66ab4056bb77794adc8df0b7125186454c0a1d002d33c6c3b314"},
	{"processed.va.data", 6737, "4249d03ca7711e84f4444768c9426170", "e7c93d8d0d2acdadfa4c5e8de768e2191e7f618b952e29623f1f0d5949ff6b8f"},
}

// heartOOD marks the UCI files whose patients form ood_test.
var heartOOD = map[string]bool{"processed.switzerland.data": true, "processed.va.data": true}

// heartSplits maps each CSV file of Detectron's split to its split name.
var heartSplits = []struct{ file, name string }{
	{"train.csv", "train"}, {"val.csv", "val"}, {"iid_test.csv", "iid_test"}, {"ood_test.csv", "ood_test"},
}

var heartSubdirs = []string{"uci-heart", "uci_heart", "heart+disease", "heart-disease", ""}

var uciHeartSpec = &spec{
	name:    "uci-heart",
	aliases: []string{"uci_heart", "heart"},
	format:  formatCustom,
	shape:   [3]int{len(HeartFeatures), 1, 1},
	classes: []string{"no disease", "disease"},
	files:   heartUCIFiles,
	subdirs: heartSubdirs,
	mirrors: []string{heartUCIURL},
	plain:   true,
	decode:  decodeHeartUCI,
	alt: &spec{
		name:    "uci-heart",
		format:  formatCustom,
		shape:   [3]int{len(HeartFeatures), 1, 1},
		classes: []string{"no disease", "disease"},
		files: []fileSpec{
			{"train.csv", 16410, "c0d39e1385f677c263f272893f7d7d98", ""},
			{"val.csv", 5572, "0c908cdf5fb9154eea2ae933e8ebceea", ""},
			{"iid_test.csv", 5514, "6e7e17b7afbe658ed6958333869e2596", ""},
			{"ood_test.csv", 17922, "a1fc26a17d7ef1b0eb31a8b8b532830a", ""},
		},
		subdirs: heartSubdirs,
		decode:  decodeHeart,
	},
	hint: "set NMFLOW_DATA (or Options.Dir) to a folder holding the UCI repository's processed.cleveland.data, " +
		"processed.hungarian.data, processed.switzerland.data and processed.va.data (e.g. the unzipped " +
		"heart+disease.zip), or Detectron's train.csv, val.csv, iid_test.csv and ood_test.csv (or a uci-heart/ " +
		"subfolder), or run `nmflow data fetch uci-heart` on a machine with internet access",
}

const heartHeader = "age,sex,cp,trestbps,chol,fbs,restecg,thalach,exang,label"

func decodeHeart(sp *spec, fs fileSet) (*Dataset, error) {
	d := newHeartDataset(sp, heartOriginDetectron)
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
