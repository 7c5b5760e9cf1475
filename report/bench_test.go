package report

import (
	"fmt"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/correctly/correctly/corpus"
	"github.com/correctly/correctly/prompts"
)

// benchRecords makes n records over 4 prompt versions: mostly accepted, with edits, dimensions,
// usage and latency, and texts of about 40 words.
func benchRecords(n int) []*corpus.Record {
	r := rand.New(rand.NewPCG(1, 2))
	words := []string{"I", "go", "to", "school", "my", "friend", "went", "the", "library", "yesterday", "and", "we", "study", "English", "together", "because", "exam", "is", "next", "week", "it", "was", "very", "fun", "but", "tired"}
	types := []string{"R:VERB:SVA", "M:DET", "R:PREP", "R:SPELL", "U:PUNCT", "R:NOUN:NUM", "R:ORTH", "R:VERB:TENSE"}
	themes := []string{"a", "b", "c", "d", "e", "f"}
	out := make([]*corpus.Record, n)
	for i := range out {
		text := make([]byte, 0, 256)
		for k := range 40 {
			if k > 0 {
				text = append(text, ' ')
			}
			text = append(text, words[r.IntN(len(words))]...)
		}
		status := corpus.StatusAccepted
		var reasons []corpus.Reason
		switch r.IntN(10) {
		case 0:
			status, reasons = corpus.StatusRejected, []corpus.Reason{{Code: "claim_without_edit"}}
		case 1:
			status = corpus.StatusDuplicate
		}
		var es []corpus.Edit
		for range r.IntN(5) {
			es = append(es, corpus.Edit{Type: types[r.IntN(len(types))]})
		}
		out[i] = &corpus.Record{ID: fmt.Sprint(i), RunID: "run", Prompt: "p", PromptVersion: fmt.Sprintf("v%d", i%4), Status: status,
			Reasons: reasons, Dims: map[string]string{"theme": themes[r.IntN(len(themes))]}, Fields: map[string]any{"before": string(text)},
			Edits: es, Usage: corpus.Usage{PromptTokens: 900, CompletionTokens: 300}, Cost: 0.0003, LatencyMS: int64(500 + r.IntN(3000))}
	}
	return out
}

// BenchmarkReport100k times the report over 100,000 records held in memory (4 versions, batches of
// 100): every figure, then the HTML page. Reading the records from the store is not included.
func BenchmarkReport100k(b *testing.B) {
	recs := benchRecords(100_000)
	s := &prompts.Schema{Dimensions: []prompts.Dimension{{Name: "theme", Values: []string{"a", "b", "c", "d", "e", "f"}}}}
	schemas := map[string]*prompts.Schema{"v0": s, "v1": s, "v2": s, "v3": s}
	b.ResetTimer()
	for b.Loop() {
		bld := NewBuilder(Options{})
		for _, r := range recs {
			bld.Add(r)
		}
		rep := bld.Report(schemas)
		if err := WriteHTML(io.Discard, rep, "bench"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(recs)), "records")
}
