package prompts

import (
	"strings"
	"testing"
)

const withNegatives = `name: t
negatives: 0.1
dimensions:
  theme: [travel, food]
steps:
  - name: draft
    user: "Write about {{.theme}}.{{if .negative}} Write natural English with no mistakes.{{end}}"
    output: {format: json, fields: [{name: before}, {name: after}]}
train: {user: "{{.before}}", assistant: "{{.after}}{{if .negative}} (no change){{end}}"}
`

func TestNegativesShareIsParsedAndSampledPerSlot(t *testing.T) {
	s := mustParse(t, withNegatives)
	if s.Negatives != 0.1 {
		t.Fatalf("Negatives = %v, want 0.1", s.Negatives)
	}
	n := 0
	for slot := range 20000 {
		if s.Negative(7, slot) {
			n++
		}
		if s.Negative(7, slot) != s.Negative(7, slot) {
			t.Fatalf("Negative(7, %d) differs between calls", slot)
		}
	}
	if share := float64(n) / 20000; share < 0.09 || share > 0.11 {
		t.Errorf("share of negative slots = %.3f, want about 0.1", share)
	}
	other := 0
	for slot := range 2000 {
		if s.Negative(7, slot) != s.Negative(8, slot) {
			other++
		}
	}
	if other == 0 {
		t.Error("negatives are the same slots for seeds 7 and 8, want them drawn per seed")
	}
	if mustParse(t, minimal).Negative(7, 3) {
		t.Error("a schema without negatives has a negative slot")
	}
	sys, user, err := s.Steps[0].Render(map[string]any{"theme": "food", "negative": true, "slot": 0, "seed": 0})
	if err != nil || !strings.Contains(user, "no mistakes") {
		t.Errorf("Render of a negative slot = %q, %q, %v; want the negative instruction", sys, user, err)
	}
}

func TestNegativesMistakesAreReportedAtTheirLine(t *testing.T) {
	for _, tc := range []struct{ name, src, want string }{
		{"share out of range", strings.Replace(withNegatives, "negatives: 0.1", "negatives: 1.5", 1), "test.yaml:2:12: negatives: negatives 1.5: give the share"},
		{"not a number", strings.Replace(withNegatives, "negatives: 0.1", "negatives: many", 1), "test.yaml:2:12: negatives: want a number"},
		{"no template reads .negative", strings.Replace(withNegatives, "{{if .negative}} Write natural English with no mistakes.{{end}}", "", 1), "test.yaml:2:12: negatives: negatives is set, but no step template reads .negative"},
		{".negative without negatives", strings.Replace(withNegatives, "negatives: 0.1\n", "", 1), "template refers to .negative, which is set only in a schema with negatives"},
		{"a dimension named negative", strings.Replace(withNegatives, "theme: [travel, food]", "theme: [travel, food]\n  negative: [yes]", 1), `dimension name "negative" is reserved`},
	} {
		_, err := Parse("test.yaml", []byte(tc.src))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Parse error = %v, want %q", tc.name, err, tc.want)
		}
	}
}

// TestBuiltinVersionsAreUnchangedByNewKeys pins the built-in schemas' versions: a key added to the
// schema language changes the version of the schemas that use it, never of those that do not.
func TestBuiltinVersionsAreUnchangedByNewKeys(t *testing.T) {
	for name, want := range map[string]string{
		"correction_script": "043bd9ce82a24af676844b5e189d94b2b94e93f7783621a42452b11bdf85872a",
		"learner_errors":    "0642ca64157a5686169d3960e4e7ba0ec621f430ca723fc40e5291603c7630f0",
	} {
		if got := builtin(t, name).Version(); got != want {
			t.Errorf("%s version = %s, want %s", name, got, want)
		}
	}
	base := mustParse(t, strings.Replace(withNegatives, "negatives: 0.1\n", "negatives: 0.2\n", 1)).Version()
	if base == mustParse(t, withNegatives).Version() {
		t.Error("changing negatives did not change the version")
	}
}
