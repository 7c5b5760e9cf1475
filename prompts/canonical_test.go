package prompts

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// reordered is minimal with its keys in another order, other quoting and
// comments; it means the same.
const reordered = `# a comment
steps:   # the steps
  - output: {fields: ['before']}
    user: 'Write about {{.theme}}.'
    name: draft
  - user: >-
      {{.before}}
    output:
      fields:
        - marker: "교정 후"
          name: after
        - {type: list, name: points}
      format: sections
    name: fix
dimensions: {theme: [ travel, food ]}
name: "t"
`

func TestCanonicalIgnoresKeyOrderQuotingAndComments(t *testing.T) {
	a, b := mustParse(t, minimal), mustParse(t, reordered)
	if string(a.Canonical()) != string(b.Canonical()) {
		t.Errorf("canonical forms differ:\n%s", Diff(a, b))
	}
	if a.Version() != b.Version() {
		t.Errorf("Version() = %s and %s, want the same", a.Version(), b.Version())
	}
	if strings.Contains(string(b.Canonical()), "#") {
		t.Errorf("Canonical() kept a comment:\n%s", b.Canonical())
	}
}

func TestVersionChangesWithContent(t *testing.T) {
	base := mustParse(t, minimal).Version()
	for _, change := range []string{
		strings.Replace(minimal, "[travel, food]", "[food, travel]", 1), // value order matters
		strings.Replace(minimal, "Write about", "Write something about", 1),
		minimal + "owner: someone\n", // unknown keys are content too
	} {
		if v := mustParse(t, change).Version(); v == base {
			t.Errorf("Version unchanged after a content change:\n%s", change)
		}
	}
	if len(base) != 64 {
		t.Errorf("Version() = %q, want 64 hex digits", base)
	}
}

// orderedE mimics bson.E, so FromDoc is tested on an ordered document without
// importing the driver.
type orderedE struct {
	Key   string
	Value any
}

func TestFromDocRoundTripKeepsTheVersion(t *testing.T) {
	s := builtin(t, "correction_script")
	// Through JSON, as a document store would hand it back: float64 numbers.
	raw, err := json.Marshal(s.Doc)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	back, err := FromDoc(doc)
	if err != nil {
		t.Fatalf("FromDoc: %v", err)
	}
	if back.Version() != s.Version() {
		t.Errorf("FromDoc(JSON round trip).Version() = %s, want %s\n%s", back.Version(), s.Version(), Diff(s, back))
	}
	if !reflect.DeepEqual(back.Fields(), s.Fields()) || !reflect.DeepEqual(back.Validators[0].Fields, s.Validators[0].Fields) {
		t.Errorf("FromDoc lost fields or validators")
	}
	if got, want := back.Sample(3, 9), s.Sample(3, 9); !reflect.DeepEqual(got, want) {
		t.Errorf("FromDoc(...).Sample(3, 9) = %v, want %v", got, want)
	}

	// BSON-like: int32 and int64 numbers, named slice types, ordered documents.
	type array []any
	bsonish := map[string]any{
		"name":       "t",
		"dimensions": []orderedE{{"theme", array{"travel", "food"}}, {"style", map[string]any{"formal": int32(2), "casual": int64(1)}}},
		"steps": array{
			[]orderedE{{"name", "draft"}, {"user", "{{.theme}} {{.style}}"}, {"output", map[string]any{"fields": array{"before"}}}},
		},
		"params": map[string]any{"temperature": 0.5, "max_tokens": int64(10)},
	}
	s2, err := FromDoc(bsonish)
	if err != nil {
		t.Fatalf("FromDoc(bson-like): %v", err)
	}
	if got := s2.DimNames(); !reflect.DeepEqual(got, []string{"theme", "style"}) {
		t.Errorf("DimNames() = %v, want the ordered document's order [theme style]", got)
	}
	again, err := FromDoc(s2.Doc)
	if err != nil || again.Version() != s2.Version() {
		t.Errorf("FromDoc(FromDoc(x).Doc) = %v, %v; want the same version", again, err)
	}
}

func TestFromDocKeepsTheVersionOfWholeFloats(t *testing.T) {
	s := mustParse(t, strings.Replace(minimal, "[travel, food]", "{travel: 2.0, food: 0.5}", 1)+"params: {temperature: 1.0, top_p: 1}\n")
	raw, err := json.Marshal(s.Doc)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	back, err := FromDoc(doc)
	if err != nil {
		t.Fatalf("FromDoc: %v", err)
	}
	if back.Version() != s.Version() {
		t.Errorf("FromDoc(JSON round trip).Version() differs:\n%s", Diff(s, back))
	}
	// A plain map comes back in key order: food, travel.
	d := back.Dimensions[0]
	if *back.Params.Temperature != 1 || !reflect.DeepEqual(d.Values, []string{"food", "travel"}) || !reflect.DeepEqual(d.Weights, []float64{0.5, 2}) {
		t.Errorf("FromDoc temperature, dimension = %v, %+v; want 1, food 0.5 and travel 2", *back.Params.Temperature, d)
	}
}

func TestFromDocReportsInvalidDocuments(t *testing.T) {
	_, err := FromDoc(map[string]any{"name": "t", "dimensions": map[string]any{"theme": []any{"a"}}})
	if err == nil || !strings.Contains(err.Error(), "missing steps") {
		t.Errorf("FromDoc without steps: error = %v, want missing steps", err)
	}
	withID := map[string]any{"_id": [3]byte{0xff, 0, 1}, "name": "t", "dimensions": map[string]any{"theme": []any{"a"}}}
	if _, err := FromDoc(withID); err == nil || !strings.Contains(err.Error(), "missing steps") {
		t.Errorf("FromDoc with a binary id: error = %v, want only missing steps", err)
	}
	_, err = FromDoc(map[string]any{"name": make(chan int)})
	if err == nil || !strings.Contains(err.Error(), "unsupported value") {
		t.Errorf("FromDoc with a channel: error = %v, want unsupported value", err)
	}
}

func TestDiffShowsChangedLines(t *testing.T) {
	a := mustParse(t, minimal)
	b := mustParse(t, strings.Replace(minimal, "Write about", "Write a diary about", 1))
	if d := Diff(a, a); d != "" {
		t.Errorf("Diff(a, a) = %q, want \"\"", d)
	}
	d := Diff(a, b)
	want := "-    user: Write about {{.theme}}.\n+    user: Write a diary about {{.theme}}.\n"
	if !strings.Contains(d, want) {
		t.Errorf("Diff =\n%s\nwant it to contain\n%s", d, want)
	}
	if !strings.HasPrefix(d, "--- t@"+a.Version()[:12]+"\n+++ t@"+b.Version()[:12]+"\n@@ -") {
		t.Errorf("Diff header = %q, want ---/+++ lines with name@version and a hunk", strings.SplitN(d, "\n", 4)[:3])
	}
	if strings.Contains(d, " name: t\n") {
		t.Errorf("Diff shows lines far from the change:\n%s", d)
	}
}

func TestDiffLinesMakesMinimalHunks(t *testing.T) {
	a := []string{"a", "b", "c", "d"}
	b := []string{"a", "x", "c", "d", "e"}
	var got []string
	for _, op := range diffLines(a, b) {
		got = append(got, string(op.kind)+op.text)
	}
	want := []string{" a", "-b", "+x", " c", " d", "+e"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("diffLines = %q, want %q", got, want)
	}
}
