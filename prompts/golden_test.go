package prompts

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestBuiltinPromptsMatchGolden renders every built-in schema for one slot, so a
// change to a shipped prompt shows up in review as a diff of
// testdata/*.golden. Run go test ./prompts -run Golden -update to accept it.
func TestBuiltinPromptsMatchGolden(t *testing.T) {
	all, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range all {
		t.Run(s.Name, func(t *testing.T) {
			got := renderAll(t, s, 42, 0)
			path := "testdata/" + s.Name + ".golden"
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v: run go test ./prompts -run Golden -update to create it", err)
			}
			if got != string(want) {
				t.Errorf("rendered prompts differ from %s; if the change is intended, run go test ./prompts -run Golden -update\ngot:\n%s", path, got)
			}
		})
	}
}

// renderAll renders every step of s for one slot, feeding each step's fields
// a placeholder value.
func renderAll(tb testing.TB, s *Schema, seed int64, slot int) string {
	tb.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "schema %s version %s\n", s.Name, s.Version())
	data := map[string]any{"seed": seed, "slot": slot}
	sample := s.Sample(seed, slot)
	names := make([]string, 0, len(sample))
	for k := range sample {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		data[k] = sample[k]
		fmt.Fprintf(&b, "dimension %s = %s\n", k, sample[k])
	}
	for i := range s.Steps {
		st := &s.Steps[i]
		if st.Examples != nil {
			data["examples"] = []map[string]any{}
		}
		sys, user, err := st.Render(data)
		if err != nil {
			tb.Fatalf("render step %s: %v", st.Name, err)
		}
		fmt.Fprintf(&b, "\n===== step %s: system =====\n%s\n===== step %s: user =====\n%s\n", st.Name, sys, st.Name, user)
		delete(data, "examples")
		for _, f := range st.Output.Fields {
			if f.Type == TypeList {
				data[f.Name] = []string{"<" + f.Name + " 1>", "<" + f.Name + " 2>"}
			} else {
				data[f.Name] = "<" + f.Name + ">"
			}
		}
	}
	if s.Train != nil {
		sys, user, asst, err := s.Train.Render(data)
		if err != nil {
			tb.Fatalf("render train: %v", err)
		}
		fmt.Fprintf(&b, "\n===== train: system =====\n%s\n===== train: user =====\n%s\n===== train: assistant =====\n%s\n", sys, user, asst)
	}
	return b.String()
}
