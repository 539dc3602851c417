package report

import (
	"encoding/json"
	"strings"
)

// notebook is the part of an nbformat 4 notebook a report reads.
type notebook struct {
	Cells    []nbCell `json:"cells"`
	Metadata struct {
		Kernelspec struct {
			Name        string `json:"name"`
			DisplayName string `json:"display_name"`
		} `json:"kernelspec"`
	} `json:"metadata"`
}

type nbCell struct {
	Type    string     `json:"cell_type"`
	Source  multiline  `json:"source"`
	Count   *int       `json:"execution_count"`
	Outputs []nbOutput `json:"outputs"`
}

type nbOutput struct {
	Type      string               `json:"output_type"`
	Name      string               `json:"name"`
	Text      multiline            `json:"text"`
	Data      map[string]multiline `json:"data"`
	EName     string               `json:"ename"`
	EValue    string               `json:"evalue"`
	Traceback []string             `json:"traceback"`
}

// multiline is nbformat's string-or-list-of-strings.
type multiline string

func (m *multiline) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*m = multiline(s)
		return nil
	}
	var parts []string
	if err := json.Unmarshal(b, &parts); err != nil {
		// Non-text payloads (e.g. application/json) are kept as their JSON text.
		*m = multiline(b)
		return nil
	}
	*m = multiline(strings.Join(parts, ""))
	return nil
}

func parseNotebook(raw []byte) (notebook, error) {
	var b notebook
	err := json.Unmarshal(raw, &b)
	return b, err
}

func (b notebook) summary(path string, raw []byte) Notebook {
	s := Notebook{Executed: path, SHA256: sha256Hex(raw), Kernel: b.Metadata.Kernelspec.Name}
	for _, c := range b.Cells {
		if c.Type != "code" {
			continue
		}
		s.CodeCells++
		for _, o := range c.Outputs {
			if o.Type == "error" {
				s.Errors++
			}
			if _, ok := o.Data["image/png"]; ok {
				s.Images++
			} else if _, ok := o.Data["image/svg+xml"]; ok {
				s.Images++
			}
		}
	}
	return s
}

// text is every cell's source and every output's text, where artifact names are looked for.
func (b notebook) text() string {
	var sb strings.Builder
	for _, c := range b.Cells {
		sb.WriteString(string(c.Source))
		sb.WriteByte('\n')
		for _, o := range c.Outputs {
			sb.WriteString(string(o.Text))
			for mime, d := range o.Data {
				if strings.HasPrefix(mime, "text/") {
					sb.WriteString(string(d))
				}
			}
			sb.WriteByte('\n')
		}
	}
	return sb.String()
}
