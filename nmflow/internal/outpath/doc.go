// Package outpath holds the one rule every nmflow writer follows before it computes anything:
// an output must not be (or lie inside) one of its inputs once both are resolved to real paths,
// its folder must exist and be writable, and a job holds an exclusive lock on it for its lifetime
// so that a second job into the same place stops at once and says who holds it.
//
// The CLI calls it right after parsing flags; Go callers that write into shared folders can use
// the same checks.
package outpath
