package report

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/correctly/correctly/corpus"
	"github.com/correctly/correctly/prompts"
)

func testEvals() []corpus.Eval {
	types := func(f float64) []corpus.EvalTypeScore {
		return []corpus.EvalTypeScore{{Type: "R:VERB:TENSE", TP: 3, FN: 1, F05: f}, {Type: "M:DET", TP: 1, FN: 2, FP: 1, F05: f / 2}, {Type: "R:ORTH", FP: 2}}
	}
	bea := corpus.EvalTestSet{Kind: "m2", Name: "../shared/data/gec/bea-dev.m2", Hash: "bbbbbbbbbbbb", Items: 4384}
	split := corpus.EvalTestSet{Kind: "split", Name: "v1", Part: "test", Hash: "ssssssssssss", Items: 30}
	return []corpus.Eval{
		{ID: "ev-1", Model: "gpt-4o-mini", Source: "endpoint", TestSet: bea, EvalScores: corpus.EvalScores{Answered: 4384, Precision: 0.4, Recall: 0.5, F05: 0.42, Types: types(0.4), LatencyP50MS: 900}},
		{ID: "ev-2", Model: "Qwen fine-tuned", Label: "qwen-v1", Source: "train_run", TrainRun: "run-1", PromptVersions: []string{"v1aaaaaaaa"},
			TestSet: bea, EvalScores: corpus.EvalScores{Answered: 4384, Precision: 0.6, Recall: 0.3, F05: 0.5, Types: types(0.6)}},
		{ID: "ev-3", Model: "Qwen fine-tuned", Source: "endpoint", PromptVersions: []string{"v2bbbbbbbb", "v9gone0000"}, TestSet: split,
			EvalScores: corpus.EvalScores{Answered: 30, F05: 0.7, Types: types(0.7)}},
		{ID: "ev-4", Model: "never answered", Source: "endpoint", TestSet: split},
	}
}

func TestModelsAreRankedByF05WithinTheirTestSet(t *testing.T) {
	rep := buildTiny(t)
	rep.AddModels(testEvals())
	if len(rep.Models) != 3 {
		t.Fatalf("models = %d, want 3 (an eval with no answer left out)", len(rep.Models))
	}
	got := []string{}
	for _, m := range rep.Models {
		got = append(got, m.Eval+"#"+string(rune('0'+m.Rank)))
	}
	if strings.Join(got, " ") != "ev-2#1 ev-1#2 ev-3#1" {
		t.Errorf("models = %v, want BEA-dev (larger) first with the fine-tuned model ranked 1, then the split", got)
	}
	if on := rep.TrainedOn(rep.Models[0]); len(on) != 1 || on[0] != "p@v1aaaaaa" {
		t.Errorf("TrainedOn(qwen-v1) = %v, want the column name p@v1aaaaaa", on)
	}
	if on := rep.TrainedOn(rep.Models[2]); len(on) != 2 || on[0] != "p@v2bbbbbb" || on[1] != "v9gone00" {
		t.Errorf("TrainedOn(ev-3) = %v, want a column name and a bare version", on)
	}
	if on := rep.TrainedOn(rep.Models[1]); on != nil {
		t.Errorf("TrainedOn(baseline) = %v, want nothing", on)
	}
	header, rows := rep.ModelRows()
	if len(rows) != 3 || len(rows[0]) != len(header) || rows[0][2] != "qwen-v1" || rows[0][5] != "0.500" || rows[1][11] != "-" || rows[0][0] != "m2 bea-dev.m2" {
		t.Errorf("ModelRows = %v / %v", header, rows)
	}
	charts := rep.modelCharts()
	if len(charts) != 2 || len(charts[0].Series) != 2 || charts[0].Categories[0] != "R:VERB:TENSE" || len(charts[0].Categories) != 2 {
		t.Errorf("model charts = %d, first %+v; want one per test set, types the references have (no R:ORTH)", len(charts), charts[0])
	}
}

func TestNegativesShareIsShownWhenThereAreAny(t *testing.T) {
	b := NewBuilder(Options{})
	for _, r := range tinyCorpus() {
		b.Add(r)
	}
	neg := rec("v1aaaaaaaa", corpus.StatusAccepted, "We went home.", "a", nil, 10, 5, 0, 50)
	neg.Negative = true
	b.Add(neg)
	rep := b.Report(map[string]*prompts.Schema{})
	if c := rep.Columns[0]; c.Negatives != 1 || !near(c.NegativeRate, 1.0/3) {
		t.Errorf("negatives = %d (%.3f), want 1 of 3 accepted", c.Negatives, c.NegativeRate)
	}
	found := false
	for _, r := range rep.Rows() {
		if strings.HasPrefix(r.Label, "negatives") {
			found = r.Cells[0] == "33.3% (1)" && r.Cells[1] == "0.0% (0)"
		}
	}
	if !found {
		t.Errorf("the rows have no negatives share 33.3%% (1) / 0.0%% (0): %v", rep.Rows())
	}
	plain := buildTiny(t)
	for _, r := range plain.Rows() {
		if strings.HasPrefix(r.Label, "negatives") {
			t.Errorf("a report without negatives shows the row %v", r)
		}
	}
}

func TestModelsSectionRendersAndLinksVersionsInChromium(t *testing.T) {
	b := NewBuilder(Options{BatchSize: 10})
	for _, r := range richCorpus() {
		b.Add(r)
	}
	s := tinySchema()
	rep := b.Report(map[string]*prompts.Schema{"v1aaaaaaaa": s, "v2bbbbbbbb": s, "v3cccccccc": s})
	rep.AddModels(testEvals())
	var buf bytes.Buffer
	if err := WriteHTML(&buf, rep, "correctly report"); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	for _, want := range []string{`id="models"`, `<th id="version-v1aaaaaa">p@v1aaaaaa</th>`, `<a href="#version-v1aaaaaa">p@v1aaaaaa</a>`,
		`id="model-types-bbbbbbbb"`, `id="model-types-ssssssss"`, "qwen-v1", "v9gone00"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	path := filepath.Join(t.TempDir(), "report.html")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	dom, console := chromium(t, path)
	if probs := pageProblems(dom, console); len(probs) > 0 {
		t.Errorf("report page with models in Chromium:\n%s", strings.Join(probs, "\n"))
	}
}
