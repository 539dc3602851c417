package arch

import (
	"encoding/json"
	"fmt"
)

// Kind tells what a segment of the flat vector holds.
type Kind string

const (
	Weight Kind = "weight"
	Bias   Kind = "bias"
)

// Segment is one named tensor inside the flat parameter vector, in PyTorch conventions:
// Linear weight [out,in], Conv2d weight [out,in,kh,kw], bias [out]. Name is the state_dict key.
type Segment struct {
	Name   string `json:"name"`
	Shape  []int  `json:"shape"`
	FanIn  int    `json:"fan_in"`
	Kind   Kind   `json:"kind"`
	Offset int    `json:"offset"`
}

// Size is the number of scalars in the segment.
func (s Segment) Size() int {
	n := 1
	for _, d := range s.Shape {
		n *= d
	}
	return n
}

// Layout maps named segments to ranges of a flat float32 vector of length Size().
type Layout struct {
	Segments []Segment `json:"segments"`
}

// NewLayout builds a Layout, laying the segments out contiguously in the order given
// (Offsets passed in are ignored and recomputed).
func NewLayout(segs ...Segment) Layout {
	out := make([]Segment, len(segs))
	off := 0
	for i, s := range segs {
		s.Shape = append([]int(nil), s.Shape...)
		s.Offset = off
		off += s.Size()
		out[i] = s
	}
	return Layout{Segments: out}
}

// Size is P, the length of the flat vector.
func (l Layout) Size() int {
	if len(l.Segments) == 0 {
		return 0
	}
	last := l.Segments[len(l.Segments)-1]
	return last.Offset + last.Size()
}

// Segment returns the segment with the given name.
func (l Layout) Segment(name string) (Segment, bool) {
	for _, s := range l.Segments {
		if s.Name == name {
			return s, true
		}
	}
	return Segment{}, false
}

// Validate checks that segments are contiguous, non-empty, uniquely named and have a fan-in.
func (l Layout) Validate() error {
	if len(l.Segments) == 0 {
		return fmt.Errorf("arch: layout has no segments")
	}
	seen := map[string]bool{}
	off := 0
	for i, s := range l.Segments {
		if s.Name == "" {
			return fmt.Errorf("arch: layout segment %d has no name", i)
		}
		if seen[s.Name] {
			return fmt.Errorf("arch: layout segment %q appears twice", s.Name)
		}
		seen[s.Name] = true
		if s.Size() <= 0 {
			return fmt.Errorf("arch: layout segment %q has empty shape %v", s.Name, s.Shape)
		}
		if s.Offset != off {
			return fmt.Errorf("arch: layout segment %q starts at %d, want %d (segments must be contiguous)", s.Name, s.Offset, off)
		}
		if s.FanIn <= 0 {
			return fmt.Errorf("arch: layout segment %q has fan-in %d, want > 0", s.Name, s.FanIn)
		}
		if s.Kind != Weight && s.Kind != Bias {
			return fmt.Errorf("arch: layout segment %q has kind %q, want %q or %q", s.Name, s.Kind, Weight, Bias)
		}
		off += s.Size()
	}
	return nil
}

// Unflatten splits a flat vector of length Size() into named tensors (row-major, copies).
func (l Layout) Unflatten(flat []float32) (map[string][]float32, error) {
	if len(flat) != l.Size() {
		return nil, fmt.Errorf("arch: flat vector has %d values, layout wants %d", len(flat), l.Size())
	}
	out := make(map[string][]float32, len(l.Segments))
	for _, s := range l.Segments {
		out[s.Name] = append([]float32(nil), flat[s.Offset:s.Offset+s.Size()]...)
	}
	return out, nil
}

// Flatten joins named tensors into one flat vector; every segment must be present with its size.
func (l Layout) Flatten(tensors map[string][]float32) ([]float32, error) {
	flat := make([]float32, l.Size())
	for _, s := range l.Segments {
		t, ok := tensors[s.Name]
		if !ok {
			return nil, fmt.Errorf("arch: tensor %q (shape %v) missing", s.Name, s.Shape)
		}
		if len(t) != s.Size() {
			return nil, fmt.Errorf("arch: tensor %q has %d values, want %d for shape %v", s.Name, len(t), s.Size(), s.Shape)
		}
		copy(flat[s.Offset:], t)
	}
	if len(tensors) != len(l.Segments) {
		for name := range tensors {
			if _, ok := l.Segment(name); !ok {
				return nil, fmt.Errorf("arch: tensor %q is not part of the layout", name)
			}
		}
	}
	return flat, nil
}

// MarshalJSON / UnmarshalJSON round-trip the layout; unmarshal validates it.
func (l *Layout) UnmarshalJSON(b []byte) error {
	var raw struct {
		Segments []Segment `json:"segments"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	l.Segments = raw.Segments
	return l.Validate()
}
