package shift

import (
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/stat/distuv"
)

// Every op works in place on one image: values on the [0,1] scale, channel-major [C,H,W]. Apply
// clips and converts to bytes afterwards.

// rotate turns the image by deg degrees (counter-clockwise as displayed) about its centre,
// sampling bilinearly; pixels from outside the image are 0.
func rotate(img []float64, c, h, w int, deg float64) {
	src := append([]float64(nil), img...)
	sin, cos := math.Sincos(deg * math.Pi / 180)
	cy, cx := float64(h-1)/2, float64(w-1)/2
	at := func(p []float64, y, x int) float64 {
		if y < 0 || y >= h || x < 0 || x >= w {
			return 0
		}
		return p[y*w+x]
	}
	for ch := range c {
		in, out := src[ch*h*w:(ch+1)*h*w], img[ch*h*w:(ch+1)*h*w]
		for y := range h {
			for x := range w {
				// Inverse map: the source point that lands on (y, x).
				dx, dy := float64(x)-cx, float64(y)-cy
				sx := cos*dx - sin*dy + cx
				sy := sin*dx + cos*dy + cy
				x0, y0 := int(math.Floor(sx)), int(math.Floor(sy))
				fx, fy := sx-float64(x0), sy-float64(y0)
				out[y*w+x] = (1-fy)*((1-fx)*at(in, y0, x0)+fx*at(in, y0, x0+1)) + fy*((1-fx)*at(in, y0+1, x0)+fx*at(in, y0+1, x0+1))
			}
		}
	}
}

// translate moves the image by (dx, dy) whole pixels (right, down); uncovered pixels are 0.
func translate(img []float64, c, h, w, dx, dy int) {
	src := append([]float64(nil), img...)
	for ch := range c {
		for y := range h {
			for x := range w {
				v, sy, sx := 0.0, y-dy, x-dx
				if sy >= 0 && sy < h && sx >= 0 && sx < w {
					v = src[(ch*h+sy)*w+sx]
				}
				img[(ch*h+y)*w+x] = v
			}
		}
	}
}

func gaussianNoise(img []float64, sigma float64, rng *rand.Rand) {
	for i := range img {
		img[i] += sigma * rng.NormFloat64()
	}
}

// shotNoise is Poisson noise: Poisson(x·c)/c.
func shotNoise(img []float64, c float64, rng *rand.Rand) {
	for i, v := range img {
		if lam := max(v, 0) * c; lam > 0 {
			img[i] = distuv.Poisson{Lambda: lam, Src: rng}.Rand() / c
		}
	}
}

// impulseNoise is salt-and-pepper noise on a fraction amount of the values (scikit-image's s&p).
func impulseNoise(img []float64, amount float64, rng *rand.Rand) {
	for i := range img {
		if rng.Float64() < amount {
			if rng.Float64() < 0.5 {
				img[i] = 1
			} else {
				img[i] = 0
			}
		}
	}
}

func speckleNoise(img []float64, c float64, rng *rand.Rand) {
	for i, v := range img {
		img[i] = v + v*c*rng.NormFloat64()
	}
}

// gaussianBlur is scikit-image's gaussian filter per channel: truncated at 4σ, nearest-edge mode.
func gaussianBlur(img []float64, c, h, w int, sigma float64) {
	r := int(4*sigma + 0.5)
	k := make([]float64, 2*r+1)
	var sum float64
	for i := range k {
		x := float64(i - r)
		k[i] = math.Exp(-x * x / (2 * sigma * sigma))
		sum += k[i]
	}
	for i := range k {
		k[i] /= sum
	}
	clamp := func(i, n int) int { return min(max(i, 0), n-1) }
	tmp := make([]float64, h*w)
	for ch := range c {
		p := img[ch*h*w : (ch+1)*h*w]
		for y := range h {
			for x := range w {
				var s float64
				for i, kv := range k {
					s += kv * p[y*w+clamp(x+i-r, w)]
				}
				tmp[y*w+x] = s
			}
		}
		for y := range h {
			for x := range w {
				var s float64
				for i, kv := range k {
					s += kv * tmp[clamp(y+i-r, h)*w+x]
				}
				p[y*w+x] = s
			}
		}
	}
}

// disk is make_cifar_c.py's defocus kernel: a normalized disk of the given radius on a 17x17
// grid, smoothed by a 3x3 Gaussian of σ = alias (OpenCV's GaussianBlur, reflect-101 border).
func disk(radius, alias float64) [][]float64 {
	const n = 17
	d := make([][]float64, n)
	var sum float64
	for y := range n {
		d[y] = make([]float64, n)
		for x := range n {
			if dx, dy := float64(x-8), float64(y-8); dx*dx+dy*dy <= radius*radius {
				d[y][x] = 1
				sum++
			}
		}
	}
	g := []float64{math.Exp(-1 / (2 * alias * alias)), 1, math.Exp(-1 / (2 * alias * alias))}
	gs := g[0] + g[1] + g[2]
	flat := make([]float64, n*n)
	for y := range n {
		for x := range n {
			flat[y*n+x] = d[y][x] / sum
		}
	}
	out := make([]float64, n*n)
	for y := range n {
		for x := range n {
			var s float64
			for i := range 3 {
				for j := range 3 {
					s += g[i] * g[j] / (gs * gs) * flat[reflect101(y+i-1, n)*n+reflect101(x+j-1, n)]
				}
			}
			out[y*n+x] = s
		}
	}
	k := make([][]float64, n)
	for y := range n {
		k[y] = out[y*n : (y+1)*n]
	}
	return k
}

// reflect101 maps an index into [0,n) by mirroring without repeating the edge (OpenCV's default).
func reflect101(i, n int) int {
	if n == 1 {
		return 0
	}
	for i < 0 || i >= n {
		if i < 0 {
			i = -i
		}
		if i >= n {
			i = 2*(n-1) - i
		}
	}
	return i
}

// convolve filters each channel with the odd square kernel k (OpenCV's filter2D, reflect-101).
func convolve(img []float64, c, h, w int, k [][]float64) {
	r := len(k) / 2
	src := append([]float64(nil), img...)
	for ch := range c {
		p, out := src[ch*h*w:(ch+1)*h*w], img[ch*h*w:(ch+1)*h*w]
		for y := range h {
			for x := range w {
				var s float64
				for i, row := range k {
					yy := reflect101(y+i-r, h) * w
					for j, kv := range row {
						s += kv * p[yy+reflect101(x+j-r, w)]
					}
				}
				out[y*w+x] = s
			}
		}
	}
}

// contrast pulls every channel towards its mean: (x − mean)·c + mean.
func contrast(img []float64, c, plane int, f float64) {
	for ch := range c {
		p := img[ch*plane : (ch+1)*plane]
		var m float64
		for _, v := range p {
			m += v
		}
		m /= float64(plane)
		for i, v := range p {
			p[i] = (v-m)*f + m
		}
	}
}

// brightness adds delta to the HSV value (max over RGB) of each pixel, keeping hue and saturation,
// which scales the pixel's RGB by V'/V; a black pixel becomes grey delta. Images with other than
// three channels shift each channel's value directly.
func brightness(img []float64, c, plane int, delta float64) {
	if c != 3 {
		for i, v := range img {
			img[i] = min(v+delta, 1)
		}
		return
	}
	for p := range plane {
		r, g, b := img[p], img[plane+p], img[2*plane+p]
		v := max(r, g, b)
		if v <= 0 {
			img[p], img[plane+p], img[2*plane+p] = min(delta, 1), min(delta, 1), min(delta, 1)
			continue
		}
		f := min(v+delta, 1) / v
		img[p], img[plane+p], img[2*plane+p] = r*f, g*f, b*f
	}
}

// pixelate shrinks each channel to ⌊c·size⌋ and back with PIL's BOX filter.
func pixelate(img []float64, c, h, w int, f float64) {
	sh, sw := max(int(float64(h)*f), 1), max(int(float64(w)*f), 1)
	for ch := range c {
		p := img[ch*h*w : (ch+1)*h*w]
		small := resize(resize(p, h, w, h, sw), h, sw, sh, sw)
		copy(p, resize(resize(small, sh, sw, sh, w), sh, w, h, w))
	}
}

// resize resamples an [h,w] plane to [oh,ow], one axis at a time (only one of them changes per
// call), with PIL's BOX filter: the mean of the input pixels whose centres fall in each output
// pixel's footprint (the nearest one when enlarging).
func resize(p []float64, h, w, oh, ow int) []float64 {
	out := make([]float64, oh*ow)
	horizontal := oh == h
	in, n := w, ow
	if !horizontal {
		in, n = h, oh
	}
	scale := float64(in) / float64(n)
	fs := max(scale, 1)
	for i := range n {
		center := (float64(i) + 0.5) * scale
		lo := max(int(center-0.5*fs+0.5), 0)
		hi := min(int(center+0.5*fs+0.5), in)
		var idx []int
		for j := lo; j < hi; j++ {
			if x := (float64(j) - center + 0.5) / fs; x >= -0.5 && x < 0.5 {
				idx = append(idx, j)
			}
		}
		if len(idx) == 0 {
			idx = []int{min(int(center), in-1)}
		}
		wt := 1 / float64(len(idx))
		if horizontal {
			for y := range h {
				var s float64
				for _, j := range idx {
					s += p[y*w+j]
				}
				out[y*ow+i] = s * wt
			}
		} else {
			for x := range w {
				var s float64
				for _, j := range idx {
					s += p[j*w+x]
				}
				out[i*ow+x] = s * wt
			}
		}
	}
	return out
}
