package prompts

import (
	"strings"
	"testing"
)

func TestRenderFailsOnMissingKey(t *testing.T) {
	s := mustParse(t, minimal)
	_, _, err := s.Steps[0].Render(map[string]any{"slot": 1})
	if err == nil || !strings.Contains(err.Error(), `step "draft"`) || !strings.Contains(err.Error(), "theme") {
		t.Errorf("Render without theme: error = %v, want one naming the step and the missing key", err)
	}
}

func TestRenderAppendsTheOutputInstruction(t *testing.T) {
	s := mustParse(t, minimal)
	_, user, err := s.Steps[0].Render(map[string]any{"theme": "food"})
	if err != nil {
		t.Fatal(err)
	}
	if want := "Write about food.\n\nAnswer with one JSON object with exactly these keys:\n- \"before\" (string)"; user != want {
		t.Errorf("user = %q, want %q", user, want)
	}
	_, user, err = s.Steps[1].Render(map[string]any{"theme": "food", "before": "b"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(user, "b\n\nAnswer with exactly these sections") || !strings.Contains(user, "### 교정 후 ###") {
		t.Errorf("user = %q, want the text and the sections instruction", user)
	}
}

func TestTemplateFuncs(t *testing.T) {
	tests := []struct {
		tmpl string
		data map[string]any
		want string
	}{
		{`{{join .points ", "}}`, map[string]any{"points": []string{"a", "b"}}, "a, b"},
		{`{{join .points "/"}}`, map[string]any{"points": []any{"a", "b"}}, "a/b"},
		{`{{numbered .points}}`, map[string]any{"points": []string{"a", "b", "c"}}, "1. a\n2. b\n3. c"},
		{`{{numbered .points}}`, map[string]any{"points": "only"}, "1. only"},
		{`{{range .examples}}[{{.before}}]{{end}}`, map[string]any{"examples": []map[string]any{{"before": "x"}, {"before": "y"}}}, "[x][y]"},
	}
	for _, tt := range tests {
		st := Step{Name: "s", User: tt.tmpl, Output: Output{Format: FormatJSON}}
		_, got, err := st.Render(tt.data)
		if err != nil {
			t.Errorf("Render(%q): %v", tt.tmpl, err)
			continue
		}
		if got != tt.want {
			t.Errorf("Render(%q) = %q, want %q", tt.tmpl, got, tt.want)
		}
	}
	st := Step{Name: "s", User: `{{join .points ", "}}`}
	if _, _, err := st.Render(map[string]any{"points": 3}); err == nil {
		t.Errorf("join of a number succeeded, want an error")
	}
}

func TestParseAllowsExampleFieldsInsideRange(t *testing.T) {
	src := strings.Replace(minimal, "    user: \"{{.before}}\"",
		"    examples: {k: 2, field: after, query: \"{{.theme}} {{.before}}\"}\n    user: \"{{range .examples}}{{.after}}{{end}}{{with .before}}{{.}}{{end}} {{.before}}\"", 1)
	s := mustParse(t, src)
	ex := s.Steps[1].Examples
	if ex == nil || ex.K != 2 || ex.Field != "after" {
		t.Fatalf("Examples = %+v, want k 2, field after", ex)
	}
	q, err := ex.RenderQuery(map[string]any{"theme": "food", "before": "b"})
	if err != nil || q != "food b" {
		t.Errorf("RenderQuery = %q, %v; want \"food b\"", q, err)
	}
	_, user, err := s.Steps[1].Render(map[string]any{"theme": "food", "before": "b", "examples": []map[string]any{{"after": "A1"}, {"after": "A2"}}})
	if err != nil || !strings.HasPrefix(user, "A1A2b b") {
		t.Errorf("Render = %q, %v; want the examples' after fields first", user, err)
	}
}

func TestTrainRenderFailsOnMissingField(t *testing.T) {
	s := builtin(t, "correction_script")
	_, _, _, err := s.Train.Render(map[string]any{"before": "b", "after": "a"})
	if err == nil || !strings.Contains(err.Error(), "points") {
		t.Errorf("Train.Render without points: error = %v, want one naming points", err)
	}
}

func BenchmarkRenderCorrect(b *testing.B) {
	s := builtin(b, "correction_script")
	data := map[string]any{"slot": 1, "seed": int64(1), "before": strings.Repeat("I go to school yesterday. ", 8)}
	for k, v := range s.Sample(1, 1) {
		data[k] = v
	}
	st := &s.Steps[1]
	for b.Loop() {
		if _, _, err := st.Render(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseSections(b *testing.B) {
	answer := readTestdata(b, "seed_example_answer.txt")
	for b.Loop() {
		if _, err := correctOutput.Parse(answer); err != nil {
			b.Fatal(err)
		}
	}
}
