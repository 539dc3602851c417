// Package report turns an executed notebook and the artifacts it used into a folder a colleague
// can open and reproduce: index.html (self-contained: figures embedded, Markdown cells rendered by
// goldmark), report.json (versions, backend, seeds, content hashes: the provenance), README.md
// (the commands that reproduce it), notebook.ipynb and artifacts/ (copies, up to a size budget).
//
// Make does all of it; the `nmflow report` command is a thin wrapper over it. A safetensors
// artifact is hashed over its tensor bytes only (TensorDataHash), so that two runs which produced
// bit-identical numbers have equal hashes though their headers record different creation times.
package report
