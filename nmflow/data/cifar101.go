package data

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// CIFAR-10.1 v6 (Recht et al. 2018): 2,000 new test images drawn like CIFAR-10's, a natural
// shift that lowers accuracy by several points. Only its labels are redistributable offline here;
// the images must be downloaded by hand.
const (
	CIFAR101Labels = "cifar10.1_v6_labels.npy"
	CIFAR101Images = "cifar10.1_v6_data.npy"
	cifar101URL    = "https://github.com/modestyachts/CIFAR-10.1/raw/master/datasets/"
	// cifar101LabelsSHA256 is the SHA-256 of the canonical label file.
	cifar101LabelsSHA256 = "ae40beda001693674edc94d925ee8268cfe68905f8f9aff800c8dcdfcd6c9448"
)

// ErrMissing marks a dataset file that is absent; the error names it and where to get it.
var ErrMissing = errors.New("dataset file missing")

// LoadCIFAR101 reads CIFAR-10.1 v6 as a Split in CIFAR-10's layout (NCHW bytes, labels 0..9) from
// dir, dir/cifar-10.1 or dir/cifar10.1; an empty dir means the NMFLOW_DATA folders. The labels
// must be the canonical file (SHA-256 checked); the images must be a 2000x32x32x3 uint8 array. A
// missing file is an ErrMissing error naming it and its download address.
func LoadCIFAR101(dir string) (Split, error) {
	roots := []string{dir}
	if dir == "" {
		roots = filepath.SplitList(os.Getenv(EnvData))
	}
	var folder string
	for _, r := range roots {
		for _, sub := range []string{"cifar-10.1", "cifar10.1", ""} {
			if d := filepath.Join(r, sub); r != "" && isFile(filepath.Join(d, CIFAR101Labels)) {
				folder = d
				break
			}
		}
		if folder != "" {
			break
		}
	}
	if folder == "" {
		return Split{}, fmt.Errorf("%w: %s not found in %q (or its cifar-10.1/ subfolder); download it from %s%s",
			ErrMissing, CIFAR101Labels, strings.Join(roots, string(os.PathListSeparator)), cifar101URL, CIFAR101Labels)
	}
	lb, err := os.ReadFile(filepath.Join(folder, CIFAR101Labels))
	if err != nil {
		return Split{}, err
	}
	if sum := sha256.Sum256(lb); hex.EncodeToString(sum[:]) != cifar101LabelsSHA256 {
		return Split{}, fmt.Errorf("%w: %s: SHA-256 %s, want %s: not the canonical v6 labels", ErrChecksum,
			filepath.Join(folder, CIFAR101Labels), hex.EncodeToString(sum[:]), cifar101LabelsSHA256)
	}
	labels, err := npyLabels(lb, 10)
	if err != nil {
		return Split{}, fmt.Errorf("%s: %w", CIFAR101Labels, err)
	}
	imgPath := filepath.Join(folder, CIFAR101Images)
	ib, err := os.ReadFile(imgPath)
	if errors.Is(err, os.ErrNotExist) {
		return Split{}, fmt.Errorf("%w: CIFAR-10.1 images %s are not here (only the labels are): download %s%s "+
			"(2000x32x32x3 uint8, 6.1 MB) into %s", ErrMissing, imgPath, cifar101URL, CIFAR101Images, folder)
	}
	if err != nil {
		return Split{}, err
	}
	images, err := npyImages(ib, len(labels))
	if err != nil {
		return Split{}, fmt.Errorf("%s: %w", imgPath, err)
	}
	return Split{Images: images, Labels: labels, N: len(labels)}, nil
}

var npyShapeRE = regexp.MustCompile(`'shape':\s*\(([0-9,\s]*)\)`)
var npyDescrRE = regexp.MustCompile(`'descr':\s*'([<>|=]?)([iu])([1248])'`)

// npyArray parses a .npy header (version 1-3): integer dtype, C order, and the data bytes.
func npyArray(b []byte) (signed bool, size int, big bool, shape []int, data []byte, err error) {
	if len(b) < 10 || string(b[:6]) != "\x93NUMPY" {
		return false, 0, false, nil, nil, formatErr("not a .npy file")
	}
	var hlen, off int
	if b[6] == 1 {
		hlen, off = int(binary.LittleEndian.Uint16(b[8:])), 10
	} else {
		if len(b) < 12 {
			return false, 0, false, nil, nil, formatErr("truncated .npy header")
		}
		hlen, off = int(binary.LittleEndian.Uint32(b[8:])), 12
	}
	if off+hlen > len(b) {
		return false, 0, false, nil, nil, formatErr("truncated .npy header")
	}
	h := string(b[off : off+hlen])
	d := npyDescrRE.FindStringSubmatch(h)
	s := npyShapeRE.FindStringSubmatch(h)
	if d == nil || s == nil || !strings.Contains(h, "'fortran_order': False") {
		return false, 0, false, nil, nil, formatErr(".npy header %q: want a C-order integer array", strings.TrimSpace(h))
	}
	for _, f := range strings.Split(s[1], ",") {
		if f = strings.TrimSpace(f); f != "" {
			n, _ := strconv.Atoi(f)
			shape = append(shape, n)
		}
	}
	size, _ = strconv.Atoi(d[3])
	return d[2] == "i", size, d[1] == ">", shape, b[off+hlen:], nil
}

func npyLabels(b []byte, classes int) ([]int, error) {
	signed, size, big, shape, data, err := npyArray(b)
	if err != nil {
		return nil, err
	}
	if len(shape) != 1 || len(data) != shape[0]*size {
		return nil, formatErr("labels have shape %v and %d bytes, want one dimension", shape, len(data))
	}
	var bo binary.ByteOrder = binary.LittleEndian
	if big {
		bo = binary.BigEndian
	}
	out := make([]int, shape[0])
	for i := range out {
		p := data[i*size:]
		var v int64
		switch size {
		case 1:
			v = int64(p[0])
			if signed {
				v = int64(int8(p[0]))
			}
		case 2:
			v = int64(int16(bo.Uint16(p)))
		case 4:
			v = int64(int32(bo.Uint32(p)))
		case 8:
			v = int64(bo.Uint64(p))
		}
		if v < 0 || v >= int64(classes) {
			return nil, formatErr("label %d of example %d is out of range [0,%d)", v, i, classes)
		}
		out[i] = int(v)
	}
	return out, nil
}

// npyImages reads [n,32,32,3] uint8 (NHWC, as CIFAR-10.1 ships) into NCHW.
func npyImages(b []byte, n int) ([]uint8, error) {
	signed, size, _, shape, data, err := npyArray(b)
	if err != nil {
		return nil, err
	}
	if signed || size != 1 || len(shape) != 4 || shape[0] != n || shape[1] != 32 || shape[2] != 32 || shape[3] != 3 || len(data) != n*3072 {
		return nil, formatErr("images have shape %v (%d-byte ints, %d bytes), want [%d 32 32 3] uint8", shape, size, len(data), n)
	}
	out := make([]uint8, len(data))
	for i := range n {
		for p := range 1024 {
			for c := range 3 {
				out[i*3072+c*1024+p] = data[i*3072+p*3+c]
			}
		}
	}
	return out, nil
}
