package nmflow

import "time"

// Provenance heads every saved model's JSON (flow's model.json, vae's vae.json): its format and
// what made it. Models embed it, so its fields stay at the top level of the JSON.
type Provenance struct {
	Format        string `json:"format"`
	Version       int    `json:"version"`
	NmflowVersion string `json:"nmflow_version"`
	GoMLXVersion  string `json:"gomlx_version"`
	Backend       string `json:"backend"`
	Created       string `json:"created"` // RFC 3339, UTC
}

// Describer is what Stamp needs of a backend (a GoMLX compute.Backend is one).
type Describer interface{ Description() string }

// Stamp records the format and its version, this library's versions and be's description (kept
// when be is nil) before a save. Created is set once: a model saved again (a resumed fit) keeps
// the time it was first saved.
func (p *Provenance) Stamp(format string, version int, be Describer) {
	p.Format, p.Version = format, version
	p.NmflowVersion, p.GoMLXVersion = Version, GoMLXVersion
	if be != nil {
		p.Backend = be.Description()
	}
	if p.Created == "" {
		p.Created = time.Now().UTC().Format(time.RFC3339)
	}
}
