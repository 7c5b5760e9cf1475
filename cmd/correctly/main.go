// Command correctly generates, checks and ships training data for a chatbot that turns the awkward English
// Korean learners write into natural English.
package main

import "os"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
