package generator

import (
	"context"
	"strings"
	"testing"

	"github.com/correctly/correctly/corpus"
	"github.com/correctly/correctly/prompts"
	"github.com/correctly/correctly/vectors"
)

func (g *rig) dedup(tb testing.TB) *Dedup {
	tb.Helper()
	idx, err := vectors.OpenEmbedded(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { idx.Close() })
	d := NewDedup(g.store, idx, vectors.NewHash(), g.schema, 0)
	if err := d.Prepare(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return d
}

func TestDedupCatchesRepeatsOfEarlierRuns(t *testing.T) {
	g := newRig(t)
	ctx := context.Background()
	dir := t.TempDir()
	// each run is its own process: the index is opened from disk, as `correctly generate` does
	open := func() (*Dedup, *countingEmbedder) {
		idx, err := vectors.OpenEmbedded(dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { idx.Close() })
		emb := &countingEmbedder{Embedder: vectors.NewHash()}
		d := NewDedup(g.store, idx, emb, g.schema, 0)
		if err := d.Prepare(ctx); err != nil {
			t.Fatal(err)
		}
		return d, emb
	}
	d, _ := open()
	first := g.newRun(t, 20)
	r := g.runner(t, 4)
	r.Dedup = d
	if _, err := r.Run(ctx, first); err != nil {
		t.Fatal(err)
	}
	if err := d.Index.Close(); err != nil {
		t.Fatal(err)
	}
	d, emb := open()
	if emb.texts != 0 {
		t.Fatalf("the reopened index lacked vectors of the first run: Prepare re-embedded %d texts", emb.texts)
	}
	// the LLM now keeps retelling earlier stories with a name changed
	g.server.NearDuplicates = 0.5
	second := g.newRun(t, 20)
	r = g.runner(t, 4)
	r.Dedup = d
	stats, err := r.Run(ctx, second)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Accepted != 20 || stats.Duplicate == 0 {
		t.Fatalf("second run: %d accepted, %d duplicates; want 20 accepted and some duplicates", stats.Accepted, stats.Duplicate)
	}
	dups, err := g.store.Records(ctx, corpus.RecordQuery{RunIDs: []string{second.ID}, Status: corpus.StatusDuplicate})
	if err != nil {
		t.Fatal(err)
	}
	fromFirst := 0
	for _, rec := range dups {
		if rec.DupOf == "" || rec.Distance == nil || *rec.Distance > d.Threshold {
			t.Errorf("duplicate %s: dup_of %q distance %v, want a neighbour within %.2f", rec.ID, rec.DupOf, rec.Distance, d.Threshold)
		}
		if strings.HasPrefix(rec.DupOf, first.ID) {
			fromFirst++
		}
	}
	if fromFirst == 0 {
		t.Error("no duplicate pointed at the first run: dedup must cover the whole corpus")
	}
}

// A learner text the LLM repeated is caught as it arrives: its correction and translation are
// never asked for, so a repeat costs one request, not two.
func TestRepeatedDraftIsNotCorrected(t *testing.T) {
	g := newRig(t)
	r := g.runner(t, 1) // one slot at a time: every repeat has its original indexed already
	r.Dedup = g.dedup(t)
	g.server.NearDuplicates = 0.4
	run := g.newRun(t, 20)
	stats, err := r.Run(context.Background(), run)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Accepted != 20 || stats.Duplicate == 0 {
		t.Fatalf("%d accepted, %d duplicates; want 20 accepted and some duplicates", stats.Accepted, stats.Duplicate)
	}
	dups, err := g.store.Records(context.Background(), corpus.RecordQuery{RunIDs: []string{run.ID}, Status: corpus.StatusDuplicate})
	if err != nil {
		t.Fatal(err)
	}
	first := g.schema.Steps[0].Name
	for _, rec := range dups {
		if len(rec.Steps) != 1 || rec.Steps[0].Step != first || rec.Fields["after"] != nil {
			t.Errorf("duplicate %s has steps %v and after %v; want only step %s asked", rec.ID, rec.Steps, rec.Fields["after"], first)
		}
	}
	if got, want := g.server.Counts().Requests, 2*stats.Accepted+stats.Duplicate; got != want {
		t.Errorf("the server was asked %d times for %d accepted and %d duplicates, want %d", got, stats.Accepted, stats.Duplicate, want)
	}
}

func TestDedupKeepsDistinctTextsOnOneTheme(t *testing.T) {
	g := newRig(t)
	r := g.runner(t, 4)
	r.Dedup = g.dedup(t)
	run := g.newRun(t, 25)
	stats, err := r.Run(context.Background(), run)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Duplicate > 1 {
		t.Errorf("%d of 25 distinct stories were called duplicates", stats.Duplicate)
	}
}

func TestExamplesNeverReturnTheRecordItself(t *testing.T) {
	g := newRig(t)
	d := g.dedup(t)
	r := g.runner(t, 2)
	r.Dedup = d
	run := g.newRun(t, 6)
	if _, err := r.Run(context.Background(), run); err != nil {
		t.Fatal(err)
	}
	recs, err := g.store.Records(context.Background(), corpus.RecordQuery{RunIDs: []string{run.ID}, Status: corpus.StatusAccepted})
	if err != nil {
		t.Fatal(err)
	}
	self := recs[0]
	ex := &prompts.Examples{K: 3, Field: "before", Query: "{{.q}}"}
	data := map[string]any{"q": self.Fields["before"], "run_id": run.ID, "slot": self.Slot}
	got, err := d.Examples(context.Background(), ex, data)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("Examples returned %d records, want 3", len(got))
	}
	for _, e := range got {
		if e["id"] == self.ID {
			t.Errorf("Examples for slot %d returned its own record", self.Slot)
		}
	}
	again, _ := d.Examples(context.Background(), ex, data)
	for i := range got {
		if got[i]["id"] != again[i]["id"] {
			t.Errorf("Examples is not deterministic: %v then %v", got[i]["id"], again[i]["id"])
		}
	}
}

func TestReindexReproducesNeighbours(t *testing.T) {
	g := newRig(t)
	d := g.dedup(t)
	r := g.runner(t, 4)
	r.Dedup = d
	run := g.newRun(t, 12)
	if _, err := r.Run(context.Background(), run); err != nil {
		t.Fatal(err)
	}
	q := "Yesterday I go to Busan with my sister and we stay at hotel."
	before, err := d.Similar(context.Background(), "before", q, 5, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Reindex(context.Background()); err != nil {
		t.Fatal(err)
	}
	after, err := d.Similar(context.Background(), "before", q, 5, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(before) != 5 || len(after) != 5 {
		t.Fatalf("Similar returned %d then %d neighbours, want 5", len(before), len(after))
	}
	for i := range before {
		if before[i].RecordID != after[i].RecordID {
			t.Errorf("neighbour %d: %s before reindex, %s after", i, before[i].RecordID, after[i].RecordID)
		}
	}
}

func TestLostIndexIsRebuiltFromTheRecords(t *testing.T) {
	g := newRig(t)
	r := g.runner(t, 4)
	r.Dedup = g.dedup(t)
	run := g.newRun(t, 10)
	if _, err := r.Run(context.Background(), run); err != nil {
		t.Fatal(err)
	}
	// the index directory is gone: a new, empty index must not be trusted
	fresh := g.dedup(t)
	n, err := fresh.Index.Count(context.Background(), vectors.CollectionName("before", fresh.Embedder.ID()))
	if err != nil || n != 10 {
		t.Fatalf("index after Prepare holds %d vectors (%v), want the 10 accepted records", n, err)
	}
	// and a repeat of an accepted record is still caught
	recs, _ := g.store.Records(context.Background(), corpus.RecordQuery{RunIDs: []string{run.ID}, Status: corpus.StatusAccepted, Limit: 1})
	ns, err := fresh.Similar(context.Background(), "before", recs[0].Fields["before"].(string), 1, "")
	if err != nil || len(ns) != 1 || ns[0].RecordID != recs[0].ID || ns[0].Distance > 1e-4 {
		t.Errorf("Similar(accepted text) = %v, %v; want the record itself at distance 0", ns, err)
	}
}

// countingEmbedder counts the texts it embeds.
type countingEmbedder struct {
	vectors.Embedder
	texts int
}

func (c *countingEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	c.texts += len(texts)
	return c.Embedder.Embed(ctx, texts)
}

func TestPrepareDoesNotReembedRecordsThatLackTheField(t *testing.T) {
	g := newRig(t)
	ctx := context.Background()
	dir := t.TempDir()
	open := func() (*Dedup, *countingEmbedder, func()) {
		idx, err := vectors.OpenEmbedded(dir)
		if err != nil {
			t.Fatal(err)
		}
		emb := &countingEmbedder{Embedder: vectors.NewHash()}
		return NewDedup(g.store, idx, emb, g.schema, 0), emb, func() { idx.Close() }
	}
	d, emb, closeIndex := open()
	r := g.runner(t, 4)
	r.Dedup = d
	run := g.newRun(t, 10)
	if _, err := r.Run(ctx, run); err != nil {
		t.Fatal(err)
	}
	closeIndex()
	// an accepted record without the compared field (imported, or from a schema without it)
	odd := &corpus.Record{ID: "odd-00000", RunID: "odd", Slot: 0, Prompt: g.schema.Name, Status: corpus.StatusAccepted,
		Fields: map[string]any{"after": "Nothing to compare."}}
	if err := g.store.AddRecords(ctx, []*corpus.Record{odd}); err != nil {
		t.Fatal(err)
	}
	d, emb, closeIndex = open()
	// and one accepted record that reached the store but not the index (a crash between the two)
	lost := &corpus.Record{ID: "lost-00000", RunID: "lost", Slot: 0, Prompt: g.schema.Name, Status: corpus.StatusAccepted,
		Fields: map[string]any{"before": "A text the index never saw.", "after": "A text the index never saw."}}
	if err := g.store.AddRecords(ctx, []*corpus.Record{lost}); err != nil {
		t.Fatal(err)
	}
	if err := d.Prepare(ctx); err != nil { // the index lacks both: the one with the field is embedded
		t.Fatal(err)
	}
	closeIndex()
	if emb.texts != 1 {
		t.Errorf("the first Prepare embedded %d texts, want 1: the record the index lacks, not the 10 it holds", emb.texts)
	}
	d, emb, closeIndex = open()
	defer closeIndex()
	if err := d.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	if emb.texts != 0 {
		t.Errorf("the next start embedded %d texts again, want none: the index lacks only the record without the field", emb.texts)
	}
}
