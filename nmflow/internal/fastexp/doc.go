// Package fastexp is a float32 e^x for x ≤ 0, accurate to 2 ulp and inlined where it is called,
// shared by the host-side scoring of nmflow/eval and the sigmoid of nmflow/backend, and the
// constants their vector forms use.
package fastexp
