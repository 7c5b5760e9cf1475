package report

import (
	"bytes"
	"compress/gzip"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/correctly/correctly/corpus"
	"github.com/correctly/correctly/prompts"
)

func rec(version, status string, before string, theme string, edits []string, in, out int, cost float64, latency int64, reasons ...string) *corpus.Record {
	r := &corpus.Record{ID: version + "-" + status + "-" + before, RunID: "run-" + version, Prompt: "p", PromptVersion: version,
		Status: status, Dims: map[string]string{"theme": theme}, Fields: map[string]any{"before": before},
		Usage: corpus.Usage{PromptTokens: in, CompletionTokens: out}, Cost: cost, LatencyMS: latency}
	for _, e := range edits {
		r.Edits = append(r.Edits, corpus.Edit{Type: e})
	}
	for _, c := range reasons {
		r.Reasons = append(r.Reasons, corpus.Reason{Code: c})
	}
	return r
}

// tinyCorpus is small enough to compute its report by hand (see TestReportFiguresOnATinyCorpus).
func tinyCorpus() []*corpus.Record {
	return []*corpus.Record{
		rec("v1aaaaaaaa", corpus.StatusAccepted, "I go to school. I like it.", "a", []string{"R:VERB:TENSE", "M:DET"}, 100, 50, 0.01, 100),
		rec("v1aaaaaaaa", corpus.StatusAccepted, "I go to the park.", "a", []string{"R:VERB:TENSE"}, 100, 50, 0.01, 200),
		rec("v1aaaaaaaa", corpus.StatusRejected, "x", "b", nil, 100, 40, 0.01, 300, "claim_without_edit", "claim_without_edit", "differs"),
		rec("v1aaaaaaaa", corpus.StatusDuplicate, "y", "a", nil, 100, 40, 0.01, 400, "duplicate"),
		rec("v1aaaaaaaa", corpus.StatusFailed, "", "a", nil, 0, 0, 0, 1000, "parse_error"),
		rec("v2bbbbbbbb", corpus.StatusAccepted, "We went home.", "b", nil, 10, 5, 0.002, 50),
	}
}

func tinySchema() *prompts.Schema {
	return &prompts.Schema{Name: "p", Dimensions: []prompts.Dimension{{Name: "theme", Values: []string{"a", "b"}, Weights: []float64{3, 1}}}}
}

func buildTiny(t testing.TB) *Report {
	t.Helper()
	b := NewBuilder(Options{BatchSize: 2})
	for _, r := range tinyCorpus() {
		b.Add(r)
	}
	s := tinySchema()
	return b.Report(map[string]*prompts.Schema{"v1aaaaaaaa": s, "v2bbbbbbbb": s})
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestReportFiguresOnATinyCorpus(t *testing.T) {
	rep := buildTiny(t)
	if len(rep.Columns) != 2 || rep.Columns[0].Version != "v1aaaaaaaa" || rep.Columns[1].Version != "v2bbbbbbbb" {
		t.Fatalf("columns = %d, want v1 then v2", len(rep.Columns))
	}
	c := rep.Columns[0]
	ints := map[string][2]int{
		"attempts": {c.Attempts, 5}, "accepted": {c.Accepted, 2}, "rejected": {c.Rejected, 1}, "failed": {c.Failed, 1},
		"duplicates": {c.Duplicates, 1}, "edits": {c.Edits, 3}, "tokens in": {c.Tokens.PromptTokens, 400},
		"tokens out": {c.Tokens.CompletionTokens, 180}, "p50": {int(c.LatencyP50MS), 300}, "p95": {int(c.LatencyP95MS), 1000},
	}
	for name, v := range ints {
		if v[0] != v[1] {
			t.Errorf("%s = %d, want %d", name, v[0], v[1])
		}
	}
	floats := map[string][2]float64{
		"accept rate": {c.AcceptRate, 0.4}, "reject rate": {c.RejectRate, 0.2}, "duplicate rate": {c.DuplicateRate, 0.2},
		"cost": {c.Cost, 0.04}, "cost per accepted": {c.CostPerAccepted, 0.02}, "tokens per accepted": {c.TokensPerAccept, 290},
		"edits per record": {c.EditsPerRecord, 1.5},
		// batch of 2: "i go to school i like it" + "i go to the park": 8 of 12 words, 8 of 10 bigrams,
		// 7 of 8 trigrams distinct; both open with "i go to"
		"distinct-1": {c.Diversity.Distinct1, 8.0 / 12}, "distinct-2": {c.Diversity.Distinct2, 8.0 / 10},
		"distinct-3": {c.Diversity.Distinct3, 7.0 / 8}, "top opening": {c.Diversity.TopOpening, 1},
		"compression": {c.Diversity.CompressionRatio, CompressionRatio("I go to school. I like it.\nI go to the park.")},
	}
	for name, v := range floats {
		if !near(v[0], v[1]) {
			t.Errorf("%s = %v, want %v", name, v[0], v[1])
		}
	}
	wantReasons := []Count{{"claim_without_edit", 1, 0.2}, {"differs", 1, 0.2}, {"parse_error", 1, 0.2}}
	if !reflect.DeepEqual(c.RejectReasons, wantReasons) {
		t.Errorf("reject reasons = %v, want %v (each code once per record, duplicates apart)", c.RejectReasons, wantReasons)
	}
	if want := []Count{{"VERB:TENSE", 2, 2.0 / 3}, {"DET", 1, 1.0 / 3}}; !reflect.DeepEqual(c.EditCategories, want) {
		t.Errorf("edit categories = %v, want %v", c.EditCategories, want)
	}
	if want := []Count{{"R:VERB:TENSE", 2, 2.0 / 3}, {"M:DET", 1, 1.0 / 3}}; !reflect.DeepEqual(c.EditTypes, want) {
		t.Errorf("edit types = %v, want %v", c.EditTypes, want)
	}
	if want := []int{0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0}; !reflect.DeepEqual(c.EditHistogram, want) {
		t.Errorf("edit histogram = %v, want %v", c.EditHistogram, want)
	}
	if c.Diversity.Batches != 1 || c.Diversity.Partial || c.Diversity.Diversity().TopOpeningWords != "i go to" {
		t.Errorf("diversity = %+v, want one full batch opening with %q", c.Diversity, "i go to")
	}
	// coverage: 2 accepted, both theme a; weights 3:1 expect 1.5 and 0.5; χ² = 0.25/1.5 + 0.25/0.5
	if len(c.Coverage) != 1 {
		t.Fatalf("coverage = %v, want theme", c.Coverage)
	}
	cv := c.Coverage[0]
	if want := []ValueCoverage{{"a", 3, 2, 1.5}, {"b", 1, 0, 0.5}}; !reflect.DeepEqual(cv.Values, want) {
		t.Errorf("coverage values = %v, want %v", cv.Values, want)
	}
	wantChi := 0.25/1.5 + 0.25/0.5
	if !near(cv.ChiSquare, wantChi) || cv.DF != 1 || cv.P == nil || math.Abs(*cv.P-math.Erfc(math.Sqrt(wantChi/2))) > 1e-9 {
		t.Errorf("coverage χ² = %v df %d p %v, want %v df 1 p %v", cv.ChiSquare, cv.DF, cv.P, wantChi, math.Erfc(math.Sqrt(wantChi/2)))
	}

	c2 := rep.Columns[1]
	if c2.Attempts != 1 || c2.AcceptRate != 1 || !c2.Diversity.Partial || c2.Diversity.BatchSize != 1 || c2.Coverage[0].Values[1].Count != 1 {
		t.Errorf("v2 column = %+v, want 1 accepted record in one partial batch", c2)
	}
}

// Diversity returns the first batch's measures, for tests.
func (d Diversity) Diversity() BatchMeasures {
	if len(d.PerBatch) == 0 {
		return BatchMeasures{}
	}
	return d.PerBatch[0]
}

func TestChiSquareP(t *testing.T) {
	tests := []struct {
		x    float64
		df   int
		want float64
	}{
		{3.841458820694124, 1, 0.05},
		{6.634896601021214, 1, 0.01},
		{4, 2, math.Exp(-2)},
		{9.487729036781154, 4, 0.05},
		{18.307038053275146, 10, 0.05},
		{124.34211340400407, 100, 0.05},
		{0.5, 3, math.Erfc(0.5) + math.Sqrt(2*0.5/math.Pi)*math.Exp(-0.25)}, // closed form for df 3
		{0, 5, 1},
	}
	for _, tt := range tests {
		if got := ChiSquareP(tt.x, tt.df); math.Abs(got-tt.want) > 1e-8 {
			t.Errorf("ChiSquareP(%v, %d) = %.10f, want %.10f", tt.x, tt.df, got, tt.want)
		}
	}
	if !math.IsNaN(ChiSquareP(1, 0)) {
		t.Error("ChiSquareP(1, 0) is a number, want NaN for no degrees of freedom")
	}
}

func TestPercentileIsNearestRank(t *testing.T) {
	vs := []int64{15, 20, 35, 40, 50}
	for _, tt := range []struct {
		p    float64
		want int64
	}{{5, 15}, {30, 20}, {40, 20}, {50, 35}, {95, 50}, {100, 50}} {
		if got := percentile(vs, tt.p); got != tt.want {
			t.Errorf("percentile(%v, %v) = %d, want %d", vs, tt.p, got, tt.want)
		}
	}
	if percentile(nil, 50) != 0 {
		t.Error("percentile of nothing is not 0")
	}
}

func TestCompressionRatioRisesWithRepetition(t *testing.T) {
	rep := strings.Repeat("I go to school every day. ", 40)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte(rep))
	zw.Close()
	if got, want := CompressionRatio(rep), float64(len(rep))/float64(buf.Len()); !near(got, want) || got < 5 {
		t.Errorf("CompressionRatio(repetitive) = %v, want %v (above 5)", got, want)
	}
	if got := CompressionRatio("Quick brown fox."); got >= 1 {
		t.Errorf("CompressionRatio(short text) = %v, want below 1 (gzip's header outweighs it)", got)
	}
}

func TestWordsSplitsOnPunctuation(t *testing.T) {
	got := Words("I don't know, Minji! 그래서 2 times.")
	want := []string{"i", "don't", "know", "minji", "그래서", "2", "times"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Words = %q, want %q", got, want)
	}
}
