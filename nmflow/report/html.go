package report

import (
	"bytes"
	"fmt"
	"html"
	"regexp"
	"sort"
	"strings"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
)

const css = `body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;max-width:1050px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
pre{background:#f6f8fa;padding:.6em .8em;overflow-x:auto;border-radius:4px;font-size:85%;tab-size:4}
code{background:#f6f8fa;padding:0 .2em;border-radius:3px;font-size:90%}pre code{background:none;padding:0}
.cell{margin:1em 0}.prompt{color:#888;font:80% monospace;margin-bottom:.2em}
.src{border-left:3px solid #4a90d9}.stderr{background:#fff5f5;color:#933}.error{background:#fdd;color:#900}
.out img{max-width:100%}table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .6em}
th{background:#f0f0f0}.prov td{overflow-wrap:anywhere}.prov td:first-child{font-weight:600;white-space:nowrap}.small{color:#666;font-size:85%}
h1{border-bottom:1px solid #ddd;padding-bottom:.2em}`

var ansi = regexp.MustCompile(`\x1b\[[0-9;]*[A-Za-z]`)

// markdown renders CommonMark with GitHub's tables. Raw HTML in a Markdown cell is left out (the
// goldmark default): a report is shared, and notebooks' prose here needs none.
var markdown = goldmark.New(goldmark.WithExtensions(extension.Table))

// markdownHTML is src as HTML; a text goldmark cannot convert shows as preformatted text.
func markdownHTML(src string) string {
	var buf bytes.Buffer
	if err := markdown.Convert([]byte(src), &buf); err != nil {
		return "<pre>" + html.EscapeString(src) + "</pre>\n"
	}
	return buf.String()
}

func renderHTML(b notebook, rep Report, name string) string {
	var sb strings.Builder
	sb.WriteString("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>nmflow report: " + html.EscapeString(name) + "</title>")
	sb.WriteString("<style>" + css + "</style></head><body>\n")
	fmt.Fprintf(&sb, "<p class=\"small\">nmflow report · %s · <a href=\"#provenance\">provenance and how to reproduce</a></p>\n", html.EscapeString(rep.Created))
	for _, c := range b.Cells {
		src := string(c.Source)
		switch c.Type {
		case "markdown":
			sb.WriteString("<div class=\"cell md\">" + markdownHTML(src) + "</div>\n")
		case "code":
			count := " "
			if c.Count != nil {
				count = fmt.Sprint(*c.Count)
			}
			fmt.Fprintf(&sb, "<div class=\"cell\"><div class=\"prompt\">In [%s]:</div><pre class=\"src\"><code>%s</code></pre>\n", count, html.EscapeString(src))
			for _, o := range c.Outputs {
				sb.WriteString(outputHTML(o))
			}
			sb.WriteString("</div>\n")
		default:
			sb.WriteString("<pre>" + html.EscapeString(src) + "</pre>\n")
		}
	}
	sb.WriteString(provenanceHTML(rep))
	sb.WriteString("</body></html>\n")
	return sb.String()
}

func outputHTML(o nbOutput) string {
	switch o.Type {
	case "stream":
		cls := "out"
		if o.Name == "stderr" {
			cls = "out stderr"
		}
		return fmt.Sprintf("<pre class=\"%s\">%s</pre>\n", cls, html.EscapeString(ansi.ReplaceAllString(string(o.Text), "")))
	case "error":
		tb := ansi.ReplaceAllString(strings.Join(o.Traceback, "\n"), "")
		if tb == "" {
			tb = o.EName + ": " + o.EValue
		}
		return "<pre class=\"out error\">" + html.EscapeString(tb) + "</pre>\n"
	}
	d := o.Data
	switch {
	case d["image/png"] != "":
		return "<div class=\"out\"><img alt=\"figure\" src=\"data:image/png;base64," + strings.TrimSpace(string(d["image/png"])) + "\"></div>\n"
	case d["image/svg+xml"] != "":
		return "<div class=\"out\">" + string(d["image/svg+xml"]) + "</div>\n"
	case d["text/html"] != "":
		return "<div class=\"out\">" + string(d["text/html"]) + "</div>\n"
	case d["text/markdown"] != "":
		return "<div class=\"out\">" + markdownHTML(string(d["text/markdown"])) + "</div>\n"
	case d["text/plain"] != "":
		return "<pre class=\"out\">" + html.EscapeString(string(d["text/plain"])) + "</pre>\n"
	}
	return ""
}

func provenanceHTML(rep Report) string {
	var sb strings.Builder
	row := func(k, v string) {
		if v != "" {
			sb.WriteString("<tr><td>" + html.EscapeString(k) + "</td><td>" + html.EscapeString(v) + "</td></tr>")
		}
	}
	sb.WriteString("<h1 id=\"provenance\">Provenance</h1>\n<table class=\"prov\">")
	row("notebook", orDash(rep.Notebook.Source)+" (executed copy "+rep.Notebook.Executed+")")
	row("notebook sha256", rep.Notebook.SHA256)
	row("kernel", rep.Notebook.Kernel)
	row("cells", fmt.Sprintf("%d code cells, %d figures, %d error outputs", rep.Notebook.CodeCells, rep.Notebook.Images, rep.Notebook.Errors))
	row("NMFLOW_SCALE", rep.Scale)
	row("artifacts made on", rep.MadeOn())
	row("versions", fmt.Sprintf("nmflow %s, GoMLX %s, %s", rep.Env.Nmflow, rep.Env.GoMLX, rep.Env.Go))
	row("report made on", fmt.Sprintf("%s, %d CPUs, backend %s", rep.Env.OS, rep.Env.CPUs, rep.Env.Backend))
	commit := rep.Env.GitCommit
	if rep.Env.GitDirty {
		commit += " (with uncommitted changes)"
	}
	row("git commit", commit)
	row("GOEXPERIMENT", rep.Env.GoExperimnt)
	sb.WriteString("</table>\n<h2>Artifacts</h2>\n")
	if len(rep.Artifacts) == 0 {
		sb.WriteString("<p>The notebook names no file of its artifact folder.</p>\n")
	}
	for _, a := range rep.Artifacts {
		copied := "not copied (over the size budget)"
		if a.Copied {
			copied = "copied to artifacts/" + a.Name
		}
		fmt.Fprintf(&sb, "<h3>%s</h3><p class=\"small\">%s, %s, %s</p><table class=\"prov\">", html.EscapeString(a.Name), html.EscapeString(a.Kind), humanBytes(a.Bytes), html.EscapeString(copied))
		row("tensor data sha256", a.DataSHA256)
		row("sha256", a.SHA256)
		keys := make([]string, 0, len(a.Info))
		for k := range a.Info {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			row(k, a.Info[k])
		}
		sb.WriteString("</table>\n")
	}
	sb.WriteString("<h2>How to reproduce</h2>\n<p>From a checkout of the repository (Debian 12 with Go; see README.md, “Reproducible analyses”):</p><pre>")
	for _, s := range rep.Reproduce {
		if strings.HasPrefix(s, "compare ") {
			sb.WriteString("</pre><p>Then " + html.EscapeString(s) + ".</p>\n")
			return sb.String()
		}
		sb.WriteString(html.EscapeString(s) + "\n")
	}
	sb.WriteString("</pre>\n")
	return sb.String()
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f kB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
