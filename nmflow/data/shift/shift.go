package shift

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/nmflow/nmflow/nmflow/data"
)

// Shift is a named transform of image splits.
type Shift struct {
	// Spec is the canonical spec string, e.g. "rotate:30" or "contrast:5".
	Spec string
	fn   func(img []float64, c, h, w int, rng *rand.Rand)
	// trunc: bytes are truncated (make_cifar_c.py's np.uint8) rather than rounded.
	trunc bool
}

// Apply returns a shifted copy of s, whose examples have shape [C,H,W]. Labels are shared with s;
// pixels are new. The same seed gives the same result.
func (sh Shift) Apply(s data.Split, shape []int, seed uint64) (data.Split, error) {
	if len(shape) != 3 || shape[0]*shape[1]*shape[2] == 0 || len(s.Images) != s.N*shape[0]*shape[1]*shape[2] {
		return data.Split{}, fmt.Errorf("shift %s: %d pixels for %d examples of shape %v (want [C,H,W] images)", sh.Spec, len(s.Images), s.N, shape)
	}
	c, h, w := shape[0], shape[1], shape[2]
	d := c * h * w
	out := data.Split{Images: make([]uint8, len(s.Images)), Labels: s.Labels, N: s.N}
	rng := rand.New(rand.NewPCG(seed, 0x5817f7))
	img := make([]float64, d)
	for i := range s.N {
		for j, v := range s.Images[i*d : (i+1)*d] {
			img[j] = float64(v) / 255
		}
		sh.fn(img, c, h, w, rng)
		for j, v := range img {
			v = min(max(v, 0), 1) * 255
			if sh.trunc {
				v = math.Floor(v)
			} else {
				v = math.Round(v)
			}
			out.Images[i*d+j] = uint8(v)
		}
	}
	return out, nil
}

// severities are make_cifar_c.py's CIFAR constants, by corruption name.
var severities = map[string][]float64{
	"gaussian_noise": {0.04, 0.06, .08, .09, .10},
	"shot_noise":     {500, 250, 100, 75, 50},
	"impulse_noise":  {.01, .02, .03, .05, .07},
	"speckle_noise":  {.06, .1, .12, .16, .2},
	"gaussian_blur":  {.4, .6, 0.7, .8, 1},
	"defocus_blur":   {0.3, 0.4, 0.5, 1, 1.5}, // disk radius; alias blur below
	"contrast":       {.75, .5, .4, .3, 0.15},
	"brightness":     {.05, .1, .15, .2, .3},
	"pixelate":       {0.95, 0.9, 0.85, 0.75, 0.65},
}

var defocusAlias = []float64{0.4, 0.5, 0.6, 0.2, 0.1}

// Names lists the accepted spec forms.
func Names() []string {
	out := []string{"rotate:DEG", "translate:DX[,DY]", "noise:SIGMA"}
	var c []string
	for n := range severities {
		c = append(c, n+":1..5")
	}
	slices.Sort(c)
	return append(out, c...)
}

// Parse reads a spec such as "rotate:30", "translate:1", "noise:0.3" or "gaussian_blur:3".
func Parse(spec string) (Shift, error) {
	name, arg, hasArg := strings.Cut(strings.ToLower(strings.TrimSpace(spec)), ":")
	bad := func(what string) (Shift, error) {
		return Shift{}, fmt.Errorf("shift: bad %q: %s (known: %s)", spec, what, strings.Join(Names(), ", "))
	}
	num := func(def float64) (float64, bool) {
		if !hasArg {
			return def, true
		}
		v, err := strconv.ParseFloat(arg, 64)
		return v, err == nil && !math.IsNaN(v) && !math.IsInf(v, 0)
	}
	switch name {
	case "rotate":
		deg, ok := num(45)
		if !ok {
			return bad("want rotate:DEGREES, e.g. rotate:30")
		}
		return Shift{Spec: "rotate:" + fmtNum(deg), fn: func(img []float64, c, h, w int, _ *rand.Rand) { rotate(img, c, h, w, deg) }}, nil
	case "translate":
		dx, dy := 1, 0
		if hasArg {
			xs, ys, two := strings.Cut(arg, ",")
			var err1, err2 error
			dx, err1 = strconv.Atoi(xs)
			if two {
				dy, err2 = strconv.Atoi(ys)
			}
			if err1 != nil || err2 != nil {
				return bad("want translate:DX or translate:DX,DY in whole pixels, e.g. translate:1")
			}
		}
		return Shift{Spec: fmt.Sprintf("translate:%d,%d", dx, dy), fn: func(img []float64, c, h, w int, _ *rand.Rand) { translate(img, c, h, w, dx, dy) }}, nil
	case "noise":
		sigma, ok := num(0.3)
		if !ok || sigma < 0 {
			return bad("want noise:SIGMA with SIGMA ≥ 0 on the [0,1] pixel scale, e.g. noise:0.3")
		}
		return Shift{Spec: "noise:" + fmtNum(sigma), fn: func(img []float64, _, _, _ int, rng *rand.Rand) { gaussianNoise(img, sigma, rng) }}, nil
	}
	sev, ok := severities[name]
	if !ok {
		return bad("unknown shift")
	}
	level := 3
	if hasArg {
		var err error
		if level, err = strconv.Atoi(arg); err != nil || level < 1 || level > 5 {
			return bad("want a severity 1..5, e.g. " + name + ":3")
		}
	}
	c := sev[level-1]
	sh := Shift{Spec: fmt.Sprintf("%s:%d", name, level), trunc: true}
	switch name {
	case "gaussian_noise":
		sh.fn = func(img []float64, _, _, _ int, rng *rand.Rand) { gaussianNoise(img, c, rng) }
	case "shot_noise":
		sh.fn = func(img []float64, _, _, _ int, rng *rand.Rand) { shotNoise(img, c, rng) }
	case "impulse_noise":
		sh.fn = func(img []float64, _, _, _ int, rng *rand.Rand) { impulseNoise(img, c, rng) }
	case "speckle_noise":
		sh.fn = func(img []float64, _, _, _ int, rng *rand.Rand) { speckleNoise(img, c, rng) }
	case "gaussian_blur":
		sh.fn = func(img []float64, ch, h, w int, _ *rand.Rand) { gaussianBlur(img, ch, h, w, c) }
	case "defocus_blur":
		k := disk(c, defocusAlias[level-1])
		sh.fn = func(img []float64, ch, h, w int, _ *rand.Rand) { convolve(img, ch, h, w, k) }
	case "contrast":
		sh.fn = func(img []float64, ch, h, w int, _ *rand.Rand) { contrast(img, ch, h*w, c) }
	case "brightness":
		sh.fn = func(img []float64, ch, h, w int, _ *rand.Rand) { brightness(img, ch, h*w, c) }
	case "pixelate":
		sh.fn = func(img []float64, ch, h, w int, _ *rand.Rand) { pixelate(img, ch, h, w, c) }
	}
	return sh, nil
}

func fmtNum(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
