package prompts

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
)

func readTestdata(tb testing.TB, name string) string {
	tb.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// correctOutput is the output of the seed's correction step.
var correctOutput = Output{Format: FormatSections, Fields: []Field{
	{Name: "after", Type: TypeString, Marker: "교정 후"},
	{Name: "translation", Type: TypeString, Marker: "해석"},
	{Name: "points", Type: TypeList, Marker: "교정 지점"},
}}

func TestParseSectionsReadsTheSeedLogAnswer(t *testing.T) {
	got, err := correctOutput.Parse(readTestdata(t, "seed_log_answer.txt"))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if want := "Today, I went to school and I was very happy. My friend always makes jokes, and we laugh a lot. In class, the teacher told us about"; got["after"] != want {
		t.Errorf("after = %q, want %q", got["after"], want)
	}
	if tr := got["translation"].(string); !strings.HasPrefix(tr, "오늘 나는 학교에 갔고") || strings.Contains(tr, "###") {
		t.Errorf("translation = %q, want the Korean translation alone", tr)
	}
	points := got["points"].([]string)
	if len(points) != 9 {
		t.Fatalf("points has %d items, want 9: %q", len(points), points)
	}
	if want := `**시제 일치**: "go" → "went", "is" → "was"로 변경하여 과거의 일상을 표현했습니다.`; points[0] != want {
		t.Errorf("points[0] = %q, want %q", points[0], want)
	}
	for k := range got {
		if k == "before" {
			t.Errorf("the echoed 교정 전 section leaked into field %q", k)
		}
	}
}

func TestParseSectionsReadsTheSeedExample(t *testing.T) {
	got, err := correctOutput.Parse(readTestdata(t, "seed_example_answer.txt"))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if after := got["after"].(string); !strings.HasSuffix(after, `"But what if she doesn't like me?"`) || strings.Contains(after, "\n") {
		t.Errorf("after = %q, want the one-paragraph corrected text", after)
	}
	points := got["points"].([]string)
	if len(points) != 10 || !strings.HasPrefix(points[9], `"But what if she don't like me?" → "But what if she doesn't like me?": `) {
		t.Errorf("points = %q, want 10 items in the seed's \"X\" → \"Y\": reason form", points)
	}
}

func TestParseSectionsToleratesMarkerVariants(t *testing.T) {
	answer := "Sure! Here you go.\n" +
		"## **교정 후:**\n  Fixed text.  \n\n" +
		"**해석**\n번역\n" +
		"####   교정지점   ####\n" +
		"1) first point\n   continues here\n* second\n• third\n- fourth\n2. fifth\n" +
		"### Notes ###\nignored\n"
	got, err := correctOutput.Parse(answer)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := map[string]any{
		"after":       "Fixed text.",
		"translation": "번역",
		"points":      []string{"first point continues here", "second", "third", "fourth", "fifth"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Parse = %#v, want %#v", got, want)
	}
}

func TestParseSectionsListWithoutMarkersTakesLines(t *testing.T) {
	got, err := correctOutput.Parse("### 교정 후 ###\na\n### 해석 ###\nb\n### 교정 지점 ###\none\n\ntwo\n")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if want := []string{"one", "two"}; !reflect.DeepEqual(got["points"], want) {
		t.Errorf("points = %q, want %q", got["points"], want)
	}
}

func TestParseReportsTheFieldAtFault(t *testing.T) {
	jsonOut := Output{Format: FormatJSON, Fields: []Field{{Name: "before", Type: TypeString}, {Name: "tags", Type: TypeList}}}
	tests := []struct {
		name   string
		out    Output
		answer string
		field  string
		want   string
	}{
		{"missing section", correctOutput, "### 교정 후 ###\na\n### 교정 지점 ###\n1. x\n", "translation", "no section"},
		{"empty section", correctOutput, "### 교정 후 ###\n\n### 해석 ###\nb\n### 교정 지점 ###\n1. x\n", "after", "empty"},
		{"empty list", correctOutput, "### 교정 후 ###\na\n### 해석 ###\nb\n### 교정 지점 ###\n\n", "points", "empty"},
		{"section twice", correctOutput, "### 교정 후 ###\na\n### 교정 후 ###\nb\n### 해석 ###\nb\n### 교정 지점 ###\n1. x\n", "after", "twice"},
		{"no json", jsonOut, "I cannot do that.", "", "no JSON object"},
		{"broken json", jsonOut, `{"before": "a", `, "", "invalid JSON"},
		{"missing key", jsonOut, `{"before": "a"}`, "tags", "missing"},
		{"null value", jsonOut, `{"before": null, "tags": ["a"]}`, "before", "missing"},
		{"wrong type", jsonOut, `{"before": 3, "tags": ["a"]}`, "before", "want a string, found a number"},
		{"list of numbers", jsonOut, `{"before": "a", "tags": [1]}`, "tags", "item 0 is a number"},
		{"blank string", jsonOut, `{"before": "  ", "tags": ["a"]}`, "before", "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.out.Parse(tt.answer)
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Parse(%q) error = %v, want a *ParseError", tt.answer, err)
			}
			if pe.Field != tt.field || !strings.Contains(pe.Error(), tt.want) {
				t.Errorf("Parse(%q) error = %v (field %q), want field %q and %q", tt.answer, err, pe.Field, tt.field, tt.want)
			}
		})
	}
}

func TestParseJSONToleratesFencesProseAndShapes(t *testing.T) {
	out := Output{Format: FormatJSON, Fields: []Field{{Name: "before", Type: TypeString}, {Name: "tags", Type: TypeList}}}
	tests := []struct {
		name, answer string
		want         map[string]any
	}{
		{"plain", `{"before": " text ", "tags": ["a", " b ", ""]}`, map[string]any{"before": "text", "tags": []string{"a", "b"}}},
		{"fenced", "```json\n{\"before\": \"text\", \"tags\": [\"a\"]}\n```", map[string]any{"before": "text", "tags": []string{"a"}}},
		{"prose with braces first", "Here is {my} answer:\n{\"Before\": \"text\", \"tags\": [\"a\"], \"extra\": 1}\nThanks!", map[string]any{"before": "text", "tags": []string{"a"}}},
		{"list as string", `{"before": "text", "tags": "1. a\n2. b\n   more"}`, map[string]any{"before": "text", "tags": []string{"a", "b more"}}},
		{"string as list", `{"before": ["line one", "line two"], "tags": ["a"]}`, map[string]any{"before": "line one\nline two", "tags": []string{"a"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := out.Parse(tt.answer)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.answer, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse(%q) = %#v, want %#v", tt.answer, got, tt.want)
			}
		})
	}
}

func TestJSONSchemaIsStrict(t *testing.T) {
	out := Output{Format: FormatJSON, Fields: []Field{{Name: "before", Type: TypeString, Description: "the text"}, {Name: "tags", Type: TypeList}}}
	want := map[string]any{
		"type": "object",
		"properties": map[string]any{
			"before": map[string]any{"type": "string", "description": "the text"},
			"tags":   map[string]any{"type": "array", "items": map[string]any{"type": "string"}},
		},
		"required":             []any{"before", "tags"},
		"additionalProperties": false,
	}
	if got := out.JSONSchema(); !reflect.DeepEqual(got, want) {
		t.Errorf("JSONSchema() = %#v, want %#v", got, want)
	}
}

func TestInstructionNamesEveryMarkerInOrder(t *testing.T) {
	got := correctOutput.Instruction()
	want := "Answer with exactly these sections, in this order, each introduced by its marker line:\n### 교정 후 ###\n"
	if !strings.HasPrefix(got, want) {
		t.Errorf("Instruction() = %q, want prefix %q", got, want)
	}
	a, b, c := strings.Index(got, "### 교정 후 ###"), strings.Index(got, "### 해석 ###"), strings.Index(got, "### 교정 지점 ###\n1. ")
	if !(a >= 0 && a < b && b < c) {
		t.Errorf("Instruction() = %q, want the three markers in field order, the list numbered", got)
	}
	// What the instruction asks for must parse.
	answer := "### 교정 후 ###\nok\n### 해석 ###\n좋아\n### 교정 지점 ###\n1. \"a\" → \"b\": 이유\n"
	if _, err := correctOutput.Parse(answer); err != nil {
		t.Errorf("Parse of an answer in the instructed shape: %v", err)
	}
}
