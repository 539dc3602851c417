package data

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
)

// ErrFormat marks a file whose structure is wrong: bad magic, sizes that disagree, a label
// out of range, a corrupt gzip stream.
var ErrFormat = errors.New("bad file format")

func formatErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrFormat, fmt.Sprintf(format, args...))
}

// IDX magic numbers: two zero bytes, type 0x08 (unsigned byte), number of dimensions.
const (
	idxLabelsMagic = 0x00000801
	idxImagesMagic = 0x00000803
)

// ParseIDX decodes an IDX file of unsigned bytes (magic 0x000008nn, nn dimensions, each a
// big-endian uint32), and checks that the file holds exactly the product of the dimensions.
// data aliases b.
func ParseIDX(b []byte) (dims []int, data []uint8, err error) {
	if len(b) < 4 {
		return nil, nil, formatErr("IDX file of %d bytes is shorter than its 4-byte magic", len(b))
	}
	magic := binary.BigEndian.Uint32(b)
	if b[0] != 0 || b[1] != 0 || b[2] != 0x08 || b[3] == 0 {
		return nil, nil, formatErr("bad IDX magic 0x%08x (want 0x000008nn: unsigned bytes, nn dimensions)", magic)
	}
	nd := int(b[3])
	hdr := 4 + 4*nd
	if len(b) < hdr {
		return nil, nil, formatErr("IDX file of %d bytes is shorter than its %d-byte header (truncated)", len(b), hdr)
	}
	dims = make([]int, nd)
	size := int64(1)
	for i := range dims {
		dims[i] = int(binary.BigEndian.Uint32(b[4+4*i:]))
		// Saturate rather than overflow: anything above the file length is wrong anyway.
		if d, limit := int64(dims[i]), int64(len(b))+1; d != 0 && size > limit/d {
			size = limit
		} else {
			size *= d
		}
	}
	if got := int64(len(b) - hdr); got != size {
		what := "truncated"
		if got > size {
			what = "trailing bytes"
		}
		return nil, nil, formatErr("IDX header says dims %v, i.e. %d data bytes, but the file has %d (%s)", dims, size, got, what)
	}
	return dims, b[hdr:], nil
}

// parseIDXImages decodes an image file (magic 0x803, dims [N,h,w]) with the expected h, w.
func parseIDXImages(b []byte, h, w int) (images []uint8, n int, err error) {
	if len(b) >= 4 {
		if m := binary.BigEndian.Uint32(b); m != idxImagesMagic {
			return nil, 0, formatErr("bad magic 0x%08x, want 0x%08x (IDX images)", m, idxImagesMagic)
		}
	}
	dims, px, err := ParseIDX(b)
	if err != nil {
		return nil, 0, err
	}
	if dims[1] != h || dims[2] != w {
		return nil, 0, formatErr("images are %dx%d, want %dx%d", dims[1], dims[2], h, w)
	}
	return px, dims[0], nil
}

// parseIDXLabels decodes a label file (magic 0x801, dims [N]) with labels in [0,classes).
func parseIDXLabels(b []byte, classes int) ([]int, error) {
	if len(b) >= 4 {
		if m := binary.BigEndian.Uint32(b); m != idxLabelsMagic {
			return nil, formatErr("bad magic 0x%08x, want 0x%08x (IDX labels)", m, idxLabelsMagic)
		}
	}
	_, raw, err := ParseIDX(b)
	if err != nil {
		return nil, err
	}
	labels := make([]int, len(raw))
	for i, v := range raw {
		if int(v) >= classes {
			return nil, formatErr("label %d of example %d is out of range [0,%d)", v, i, classes)
		}
		labels[i] = int(v)
	}
	return labels, nil
}

// cifarRecord is one CIFAR-10 binary record: a label byte, then the R, G and B 32x32 planes.
const cifarRecord = 1 + 3*32*32

// ParseCIFAR decodes a CIFAR-10 binary batch (records of 1 label byte + 3072 pixel bytes) into
// NCHW pixels and labels, checking the record size and that labels lie in [0,classes).
func ParseCIFAR(b []byte, classes int) (images []uint8, labels []int, err error) {
	if len(b) == 0 || len(b)%cifarRecord != 0 {
		return nil, nil, formatErr("CIFAR batch of %d bytes is not a whole number of %d-byte records (truncated?)", len(b), cifarRecord)
	}
	n := len(b) / cifarRecord
	images = make([]uint8, n*(cifarRecord-1))
	labels = make([]int, n)
	for i := range n {
		rec := b[i*cifarRecord : (i+1)*cifarRecord]
		if int(rec[0]) >= classes {
			return nil, nil, formatErr("record %d: label %d is out of range [0,%d)", i, rec[0], classes)
		}
		labels[i] = int(rec[0])
		copy(images[i*(cifarRecord-1):], rec[1:])
	}
	return images, labels, nil
}

// build decodes verified (or user-supplied) file contents into a Dataset.
func (sp *spec) build(fs fileSet) (*Dataset, error) {
	if v := sp.variant(fs); v != sp {
		return v.build(fs)
	}
	if sp.decode != nil {
		return sp.decode(sp, fs)
	}
	d := &Dataset{Name: sp.name, Shape: []int{sp.shape[0], sp.shape[1], sp.shape[2]}, Classes: slices.Clone(sp.classes)}
	var err error
	switch sp.format {
	case formatIDX:
		if d.Train, err = sp.idxSplit(fs, "train"); err == nil {
			d.Test, err = sp.idxSplit(fs, "t10k")
		}
	case formatCIFAR:
		var train []Split
		for _, f := range sp.files {
			img, lbl, e := ParseCIFAR(fs[f.name], len(sp.classes))
			if e != nil {
				return nil, fmt.Errorf("%s: %w", f.name, e)
			}
			s := Split{Images: img, Labels: lbl, N: len(lbl)}
			if f.name == "test_batch.bin" {
				d.Test = s
			} else {
				train = append(train, s)
			}
		}
		d.Train = concat(train)
	}
	if err != nil {
		return nil, err
	}
	return d, nil
}

// idxSplit decodes <prefix>-images-idx3-ubyte and <prefix>-labels-idx1-ubyte together.
func (sp *spec) idxSplit(fs fileSet, prefix string) (Split, error) {
	imgName, lblName := prefix+"-images-idx3-ubyte", prefix+"-labels-idx1-ubyte"
	img, n, err := parseIDXImages(fs[imgName], sp.shape[1], sp.shape[2])
	if err != nil {
		return Split{}, fmt.Errorf("%s: %w", imgName, err)
	}
	lbl, err := parseIDXLabels(fs[lblName], len(sp.classes))
	if err != nil {
		return Split{}, fmt.Errorf("%s: %w", lblName, err)
	}
	if len(lbl) != n {
		return Split{}, formatErr("%s holds %d images but %s holds %d labels", imgName, n, lblName, len(lbl))
	}
	return Split{Images: img, Labels: lbl, N: n}, nil
}

// concat joins splits (CIFAR's five train batches) into one.
func concat(parts []Split) Split {
	if len(parts) == 1 {
		return parts[0]
	}
	var out Split
	px := 0
	for _, p := range parts {
		out.N += p.N
		px += len(p.Images)
	}
	out.Images = make([]uint8, 0, px)
	out.Labels = make([]int, 0, out.N)
	for _, p := range parts {
		out.Images = append(out.Images, p.Images...)
		out.Labels = append(out.Labels, p.Labels...)
	}
	return out
}

// maxUnverified bounds what a file that is not checked against a known size may decompress
// to, so a hostile or broken gzip cannot exhaust memory.
const maxUnverified = 1 << 31

// errTooLong says a gzip stream decompresses to more than allowed.
var errTooLong = errors.New("file too long")

// isGzip reports whether b starts with the gzip magic.
func isGzip(b []byte) bool { return len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b }

// gunzip decompresses b, reading at most limit bytes. It reads to the end of the stream, so
// gzip's own CRC-32 and length trailer are checked too.
func gunzip(b []byte, limit int64) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, formatErr("corrupt gzip: %v", err)
	}
	var buf bytes.Buffer
	buf.Grow(int(min(limit, 64<<20)))
	if _, err := buf.ReadFrom(io.LimitReader(zr, limit+1)); err != nil {
		return nil, formatErr("corrupt gzip: %v", err)
	}
	if int64(buf.Len()) > limit {
		return nil, fmt.Errorf("%w: decompresses to more than %d bytes", errTooLong, limit)
	}
	return buf.Bytes(), nil
}

// readArchive extracts the dataset's files from a tar.gz stream (CIFAR-10's
// cifar-10-binary.tar.gz), checking each member as it comes. It stops once all are found.
func (sp *spec) readArchive(r io.Reader, verify bool, origin string) (fileSet, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", origin, formatErr("corrupt gzip: %v", err))
	}
	tr := tar.NewReader(zr)
	fs := fileSet{}
	for len(fs) < len(sp.files) {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", origin, formatErr("corrupt tar.gz: %v", err))
		}
		f, ok := sp.file(path.Base(h.Name))
		if !ok || h.Typeflag != tar.TypeReg {
			continue
		}
		member := origin + ":" + h.Name
		if h.Size > maxUnverified || (verify && h.Size != f.size) {
			return nil, &ChecksumError{File: f.name, Path: member, WantSize: f.size, GotSize: h.Size}
		}
		b := make([]byte, h.Size)
		if _, err := io.ReadFull(tr, b); err != nil {
			return nil, fmt.Errorf("%s: %w", member, formatErr("truncated archive: %v", err))
		}
		if verify {
			if err := checkContent(f, b, member); err != nil {
				return nil, err
			}
		}
		fs[f.name] = b
	}
	if missing := sp.missing(fs); len(missing) > 0 {
		return nil, fmt.Errorf("%s: %w", origin, formatErr("archive lacks %v", missing))
	}
	return fs, nil
}
