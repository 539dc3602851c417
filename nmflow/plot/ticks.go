package plot

import (
	"math"
	"strconv"

	gplot "gonum.org/v1/plot"
)

// niceTicks places about five labelled ticks at 1-2-2.5-5 multiples and labels them with
// no trailing zeros ("250", not "250.00"); gonum's default gives only ~3 labels.
type niceTicks struct{}

func (niceTicks) Ticks(lo, hi float64) []gplot.Tick {
	if !(hi > lo) || math.IsInf(lo, 0) || math.IsInf(hi, 0) {
		return gplot.DefaultTicks{}.Ticks(lo, hi)
	}
	const target = 5
	raw := (hi - lo) / target
	e := math.Floor(math.Log10(raw))
	base := math.Pow(10, e)
	mant := 10.0
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*base >= raw*0.75 {
			mant = m
			break
		}
	}
	step := mant * base
	prec := max(0, int(-math.Floor(math.Log10(step)+1e-9)))
	if mant == 2.5 {
		prec++
	}
	minor := step / 2
	if mant == 2.5 {
		minor = step / 5 // 2.5 → ticks every 0.5
	}
	var ticks []gplot.Tick
	for i := math.Ceil(lo / minor); i*minor <= hi*(1+1e-12)+1e-300; i++ {
		v := i * minor
		if math.Abs(v) < minor*1e-9 {
			v = 0 // no "-0"
		}
		t := gplot.Tick{Value: v}
		if r := v / step; math.Abs(r-math.Round(r)) < 1e-6 {
			t.Label = strconv.FormatFloat(v, 'f', prec, 64)
		}
		ticks = append(ticks, t)
		if len(ticks) > 1000 { // guard against pathological ranges
			break
		}
	}
	return ticks
}

// logTicks labels 1, 2 and 5 times each power of ten when the axis spans at most three
// decades (gonum's LogTicks labels only powers of ten, often leaving a loss axis with one
// label), and powers of ten otherwise; 1..9 times each power are minor ticks.
type logTicks struct{}

func (logTicks) Ticks(lo, hi float64) []gplot.Tick {
	if !(lo > 0) || !(hi > lo) {
		return gplot.LogTicks{Prec: -1}.Ticks(lo, hi)
	}
	e0, e1 := int(math.Floor(math.Log10(lo))), int(math.Ceil(math.Log10(hi)))
	dense := e1-e0 <= 3
	var ticks []gplot.Tick
	for e := e0; e <= e1; e++ {
		for m := 1; m <= 9; m++ {
			v, _ := strconv.ParseFloat(strconv.Itoa(m)+"e"+strconv.Itoa(e), 64) // exact decimal
			if v < lo*(1-1e-12) || v > hi*(1+1e-12) {
				continue
			}
			t := gplot.Tick{Value: v}
			if m == 1 || (dense && (m == 2 || m == 5)) {
				t.Label = strconv.FormatFloat(v, 'g', -1, 64)
			}
			ticks = append(ticks, t)
		}
	}
	if labelled := countLabels(ticks); labelled < 2 { // a very narrow range: fall back to linear labels
		return niceTicks{}.Ticks(lo, hi)
	}
	return ticks
}

func countLabels(ts []gplot.Tick) int {
	n := 0
	for _, t := range ts {
		if t.Label != "" {
			n++
		}
	}
	return n
}
