package splits

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/correctly/correctly/vectors"
)

// BenchmarkAssign100k times the split algorithm on 100,000 records held in memory (about 75,000
// planted near-duplicate pairs, clusters of 2-6, stratified by two dimensions): grouping, placement
// and the tolerance figures, without the store or the index.
func BenchmarkAssign100k(b *testing.B) {
	items, pairs := synthItems(b, 100_000, 1)
	o := Options{Ratios: threeParts, Seed: 1, Stratify: []string{"theme", "speaker"}}
	b.ResetTimer()
	for b.Loop() {
		res, err := Assign(items, pairs, o)
		if err != nil {
			b.Fatal(err)
		}
		if !res.WithinTolerance {
			b.Fatalf("max deviation %.3f", res.MaxDeviation)
		}
	}
	b.ReportMetric(float64(len(items)), "records")
	b.ReportMetric(float64(len(pairs)), "pairs")
}

// BenchmarkNearPairs10k times the near-duplicate search of a split: 10,000 hash-embedded records
// against the embedded index holding them (an exact scan, so it grows with the square of the records).
func BenchmarkNearPairs10k(b *testing.B) {
	ctx := context.Background()
	p := plantCorpus(b, 10_000)
	emb := vectors.NewHash()
	texts := make([]string, len(p.recs))
	for i, r := range p.recs {
		texts[i] = r.Fields["before"].(string)
	}
	vecs, err := emb.Embed(ctx, texts)
	if err != nil {
		b.Fatal(err)
	}
	items := make([]vectors.Item, len(vecs))
	for i := range vecs {
		items[i] = vectors.Item{ID: p.recs[i].ID, Vector: vecs[i], Meta: map[string]string{"run": "run1"}}
	}
	idx, err := vectors.OpenEmbedded(filepath.Join(b.TempDir(), "vectors"))
	if err != nil {
		b.Fatal(err)
	}
	defer idx.Close()
	coll := vectors.CollectionName("before", emb.ID())
	if err := idx.Add(ctx, coll, items); err != nil {
		b.Fatal(err)
	}
	var pairs []Pair
	b.ResetTimer()
	for b.Loop() {
		pairs, _, err = NearPairs(ctx, idx, coll, items, vectors.HashThreshold)
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(items)), "records")
	b.ReportMetric(float64(len(pairs)), "pairs")
}

// BenchmarkCreate10k times split create end to end on 10,000 accepted records in the embedded store
// and index: reading the records, embedding them, the near-duplicate search, the assignment and
// writing the members.
func BenchmarkCreate10k(b *testing.B) {
	ctx := context.Background()
	src := openSource(b)
	p := plantCorpus(b, 10_000)
	insertRecords(b, src.Store, p.recs)
	ratios := threeParts
	n := 0
	b.ResetTimer()
	for b.Loop() {
		n++
		c, err := Create(ctx, src, Request{Name: fmt.Sprintf("bench-%d", n), Options: Options{Ratios: ratios, Seed: 1, Stratify: []string{"theme"}}})
		if err != nil {
			b.Fatal(err)
		}
		if n == 1 {
			b.ReportMetric(float64(c.Split.NearPairs), "pairs")
		}
	}
	b.ReportMetric(float64(len(p.recs)), "records")
}
