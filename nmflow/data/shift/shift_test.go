package shift

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/nmflow/nmflow/nmflow/data"
)

func one(px []uint8) data.Split { return data.Split{Images: px, Labels: []int{7}, N: 1} }

func apply(t *testing.T, spec string, s data.Split, shape []int, seed uint64) data.Split {
	t.Helper()
	sh, err := Parse(spec)
	if err != nil {
		t.Fatal(err)
	}
	out, err := sh.Apply(s, shape, seed)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestParse(t *testing.T) {
	for in, want := range map[string]string{
		"rotate:30": "rotate:30", "ROTATE": "rotate:45", "translate": "translate:1,0", "translate:-2,3": "translate:-2,3",
		"noise:0.25": "noise:0.25", "contrast": "contrast:3", "gaussian_blur:5": "gaussian_blur:5", "brightness:1": "brightness:1",
	} {
		sh, err := Parse(in)
		if err != nil || sh.Spec != want {
			t.Errorf("Parse(%q) = %q, %v; want %q", in, sh.Spec, err, want)
		}
	}
	for _, bad := range []string{"rotate:x", "translate:1,y", "noise:-1", "contrast:6", "contrast:0", "fog:2", ""} {
		if _, err := Parse(bad); err == nil || !strings.Contains(err.Error(), "known:") {
			t.Errorf("Parse(%q) accepted or unclear: %v", bad, err)
		}
	}
}

// Rotating by 90° maps grid points onto grid points, so bilinear sampling is exact: (y, x) of
// the result is (x, w−1−y) of the input for a counter-clockwise turn.
func TestRotateAndTranslateExact(t *testing.T) {
	px := make([]uint8, 16)
	for i := range px {
		px[i] = uint8(10 * (i + 1))
	}
	got := apply(t, "rotate:90", one(px), []int{1, 4, 4}, 0).Images
	for y := range 4 {
		for x := range 4 {
			if want := px[x*4+(3-y)]; got[y*4+x] != want {
				t.Fatalf("rotate:90 (%d,%d) = %d, want %d", y, x, got[y*4+x], want)
			}
		}
	}
	if got := apply(t, "rotate:0", one(px), []int{1, 4, 4}, 0).Images; !slices.Equal(got, px) {
		t.Errorf("rotate:0 changed the image")
	}
	got = apply(t, "translate:1,0", one(px), []int{1, 4, 4}, 0).Images
	for y := range 4 {
		if got[y*4] != 0 || !slices.Equal(got[y*4+1:y*4+4], px[y*4:y*4+3]) {
			t.Fatalf("translate:1 row %d = %v from %v", y, got[y*4:y*4+4], px[y*4:y*4+4])
		}
	}
}

// Additive noise: mean kept, standard deviation σ·255; the same seed repeats, another differs.
func TestNoise(t *testing.T) {
	n := 20000
	s := data.Split{Images: slices.Repeat([]uint8{128}, n), Labels: make([]int, 1), N: 1}
	a := apply(t, "noise:0.1", s, []int{1, 100, 200}, 1)
	var m, v float64
	for _, p := range a.Images {
		m += float64(p)
	}
	m /= float64(n)
	for _, p := range a.Images {
		v += (float64(p) - m) * (float64(p) - m)
	}
	sd := math.Sqrt(v / float64(n))
	if math.Abs(m-128) > 1 || math.Abs(sd-25.5) > 1 {
		t.Errorf("noise:0.1 on grey 128: mean %.2f sd %.2f, want 128 and 25.5", m, sd)
	}
	if b := apply(t, "noise:0.1", s, []int{1, 100, 200}, 1); !slices.Equal(a.Images, b.Images) {
		t.Error("same seed, different noise")
	}
	if b := apply(t, "noise:0.1", s, []int{1, 100, 200}, 2); slices.Equal(a.Images, b.Images) {
		t.Error("different seeds, same noise")
	}
	// Salt and pepper: about 7% of values (severity 5) become 0 or 255, half each.
	ip := apply(t, "impulse_noise:5", s, []int{1, 100, 200}, 3)
	var salt, pepper int
	for _, p := range ip.Images {
		switch p {
		case 255:
			salt++
		case 0:
			pepper++
		}
	}
	if f := float64(salt+pepper) / float64(n); math.Abs(f-0.07) > 0.01 || math.Abs(float64(salt-pepper)) > 0.2*float64(salt+pepper) {
		t.Errorf("impulse_noise:5 flipped %.3f (salt %d, pepper %d), want 0.07 split evenly", f, salt, pepper)
	}
	// Shot noise at c = 50 on x = 128/255: Poisson(25.1)/50, sd √(25.1)/50·255 ≈ 25.6.
	sn := apply(t, "shot_noise:5", s, []int{1, 100, 200}, 4)
	m, v = 0, 0
	for _, p := range sn.Images {
		m += float64(p)
	}
	m /= float64(n)
	for _, p := range sn.Images {
		v += (float64(p) - m) * (float64(p) - m)
	}
	if sd := math.Sqrt(v / float64(n)); math.Abs(sd-25.6) > 1.5 || math.Abs(m-127.5) > 2 {
		t.Errorf("shot_noise:5: mean %.2f sd %.2f, want ≈127.5 and 25.6", m, sd)
	}
}

// Contrast keeps each channel's mean and scales deviations by c (0.15 at severity 5).
func TestContrastBrightness(t *testing.T) {
	px := []uint8{0, 100, 200, 255, 40, 40, 40, 40}
	got := apply(t, "contrast:5", one(px), []int{2, 2, 2}, 0).Images
	// Channel 0 mean 138.75: 138.75 + (x − 138.75)·0.15, truncated.
	want := []uint8{117, 132, 147, 156, 40, 40, 40, 40}
	if !slices.Equal(got, want) {
		t.Errorf("contrast:5 = %v, want %v", got, want)
	}
	// HSV value +0.3 (severity 5): pixel 0 = (127, 63, 0)/255 keeps hue and saturation, so it
	// scales by (V+0.3)/V; the black pixel 1 becomes grey 0.3 (76.5 → 76).
	s := data.Split{Images: []uint8{127, 0, 63, 0, 0, 0}, Labels: []int{0}, N: 1}
	got = apply(t, "brightness:5", s, []int{3, 1, 2}, 0).Images
	r, g := 127.0/255, 63.0/255
	f := (r + 0.3) / r
	want = []uint8{uint8(r * f * 255), 76, uint8(g * f * 255), 76, 0, 76}
	if !slices.Equal(got, want) {
		t.Errorf("brightness:5 = %v, want %v", got, want)
	}
}

// Blurs conserve the total intensity of a centred impulse and leave a flat image flat.
func TestBlursAndPixelate(t *testing.T) {
	for _, spec := range []string{"gaussian_blur:5", "defocus_blur:5", "pixelate:5"} {
		flat := apply(t, spec, one(slices.Repeat([]uint8{90}, 32*32)), []int{1, 32, 32}, 0).Images
		for _, p := range flat {
			if p < 89 || p > 90 {
				t.Fatalf("%s changed a flat image (pixel %d)", spec, p)
			}
		}
	}
	imp := make([]uint8, 32*32)
	imp[16*32+16] = 255
	for _, spec := range []string{"gaussian_blur:5", "defocus_blur:5"} {
		sh, _ := Parse(spec)
		img := make([]float64, len(imp))
		for i, v := range imp {
			img[i] = float64(v) / 255
		}
		sh.fn(img, 1, 32, 32, nil)
		var sum, peak float64
		for _, v := range img {
			sum += v
			peak = max(peak, v)
		}
		if math.Abs(sum-1) > 1e-9 || peak > 0.9 || img[16*32+16] != peak {
			t.Errorf("%s: impulse sums to %v, peak %v at centre %v", spec, sum, peak, img[16*32+16])
		}
	}
	// BOX resampling: [0,1,2,3] → 2 pixels gives the pair means; 2 → 4 repeats each.
	if got := resize([]float64{0, 1, 2, 3}, 1, 4, 1, 2); !slices.Equal(got, []float64{0.5, 2.5}) {
		t.Errorf("shrink %v", got)
	}
	if got := resize([]float64{1, 5}, 1, 2, 1, 4); !slices.Equal(got, []float64{1, 1, 5, 5}) {
		t.Errorf("grow %v", got)
	}
	if got := resize([]float64{0, 1, 2, 3}, 4, 1, 2, 1); !slices.Equal(got, []float64{0.5, 2.5}) {
		t.Errorf("vertical shrink %v", got)
	}
}

func TestApplyChecksShape(t *testing.T) {
	sh, _ := Parse("rotate:10")
	if _, err := sh.Apply(one(make([]uint8, 10)), []int{1, 3, 3}, 0); err == nil || !strings.Contains(err.Error(), "[C,H,W]") {
		t.Errorf("shape mismatch accepted: %v", err)
	}
	out, err := sh.Apply(one(make([]uint8, 9)), []int{1, 3, 3}, 0)
	if err != nil || out.N != 1 || out.Labels[0] != 7 {
		t.Errorf("labels not kept: %+v %v", out, err)
	}
}
