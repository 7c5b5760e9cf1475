// Command correctly generates, checks and ships training data for a chatbot that turns the awkward English
// Korean learners write into natural English.
package main

import (
	"os"
	"runtime/debug"
)

// gcPercent is the collector's target for the CLI: a run's live heap is small and short-lived, so
// collecting a quarter as often buys throughput for a few MB (GOGC, when set, still wins).
const gcPercent = 400

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
