package prompts

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// mustParse parses src or fails the test.
func mustParse(tb testing.TB, src string) *Schema {
	tb.Helper()
	s, err := Parse("test.yaml", []byte(src))
	if err != nil {
		tb.Fatalf("Parse: %v", err)
	}
	return s
}

func builtin(tb testing.TB, name string) *Schema {
	tb.Helper()
	all, err := Builtin()
	if err != nil {
		tb.Fatalf("Builtin: %v", err)
	}
	for _, s := range all {
		if s.Name == name {
			return s
		}
	}
	tb.Fatalf("no built-in schema %q", name)
	return nil
}

const minimal = `name: t
dimensions:
  theme: [travel, food]
steps:
  - name: draft
    user: "Write about {{.theme}}."
    output:
      fields: [before]
  - name: fix
    user: "{{.before}}"
    output:
      format: sections
      fields:
        - {name: after, marker: 교정 후}
        - {name: points, type: list}
`

func TestParseReadsMinimalSchema(t *testing.T) {
	s := mustParse(t, minimal)
	if s.Name != "t" || s.File != "test.yaml" {
		t.Errorf("Name, File = %q, %q; want t, test.yaml", s.Name, s.File)
	}
	wantDims := []Dimension{{Name: "theme", Values: []string{"travel", "food"}, Weights: []float64{1, 1}}}
	if !reflect.DeepEqual(s.Dimensions, wantDims) {
		t.Errorf("Dimensions = %+v, want %+v", s.Dimensions, wantDims)
	}
	wantFields := []Field{
		{Name: "before", Type: TypeString},
		{Name: "after", Type: TypeString, Marker: "교정 후"},
		{Name: "points", Type: TypeList, Marker: "points"},
	}
	if got := s.Fields(); !reflect.DeepEqual(got, wantFields) {
		t.Errorf("Fields() = %+v, want %+v", got, wantFields)
	}
	if s.Steps[0].Output.Format != FormatJSON {
		t.Errorf("default format = %q, want json", s.Steps[0].Output.Format)
	}
	if s.Train != nil || s.Dedup != nil {
		t.Errorf("Train, Dedup = %v, %v; want nil when absent", s.Train, s.Dedup)
	}
}

func TestParseKeepsUnknownTopLevelKeys(t *testing.T) {
	s := mustParse(t, minimal+"owner: kyungho\ntags: [ko, en]\n")
	if s.Doc["owner"] != "kyungho" {
		t.Errorf("Doc[owner] = %v, want kyungho", s.Doc["owner"])
	}
	if got, want := s.Doc["tags"], []any{"ko", "en"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Doc[tags] = %#v, want %#v", got, want)
	}
}

func TestParseReadsWeightsInFileOrder(t *testing.T) {
	s := mustParse(t, strings.Replace(minimal, "  theme: [travel, food]\n", "  theme: [travel, food]\n  style: {formal: 2, casual: 0.5}\n", 1))
	want := Dimension{Name: "style", Values: []string{"formal", "casual"}, Weights: []float64{2, 0.5}}
	if !reflect.DeepEqual(s.Dimensions[1], want) {
		t.Errorf("Dimensions[1] = %+v, want %+v", s.Dimensions[1], want)
	}
	if got := s.DimNames(); !reflect.DeepEqual(got, []string{"theme", "style"}) {
		t.Errorf("DimNames() = %v, want [theme style]", got)
	}
}

func TestParseReportsSchemaErrors(t *testing.T) {
	tests := []struct {
		name       string
		src        string
		line       int
		path, want string
	}{
		{"yaml syntax", "name: t\ndimensions:\n  a: b\n   c: d\n", 4, "", "invalid YAML: mapping values are not allowed"},
		{"empty file", "", 1, "", "empty schema"},
		{"not a mapping", "- a\n- b\n", 1, "", "a schema is a mapping"},
		{"missing name", strings.Replace(minimal, "name: t\n", "", 1), 1, "name", "missing name"},
		{"bad name", strings.Replace(minimal, "name: t", "name: My Prompt", 1), 1, "name", `name "My Prompt" is not allowed`},
		{"missing dimensions", strings.Replace(minimal, "dimensions:\n  theme: [travel, food]\n", "", 1), 1, "dimensions", "missing dimensions"},
		{"no dimensions", strings.Replace(minimal, "dimensions:\n  theme: [travel, food]\n", "dimensions: {}\n", 1), 2, "dimensions", "no dimensions"},
		{"dimension without values", strings.Replace(minimal, "[travel, food]", "[]", 1), 3, "dimensions.theme", "has no values"},
		{"dimension scalar", strings.Replace(minimal, "[travel, food]", "travel", 1), 3, "dimensions.theme", "want a list of values or a mapping"},
		{"value twice", strings.Replace(minimal, "[travel, food]", "[travel, travel]", 1), 3, "dimensions.theme", `value "travel" is listed twice`},
		{"zero weight", strings.Replace(minimal, "[travel, food]", "{travel: 0, food: 1}", 1), 3, "dimensions.theme.travel", "must be greater than 0"},
		{"weight not a number", strings.Replace(minimal, "[travel, food]", "{travel: lots}", 1), 3, "dimensions.theme.travel", "want a number"},
		{"dimension name with dash", strings.Replace(minimal, "  theme:", "  key-expr:", 1), 3, "dimensions.key-expr", "{{.key_expr}}"},
		{"reserved dimension name", strings.Replace(minimal, "  theme: [travel, food]", "  theme: [travel, food]\n  seed: [a]", 1), 4, "dimensions.seed", "reserved"},
		{"missing steps", minimal[:strings.Index(minimal, "steps:")], 1, "steps", "missing steps"},
		{"empty steps", minimal[:strings.Index(minimal, "steps:")] + "steps: []\n", 4, "steps", "no steps"},
		{"template does not parse", strings.Replace(minimal, `"Write about {{.theme}}."`, `"Write about {{.theme."`, 1), 6, "steps[0].user", "template does not parse"},
		{"unknown template name", strings.Replace(minimal, "{{.theme}}", "{{.topic}}", 1), 6, "steps[0].user", "refers to .topic, which is not a dimension"},
		{"unknown name lists known", strings.Replace(minimal, "{{.theme}}", "{{.topic}}", 1), 6, "steps[0].user", "use one of seed, slot, theme"},
		{"later field", strings.Replace(minimal, "{{.theme}}", "{{.after}}", 1), 6, "steps[0].user", `which step "fix" produces`},
		{"own field", strings.Replace(minimal, `user: "{{.before}}"`, `user: "{{.before}} {{.points}}"`, 1), 10, "steps[1].user", `.points, which step "fix" produces`},
		{"examples without examples", strings.Replace(minimal, "{{.theme}}", "{{range .examples}}{{.before}}{{end}}", 1), 6, "steps[0].user", "the step has no examples"},
		{"dollar ref checked in range", strings.Replace(minimal, `"{{.before}}"`, `"{{range .points}}{{$.nope}}{{end}}"`, 1), 10, "steps[1].user", "refers to .nope"},
		{"system template checked", strings.Replace(minimal, "    user: \"{{.before}}\"", "    system: \"{{.bogus}}\"\n    user: \"{{.before}}\"", 1), 10, "steps[1].system", "refers to .bogus"},
		{"bad step name", strings.Replace(minimal, "name: fix", "name: fix it", 1), 9, "steps[1].name", `step name "fix it" is not allowed`},
		{"step name twice", strings.Replace(minimal, "name: fix", "name: draft", 1), 9, "steps[1].name", `step name "draft" is already used by steps[0]`},
		{"missing user", strings.Replace(minimal, "    user: \"{{.before}}\"\n", "", 1), 9, "steps[1].user", "missing user prompt"},
		{"missing output", minimal[:strings.Index(minimal, "    output:\n      format")], 9, "steps[1].output", "missing output"},
		{"unknown step key", strings.Replace(minimal, "    user: \"{{.before}}\"", "    sytem: hi\n    user: \"{{.before}}\"", 1), 10, "steps[1].sytem", "unknown key \"sytem\": use one of name, system, user"},
		{"field twice across steps", strings.Replace(minimal, "{name: after, marker: 교정 후}", "{name: before, marker: 교정 후}", 1), 14, "steps[1].output.fields.before", `already declared at steps[0].output.fields.before`},
		{"field twice in step", strings.Replace(minimal, "{name: points, type: list}", "{name: after, type: list}", 1), 15, "steps[1].output.fields.after", "declared twice in this step"},
		{"marker twice", strings.Replace(minimal, "{name: points, type: list}", "{name: points, type: list, marker: 교정후}", 1), 15, "steps[1].output.fields.points.marker", `already used by field "after"`},
		{"unknown field type", strings.Replace(minimal, "type: list", "type: array", 1), 15, "steps[1].output.fields[1].type", `unknown field type "array": use string or list`},
		{"unknown format", strings.Replace(minimal, "format: sections", "format: xml", 1), 12, "steps[1].output.format", `unknown output format "xml"`},
		{"json_mode other than object", strings.Replace(minimal, "      fields: [before]", "      json_mode: schema\n      fields: [before]", 1), 8, "steps[0].output.json_mode", "use object"},
		{"json_mode on sections", strings.Replace(minimal, "format: sections", "format: sections\n      json_mode: object", 1), 13, "steps[1].output.json_mode", "applies only to format json"},
		{"no fields", strings.Replace(minimal, "fields: [before]", "fields: []", 1), 8, "steps[0].output.fields", "no fields"},
		{"field name clashes with dimension", strings.Replace(minimal, "fields: [before]", "fields: [theme]", 1), 8, "steps[0].output.fields.theme", "has the name of a dimension"},
		{"temperature out of range", minimal + "params: {temperature: 3}\n", 16, "params.temperature", "use 0 to 2"},
		{"unknown param", minimal + "params: {temprature: 1}\n", 16, "params.temprature", "unknown key"},
		{"validator unknown field", minimal + "validators:\n  - required: [before, afterr]\n", 17, "validators[0].fields", `unknown field "afterr": use one of after, before, points`},
		{"validator unknown kind", minimal + "validators:\n  - nonempty: [before]\n", 17, "validators[0]", "use one of required, differs, no_hangul, hangul, contains, length, claims"},
		{"validator unknown dim", minimal + "validators:\n  - contains: {fields: [before], dim: topic}\n", 17, "validators[0].dim", `unknown dimension "topic": use one of theme`},
		{"validator without dim", minimal + "validators:\n  - contains: [before]\n", 17, "validators[0].dim", "contains needs dim"},
		{"length bounds swapped", minimal + "validators:\n  - length: {fields: [before], min: 300, max: 30}\n", 17, "validators[0]", "min 300 is above max 30"},
		{"length negative", minimal + "validators:\n  - kind: length\n    fields: [before]\n    min: -1\n", 19, "validators[0].min", "must not be negative"},
		{"length without bounds", minimal + "validators:\n  - length: {fields: [before]}\n", 17, "validators[0]", "needs min or max"},
		{"validator extra argument", minimal + "validators:\n  - hangul: {fields: [after], ratoi: 0.5}\n", 17, "validators[0].ratoi", "hangul takes no argument \"ratoi\": use fields, ratio"},
		{"ratio out of range", minimal + "validators:\n  - hangul: {fields: [after], ratio: 50}\n", 17, "validators[0].ratio", "ratio 50 is out of range"},
		{"differs with one field", minimal + "validators:\n  - differs: [after]\n", 17, "validators[0].fields", "name at least two"},
		{"claims points not a list", minimal + "validators:\n  - claims: [after, before, after]\n", 17, "validators[0].fields", "claims reads its points from a list field"},
		{"claims wrong arity", minimal + "validators:\n  - claims: [points, before]\n", 17, "validators[0].fields", "claims reads three fields"},
		{"dedup unknown field", minimal + "dedup: {fields: [text]}\n", 16, "dedup.fields", `unknown field "text"`},
		{"dedup bad scope", minimal + "dedup: {fields: [before], scope: run}\n", 16, "dedup.scope", `unknown scope "run"`},
		{"dedup threshold", minimal + "dedup: {fields: [before], threshold: 2}\n", 16, "dedup.threshold", "above 0 and below 2"},
		{"train examples", minimal + "train: {user: \"{{.before}}\", assistant: \"{{.examples}}\"}\n", 16, "train.assistant", "examples exist only while a step runs"},
		{"train unknown name", minimal + "train:\n  user: \"{{.before}}\"\n  assistant: |\n    {{.after}}\n    {{.nope}}\n", 20, "train.assistant", "refers to .nope"},
		{"train missing assistant", minimal + "train: {user: \"{{.before}}\"}\n", 16, "train.assistant", "missing assistant"},
		{"examples unknown field", strings.Replace(minimal, "    output:\n      fields: [before]", "    examples: {k: 2, field: text, query: \"{{.theme}}\"}\n    output:\n      fields: [before]", 1), 5, "steps[0].examples.field", `unknown field "text"`},
		{"examples query sees no examples", strings.Replace(minimal, "    output:\n      fields: [before]", "    examples: {k: 2, field: before, query: \"{{.examples}}\"}\n    output:\n      fields: [before]", 1), 7, "steps[0].examples.query", "refers to .examples"},
		{"examples k", strings.Replace(minimal, "    output:\n      fields: [before]", "    examples: {k: 0, field: before, query: \"{{.theme}}\"}\n    output:\n      fields: [before]", 1), 7, "steps[0].examples.k", "at least 1"},
		{"key twice", strings.Replace(minimal, "name: t\n", "name: t\nname: u\n", 1), 2, "name", "appears twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("test.yaml", []byte(tt.src))
			if err == nil {
				t.Fatalf("Parse succeeded, want an error containing %q", tt.want)
			}
			var list ErrorList
			if !errors.As(err, &list) {
				var one *Error
				if !errors.As(err, &one) {
					t.Fatalf("Parse error is %T, want *Error or ErrorList: %v", err, err)
				}
				list = ErrorList{one}
			}
			for _, e := range list {
				if e.File == "test.yaml" && e.Line == tt.line && e.Path == tt.path && strings.Contains(e.Msg, tt.want) {
					return
				}
			}
			t.Errorf("Parse error = \n%v\nwant one at test.yaml:%d path %q containing %q", err, tt.line, tt.path, tt.want)
		})
	}
}

func TestErrorFormatsLocationPathAndMessage(t *testing.T) {
	_, err := Parse("p.yaml", []byte(strings.Replace(minimal, "{{.theme}}", "{{.topic}}", 1)))
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("Parse error = %v (%T), want *Error", err, err)
	}
	// "    user: \"Write about {{.topic}}.\"": .topic starts at column 26.
	want := "p.yaml:6:26: steps[0].user: template refers to .topic"
	if !strings.HasPrefix(e.Error(), want) {
		t.Errorf("Error() = %q, want prefix %q", e.Error(), want)
	}
}

func TestParseLocatesNamesInsideBlockTemplates(t *testing.T) {
	src := strings.Replace(minimal, `    user: "{{.before}}"`, "    user: |\n      Fix this:\n        {{.before}} {{.nope}}", 1)
	_, err := Parse("p.yaml", []byte(src))
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("Parse error = %v, want *Error", err)
	}
	if e.Line != 12 || e.Col != 23 {
		t.Errorf("error at %d:%d, want 12:23 (%v)", e.Line, e.Col, e)
	}
}

func TestParseReportsEveryErrorInFileOrder(t *testing.T) {
	src := strings.Replace(minimal, "name: t", "name: T", 1) + "validators:\n  - required: [nope]\n"
	_, err := Parse("p.yaml", []byte(src))
	var list ErrorList
	if !errors.As(err, &list) || len(list) != 2 {
		t.Fatalf("Parse error = %v, want two errors", err)
	}
	if list[0].Line != 1 || list[1].Line != 17 {
		t.Errorf("error lines = %d, %d; want 1, 17", list[0].Line, list[1].Line)
	}
}

func TestParseAcceptsValidatorSpellings(t *testing.T) {
	s := mustParse(t, minimal+`validators:
  - required: [before, after]
  - no_hangul: after
  - kind: length
    field: before
    max: 300
  - hangul: {fields: [after]}
  - claims: {fields: [points, before, after]}
  - contains: {fields: [before], dim: theme}
`)
	want := []Validator{
		{Kind: "required", Fields: []string{"before", "after"}, Args: map[string]any{"fields": []any{"before", "after"}}, Line: 17},
		{Kind: "no_hangul", Fields: []string{"after"}, Args: map[string]any{"fields": "after"}, Line: 18},
		{Kind: "length", Fields: []string{"before"}, Max: 300, Args: map[string]any{"fields": "before", "max": 300}, Line: 19},
		{Kind: "hangul", Fields: []string{"after"}, Ratio: 0.5, Args: map[string]any{"fields": []any{"after"}}, Line: 22},
		{Kind: "claims", Fields: []string{"points", "before", "after"}, Ratio: 0.9, Args: map[string]any{"fields": []any{"points", "before", "after"}}, Line: 23},
		{Kind: "contains", Fields: []string{"before"}, Dim: "theme", Args: map[string]any{"fields": []any{"before"}, "dim": "theme"}, Line: 24},
	}
	if !reflect.DeepEqual(s.Validators, want) {
		t.Errorf("Validators =\n%+v\nwant\n%+v", s.Validators, want)
	}
}

func TestParseReadsParamsAndStepOverride(t *testing.T) {
	s := mustParse(t, strings.Replace(minimal, "    user: \"{{.before}}\"", "    user: \"{{.before}}\"\n    params: {temperature: 0.2, model: big}", 1)+
		"params: {model: small, temperature: 0.9, top_p: 0.5, max_tokens: 100, seed: 7}\n")
	p := s.StepParams(s.Step("fix"))
	if p.Model != "big" || *p.Temperature != 0.2 || *p.TopP != 0.5 || p.MaxTokens != 100 || *p.Seed != 7 {
		t.Errorf("StepParams(fix) = %+v, want model big, temperature 0.2, top_p 0.5, max_tokens 100, seed 7", p)
	}
	if p := s.StepParams(s.Step("draft")); p.Model != "small" || *p.Temperature != 0.9 {
		t.Errorf("StepParams(draft) = %+v, want the schema's params", p)
	}
}

func TestLoadNamesTheFileInErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(path, []byte("name: t\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	if err == nil || !strings.Contains(err.Error(), path+":1:1: dimensions: missing dimensions") {
		t.Errorf("Load(%s) error = %v, want it to name the file, line and missing dimensions", path, err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "none.yaml")); err == nil {
		t.Errorf("Load of a missing file succeeded")
	}
}

func TestBuiltinCorrectionScriptReproducesTheSeedPipeline(t *testing.T) {
	s := builtin(t, "correction_script")
	if s.File != "" {
		t.Errorf("File = %q, want \"\" for an embedded schema", s.File)
	}
	for _, name := range []string{"script_type", "speaker", "style", "theme", "key_expression"} {
		found := false
		for _, d := range s.Dimensions {
			if d.Name == name {
				found = true
				if name == "key_expression" && len(d.Values) < 10 {
					t.Errorf("key_expression has %d values, want 10 or more", len(d.Values))
				}
			}
		}
		if !found {
			t.Errorf("no dimension %q", name)
		}
	}
	var names []string
	for _, f := range s.Fields() {
		names = append(names, f.Name+":"+f.Type)
	}
	if got, want := strings.Join(names, " "), "before:string after:string translation:string points:list"; got != want {
		t.Errorf("fields = %s, want %s", got, want)
	}
	if s.Params.Model != "gpt-4o-mini" || *s.Params.Temperature != 0.9 || s.Params.MaxTokens != 1200 {
		t.Errorf("Params = %+v, want gpt-4o-mini, 0.9, 1200", s.Params)
	}
	if s.Dedup == nil || !reflect.DeepEqual(s.Dedup.Fields, []string{"before"}) || s.Dedup.Scope != "all" {
		t.Errorf("Dedup = %+v, want fields [before], scope all", s.Dedup)
	}
	var kinds []string
	for _, v := range s.Validators {
		kinds = append(kinds, v.Kind)
	}
	if got, want := strings.Join(kinds, " "), "required differs no_hangul hangul contains length claims"; got != want {
		t.Errorf("validator kinds = %s, want %s", got, want)
	}

	data := map[string]any{"slot": 3, "seed": int64(42)}
	for k, v := range s.Sample(42, 3) {
		data[k] = v
	}
	sys, user, err := s.Steps[0].Render(data)
	if err != nil {
		t.Fatalf("render draft: %v", err)
	}
	if sys == "" || !strings.Contains(user, data["key_expression"].(string)) || !strings.Contains(user, `"before" (string)`) {
		t.Errorf("draft prompt lacks the key expression or the JSON instruction:\n%s", user)
	}
	before, _ := os.ReadFile("testdata/seed_example_before.txt")
	data["before"] = strings.TrimSpace(string(before))
	sys, user, err = s.Steps[1].Render(data)
	if err != nil {
		t.Fatalf("render correct: %v", err)
	}
	if !strings.HasPrefix(sys, "당신은 영어 문장을 교정하는 선생님입니다.") {
		t.Errorf("correct system prompt = %q, want the seed's teacher instruction", sys)
	}
	for _, want := range []string{"### 교정 전 ###\nI have a friend", "### 교정 후 ###", "### 해석 ###", "### 교정 지점 ###"} {
		if !strings.Contains(user, want) {
			t.Errorf("correct user prompt lacks %q:\n%s", want, user)
		}
	}

	answer, _ := os.ReadFile("testdata/seed_example_answer.txt")
	got, err := s.Steps[1].Output.Parse(string(answer))
	if err != nil {
		t.Fatalf("parse the seed answer: %v", err)
	}
	for k, v := range got {
		data[k] = v
	}
	_, tuser, asst, err := s.Train.Render(data)
	if err != nil {
		t.Fatalf("Train.Render: %v", err)
	}
	if tuser != data["before"] {
		t.Errorf("train user = %q, want the text before correction", tuser)
	}
	if !strings.HasPrefix(asst, "### 교정 후 ###\nI have a friend who likes a girl, but") || !strings.Contains(asst, "\n10. \"But what if she don't like me?\"") {
		t.Errorf("train assistant =\n%s\nwant the corrected text and the numbered points", asst)
	}
}
