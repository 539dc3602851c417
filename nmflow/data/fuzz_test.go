package data

import (
	"bytes"
	"testing"
)

// Fuzz targets for the dataset parsers: no input may panic or allocate more than its own size
// suggests, and whatever parses must be self-consistent. `make fuzz-short` runs each briefly in
// CI, `make fuzz` longer.

func FuzzParseIDX(f *testing.F) {
	f.Add(idxBytes(idxImagesMagic, []int{2, 3, 3}, make([]byte, 18)))
	f.Add(idxBytes(idxLabelsMagic, []int{4}, []byte{0, 1, 2, 9}))
	f.Add(idxBytes(idxImagesMagic, []int{1 << 30, 1 << 30, 1 << 30}, make([]byte, 8))) // lying dims
	f.Add(idxBytes(0x00000800, nil, nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		if dims, data, err := ParseIDX(b); err == nil {
			n := 1
			for _, d := range dims {
				n *= d
			}
			if n != len(data) || len(data) > len(b) {
				t.Fatalf("dims %v (%d values) but %d data bytes", dims, n, len(data))
			}
		}
		if px, n, err := parseIDXImages(b, 3, 3); err == nil && len(px) != 9*n {
			t.Fatalf("%d images of 3x3 in %d bytes", n, len(px))
		}
		if lbl, err := parseIDXLabels(b, 10); err == nil {
			for _, l := range lbl {
				if l < 0 || l >= 10 {
					t.Fatalf("label %d out of range", l)
				}
			}
		}
	})
}

// FuzzParseCIFAR checks the parser against the format rather than against itself: a batch
// parses exactly when it is a non-empty whole number of records whose label bytes are all below
// the class count, and what parses re-encodes (label byte, then the 3072 pixels) to the input.
func FuzzParseCIFAR(f *testing.F) {
	f.Add(cifarBytes(2, 0), uint8(10))
	f.Add(cifarBytes(1, 9)[:cifarRecord-1], uint8(10))
	f.Add(cifarBytes(3, 9), uint8(9))
	f.Fuzz(func(t *testing.T, b []byte, classes uint8) {
		valid := len(b) > 0 && len(b)%cifarRecord == 0
		for i := 0; valid && i < len(b); i += cifarRecord {
			valid = b[i] < classes
		}
		img, lbl, err := ParseCIFAR(b, int(classes))
		if (err == nil) != valid {
			t.Fatalf("%d bytes, %d classes: valid %v, parse error %v", len(b), classes, valid, err)
		}
		if err != nil {
			return
		}
		if len(img) != len(lbl)*(cifarRecord-1) {
			t.Fatalf("%d labels with %d pixels", len(lbl), len(img))
		}
		again := make([]byte, 0, len(b))
		for i, l := range lbl {
			again = append(again, byte(l))
			again = append(again, img[i*(cifarRecord-1):(i+1)*(cifarRecord-1)]...)
		}
		if !bytes.Equal(again, b) {
			t.Fatal("the parsed images and labels do not re-encode to the input")
		}
	})
}

func FuzzGunzip(f *testing.F) {
	f.Add(gz(f, idxBytes(idxLabelsMagic, []int{4}, []byte{0, 1, 2, 3})))
	f.Add(gz(f, make([]byte, 1<<16))) // compresses well: a small bomb
	f.Add([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		const limit = 1 << 15
		out, err := gunzip(b, limit)
		if err == nil && len(out) > limit {
			t.Fatalf("gunzip returned %d bytes, over its %d limit", len(out), limit)
		}
	})
}
