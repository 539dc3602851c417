package main

import (
	"fmt"
	"math"
	"strings"
)

// Number formatting shared by the commands' printed and JSON summaries.

// tailMean is the mean of the last (up to) n values of h; NaN when h is empty.
func tailMean(h []float32, n int) float64 {
	n = min(n, len(h))
	if n == 0 {
		return math.NaN()
	}
	var s float64
	for _, v := range h[len(h)-n:] {
		s += float64(v)
	}
	return s / float64(n)
}

// groupDigits writes n with a comma every three digits (1,234,567).
func groupDigits(n int) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// jsonFloat returns v, or nil for NaN/±Inf (which JSON cannot encode).
func jsonFloat(v float64) any {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return v
}
