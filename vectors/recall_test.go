package vectors

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// plantedCorpus is n distinct learner-style texts (synthText) with near-duplicates planted for
// queries: the rewordings, renamings and added sentences of testdata/neardup.jsonl (their bases
// are indexed), and one-word edits or an added sentence of indexed synthetic texts.
func plantedCorpus(tb testing.TB, n int) (indexed, queries []string) {
	tb.Helper()
	pairs := readJSONL[nearDupPair](tb, "testdata/neardup.jsonl")
	seen := map[string]bool{}
	for _, p := range pairs {
		if !p.Dup {
			continue
		}
		if !seen[p.TextA] {
			seen[p.TextA] = true
			indexed = append(indexed, p.TextA)
		}
		queries = append(queries, p.TextB)
	}
	for i := range n {
		indexed = append(indexed, synthText(uint64(i)))
	}
	r := rand.New(rand.NewPCG(11, 12))
	for range 600 {
		words := strings.Fields(synthText(uint64(r.IntN(n))))
		switch r.IntN(3) {
		case 0: // one word changed
			w := r.IntN(len(words))
			words[w] = benchObjects[r.IntN(len(benchObjects))]
		case 1: // a sentence added
			words = append(words, strings.Fields(extras[r.IntN(len(extras))])...)
		default: // two words dropped
			for range 2 {
				w := r.IntN(len(words))
				words = append(words[:w], words[w+1:]...)
			}
		}
		queries = append(queries, strings.Join(words, " "))
	}
	return indexed, queries
}

// TestEmbeddedNearDuplicateRecall measures, at a size where queries scan only some of the lists,
// how many of the queries that brute force finds a near-duplicate for (within the calibrated
// threshold) the embedded index finds one for too: the dedup verdict. The goal is 0.95.
func TestEmbeddedNearDuplicateRecall(t *testing.T) {
	ctx := context.Background()
	indexed, queries := plantedCorpus(t, 60_000)
	h := NewHash()
	vecs, err := h.Embed(ctx, indexed)
	if err != nil {
		t.Fatal(err)
	}
	qv, err := h.Embed(ctx, queries)
	if err != nil {
		t.Fatal(err)
	}
	e := openTestEmbedded(t)
	const coll = "recall"
	for lo := 0; lo < len(vecs); lo += 4096 {
		items := make([]Item, 0, 4096)
		for i := lo; i < min(lo+4096, len(vecs)); i++ {
			items = append(items, Item{ID: fmt.Sprint("t", i), Vector: vecs[i], Meta: map[string]string{"prompt": "p", "run": "r"}})
		}
		mustAdd(t, e, coll, items...)
	}
	c, _ := e.get(coll)
	if len(c.lists) <= 3*nprobe {
		t.Fatalf("%d vectors make only %d lists: the test would measure an exhaustive scan", len(vecs), len(c.lists))
	}
	got := mustQuery(t, e, coll, qv, 2, nil)
	const th = HashThreshold
	truth, found, falseHits := 0, 0, 0
	for q, v := range qv {
		best := 2.0
		for _, w := range vecs {
			best = min(best, 1-float64(dot(v, w)))
		}
		approx := len(got[q]) > 0 && float64(got[q][0].Distance) <= th
		if best <= th {
			truth++
			if approx {
				found++
			}
		} else if approx {
			falseHits++
		}
	}
	recall := float64(found) / float64(truth)
	t.Logf("%d vectors in %d lists, %d queries scanning %d lists each: brute force finds a near-duplicate for %d, the index for %d (recall %.4f)",
		len(vecs), len(c.lists), len(qv), nprobe, truth, found, recall)
	if truth < 500 {
		t.Fatalf("only %d queries have a near-duplicate: the planted set is too small to measure recall", truth)
	}
	if falseHits > 0 {
		t.Errorf("%d queries got a hit within %.2f that brute force does not have", falseHits, th)
	}
	if recall < 0.95 {
		t.Errorf("near-duplicate recall %.4f < 0.95", recall)
	}
}
