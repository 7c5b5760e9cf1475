package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestEveryCommandHelpShowsExamples walks the command tree: every command a user can run has
// examples in its --help (cobra's own completion and help commands excepted).
func TestEveryCommandHelpShowsExamples(t *testing.T) {
	var out, errOut bytes.Buffer
	root := newRootCommand(&app{Out: &out, ErrOut: &errOut, Getenv: func(string) string { return "" }})
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		if !c.Runnable() || c.Hidden || c.Name() == "help" || strings.HasPrefix(c.CommandPath(), root.Name()+" completion") {
			return
		}
		// an example is a command line, indented, in Example or in the long description
		if !strings.Contains(c.Example, "correctly ") && !strings.Contains(c.Long, "\n  correctly ") {
			t.Errorf("`%s --help` shows no examples", c.CommandPath())
		}
	}
	walk(root)
}
