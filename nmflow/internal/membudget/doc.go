// Package membudget refuses jobs that cannot fit in this machine's memory before they allocate:
// a size estimate is compared with MemTotal from /proc/meminfo, so a typo such as --runs
// 1000000000 gives "needs ~X GiB, this machine has Y GiB" instead of an out-of-memory crash.
// NMFLOW_MEMORY_GIB overrides the machine's total (say, for a GPU's memory, or to lift the check).
package membudget
