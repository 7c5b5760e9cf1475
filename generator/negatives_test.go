package generator

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/correctly/correctly/corpus"
	"github.com/correctly/correctly/mistakes"
	"github.com/correctly/correctly/prompts"
)

func TestDiffersAcceptsAnUnchangedTextOnlyInANegativeSlot(t *testing.T) {
	s := &prompts.Schema{Validators: []prompts.Validator{{Kind: "differs", Fields: []string{"before", "after"}}}}
	for _, tc := range []struct {
		name          string
		negative      bool
		before, after string
		want          string
	}{
		{"a correction", false, "He go home.", "He goes home.", ""},
		{"unchanged, not asked for", false, "He goes home.", "He goes  home.", CodeUnchanged},
		{"unchanged negative", true, "He goes home.", "He goes home.", ""},
		{"a negative that was corrected anyway", true, "He goes home.", "He went home.", CodeNegativeChanged},
	} {
		rec := &corpus.Record{Negative: tc.negative, Fields: map[string]any{"before": tc.before, "after": tc.after}}
		reasons, _ := Validate(s, rec, nil)
		got := ""
		if len(reasons) > 0 {
			got = reasons[0].Code
		}
		if got != tc.want {
			t.Errorf("%s: Validate = %v, want %q", tc.name, reasons, tc.want)
		}
	}
}

const rulesWithNegatives = `name: rules_negatives
negatives: 0.2
dimensions:
  theme: [travel, food]
steps:
  - name: inject
    user: "Rewrite a text about {{.theme}} with learner mistakes.{{if .negative}} Or rather, leave it natural.{{end}}"
    output:
      format: json
      fields: [{name: before}, {name: after}, {name: points, type: list}]
validators:
  - required: [before, after, points]
  - differs: [before, after]
  - claims: {fields: [points, before, after], ratio: 0.9}
`

func TestRulesBackendMakesNegativesAtTheSchemasShare(t *testing.T) {
	schema, err := prompts.Parse("rules_negatives.yaml", []byte(rulesWithNegatives))
	if err != nil {
		t.Fatal(err)
	}
	st := openStore(t)
	r := NewRunner(st, schema, &RulesBackend{Injector: mistakes.New(nil), Texts: mistakes.Bundled()}, NewControl(ControlConfig{Fixed: 8}))
	run := benchRun(t, st, schema, "rules", 400, 1)
	stats, err := r.Run(context.Background(), run)
	if err != nil || stats.Status != corpus.RunDone {
		t.Fatalf("Run = %+v, %v; want done", stats, err)
	}
	recs, err := st.Records(context.Background(), corpus.RecordQuery{RunIDs: []string{run.ID}, Status: corpus.StatusAccepted})
	if err != nil {
		t.Fatal(err)
	}
	neg := 0
	for _, rec := range recs {
		before, after := rec.Fields["before"].(string), rec.Fields["after"].(string)
		if rec.Negative != schema.Negative(run.Seed, rec.Slot) {
			t.Errorf("record %s: negative %v, but its slot's is %v", rec.ID, rec.Negative, !rec.Negative)
		}
		if !rec.Negative {
			if before == after || len(rec.Edits) == 0 {
				t.Errorf("record %s is no negative but has no edit", rec.ID)
			}
			continue
		}
		neg++
		if before != after || len(rec.Edits) != 0 || !strings.Contains(strings.Join(list(rec.Fields["points"]), ""), NegativePoint) || rec.Dims["errors"] != "0" {
			t.Errorf("negative record %s: before %q after %q, %d edits, points %v; want its own correction, no edit, the no-correction point", rec.ID, before, after, len(rec.Edits), rec.Fields["points"])
		}
	}
	if share := float64(neg) / float64(len(recs)); share < 0.15 || share > 0.25 {
		t.Errorf("%d of %d accepted records are negatives (%.2f), want about the schema's 0.2", neg, len(recs), share)
	}
}

func TestLLMNegativesAreAskedForNaturalTextAndKeptUnchanged(t *testing.T) {
	src, err := os.ReadFile("../prompts/schemas/correction_script.yaml")
	if err != nil {
		t.Fatal(err)
	}
	y := strings.Replace(string(src), "name: correction_script\n", "name: correction_negatives\nnegatives: 0.3\n", 1)
	y = strings.Replace(y, "      - Write only the text itself: no title, no notes, no corrections.\n",
		"      - Write only the text itself: no title, no notes, no corrections.\n      {{- if .negative}}\n      - Forget the mistakes above: write it in natural English, with no mistakes.\n      {{- end}}\n", 1)
	schema, err := prompts.Parse("correction_negatives.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	g := newRig(t)
	g.schema = schema
	r := g.runner(t, 8)
	run := g.newRun(t, 60)
	stats, err := r.Run(context.Background(), run)
	if err != nil || stats.Status != corpus.RunDone {
		t.Fatalf("Run = %+v, %v; want done", stats, err)
	}
	if stats.Reasons[CodeNegativeChanged] > 0 || stats.Reasons[CodeUnchanged] > 0 {
		t.Errorf("reject reasons = %v, want no negative corrected and no unasked unchanged text", stats.Reasons)
	}
	recs, err := g.store.Records(context.Background(), corpus.RecordQuery{RunIDs: []string{run.ID}, Status: corpus.StatusAccepted})
	if err != nil {
		t.Fatal(err)
	}
	neg := 0
	for _, rec := range recs {
		if rec.Negative {
			neg++
			if rec.Fields["before"] != rec.Fields["after"] {
				t.Errorf("negative record %s was corrected: %q -> %q", rec.ID, rec.Fields["before"], rec.Fields["after"])
			}
		} else if rec.Fields["before"] == rec.Fields["after"] {
			t.Errorf("record %s is no negative and unchanged", rec.ID)
		}
	}
	if neg < 8 || neg > 30 {
		t.Errorf("%d of %d accepted records are negatives, want about 30%%", neg, len(recs))
	}
}
