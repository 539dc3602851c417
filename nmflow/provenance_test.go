package nmflow

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

type fakeBackend struct{}

func (fakeBackend) Description() string { return "go (test)" }

// A model embedding Provenance writes its fields at the top of its JSON, under the names
// model.json always used, and reads a file written before Provenance existed.
func TestProvenanceJSON(t *testing.T) {
	type model struct {
		Provenance
		Steps int `json:"steps_done"`
	}
	var m model
	m.Stamp("nmflow.test", 2, fakeBackend{})
	if _, err := time.Parse(time.RFC3339, m.Created); err != nil || m.NmflowVersion != Version || m.Backend != "go (test)" {
		t.Fatalf("stamp %+v (%v)", m.Provenance, err)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"format":"nmflow.test","version":2,"nmflow_version":"` + Version + `","gomlx_version":"` + GoMLXVersion + `","backend":"go (test)","created":"` + m.Created + `","steps_done":0}`
	if string(b) != want {
		t.Errorf("JSON\n%s\nwant\n%s", b, want)
	}
	old := `{"format":"nmflow.metamodel","version":1,"nmflow_version":"0.0.9","gomlx_version":"v0.28.2","backend":"xla:cuda","created":"2026-01-02T03:04:05Z","steps_done":7}`
	var back model
	if err := json.Unmarshal([]byte(old), &back); err != nil || back.Created != "2026-01-02T03:04:05Z" || back.Backend != "xla:cuda" || back.Steps != 7 {
		t.Fatalf("old model.json: %+v (%v)", back, err)
	}
	// A second save (a resumed fit) keeps the creation time; a nil backend keeps the recorded one.
	back.Stamp("nmflow.metamodel", 1, nil)
	if back.Created != "2026-01-02T03:04:05Z" || back.Backend != "xla:cuda" || back.NmflowVersion != Version {
		t.Errorf("restamped %+v", back.Provenance)
	}
	if strings.Contains(string(b), "Provenance") {
		t.Errorf("the embedded struct shows in the JSON: %s", b)
	}
}
