package optim

// Schedule is a trainer's learning-rate schedule (linear warm-up, then cosine down to a floor) and
// weight decay, with the JSON names the trainers store them under.
type Schedule struct {
	LR          float64 `json:"lr"`           // peak learning rate
	WarmUp      int     `json:"warmup"`       // linear warm-up steps
	MinLR       float64 `json:"min_lr"`       // cosine floor as a fraction of LR
	WeightDecay float64 `json:"weight_decay"` // AdamW decoupled decay
}

// Fill returns s with each zero field taken from def; a zero WarmUp with a zero def.WarmUp
// becomes a twentieth of steps.
func (s Schedule) Fill(def Schedule, steps int) Schedule {
	if s.LR == 0 {
		s.LR = def.LR
	}
	if s.WarmUp == 0 {
		s.WarmUp = def.WarmUp
		if s.WarmUp == 0 {
			s.WarmUp = steps / 20
		}
	}
	if s.MinLR == 0 {
		s.MinLR = def.MinLR
	}
	if s.WeightDecay == 0 {
		s.WeightDecay = def.WeightDecay
	}
	return s
}
