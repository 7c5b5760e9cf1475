//go:build unix

package edits

import "syscall"

// cpuSeconds is the CPU time (user and system) this process has used, so a benchmark can report a
// per-core rate that other load on the machine does not distort.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}
