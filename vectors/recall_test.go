package vectors

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/correctly/correctly/mistakes"
)

// distinctText makes a learner-style text of four sentences, each the first half of one bundled
// clean sentence (mistakes.Bundled) and the second half of another: about 286,000 sentences, so
// that two texts rarely share one and are not near-duplicates.
func distinctText(seed uint64) string {
	heads, tails := sentenceHalves()
	r := rand.New(rand.NewPCG(seed, 0xd15))
	parts := make([]string, 4)
	for i := range parts {
		parts[i] = heads[r.IntN(len(heads))] + " " + tails[r.IntN(len(tails))]
	}
	return strings.Join(parts, " ") + fmt.Sprintf(" It was day %d of my diary.", seed%997)
}

var sentenceHalves = sync.OnceValues(func() (heads, tails []string) {
	seen := map[string]bool{}
	for _, t := range mistakes.Bundled() {
		for _, s := range strings.SplitAfter(t.Text, ". ") {
			if s = strings.TrimSpace(s); len(s) > 15 && !seen[s] {
				seen[s] = true
				w := strings.Fields(s)
				heads = append(heads, strings.Join(w[:len(w)/2], " "))
				tails = append(tails, strings.Join(w[len(w)/2:], " "))
			}
		}
	}
	return heads, tails
})

// plantedCorpus is n distinct learner-style texts with near-duplicates planted for queries: the
// rewordings, renamings and added sentences of testdata/neardup.jsonl (their bases are indexed),
// and one-word edits, an added sentence or two dropped words of indexed distinct texts.
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
		indexed = append(indexed, distinctText(uint64(i)))
	}
	r := rand.New(rand.NewPCG(11, 12))
	for range 600 {
		words := strings.Fields(distinctText(uint64(r.IntN(n))))
		switch r.IntN(3) {
		case 0: // one word changed
			words[r.IntN(len(words))] = strings.Fields(distinctText(r.Uint64()))[0]
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
	e.listCap = 256 // as many lists as a million vectors make with the default cap, relative to nprobe
	const coll = "recall"
	for lo := 0; lo < len(vecs); lo += 4096 {
		items := make([]Item, 0, 4096)
		for i := lo; i < min(lo+4096, len(vecs)); i++ {
			items = append(items, Item{ID: fmt.Sprint("t", i), Vector: vecs[i], Meta: map[string]string{"prompt": "p", "run": "r"}})
		}
		mustAdd(t, e, coll, items...)
	}
	c, _ := e.get(coll)
	if len(c.lists) < 10*nprobe {
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

// TestEmbeddedNearPairsRecall measures the join that splits use: of the pairs within the threshold
// that involve a planted near-duplicate (brute force over every item), how many NearPairs finds.
func TestEmbeddedNearPairsRecall(t *testing.T) {
	ctx := context.Background()
	indexed, queries := plantedCorpus(t, 60_000)
	all := append(indexed, queries...)
	vecs, err := NewHash().Embed(ctx, all)
	if err != nil {
		t.Fatal(err)
	}
	items := make([]Item, len(vecs))
	for i := range vecs {
		items[i] = Item{ID: fmt.Sprint("t", i), Vector: vecs[i], Meta: map[string]string{"prompt": "p"}}
	}
	e := openTestEmbedded(t)
	e.listCap = 256
	const coll = "pairs"
	// most items indexed beforehand, the rest added by NearPairs itself
	mustAdd(t, e, coll, items[:50_000]...)
	pairs, added, err := e.NearPairs(ctx, coll, items, HashThreshold)
	if err != nil {
		t.Fatal(err)
	}
	if added != len(items)-50_000 {
		t.Errorf("NearPairs added %d items, want the %d missing", added, len(items)-50_000)
	}
	c, _ := e.get(coll)
	if len(c.lists) < 10*joinProbe {
		t.Fatalf("only %d lists: the test would measure an exhaustive join", len(c.lists))
	}
	got := map[[2]int]bool{}
	for _, p := range pairs {
		if p.A >= p.B {
			t.Fatalf("pair %+v: want A < B", p)
		}
		if d := 1 - dot(vecs[p.A], vecs[p.B]); math.Abs(float64(d-p.Distance)) > 1e-4 || float64(p.Distance) > HashThreshold {
			t.Fatalf("pair %+v: distance %v, want within %v", p, d, HashThreshold)
		}
		got[[2]int{p.A, p.B}] = true
	}
	truth, found := 0, 0
	for q := len(indexed); q < len(all); q++ {
		for i := range all {
			if i == q || i > q && i >= len(indexed) { // pairs of two queries counted once
				continue
			}
			if float64(1-dot(vecs[q], vecs[i])) <= HashThreshold {
				truth++
				if got[[2]int{min(i, q), max(i, q)}] {
					found++
				}
			}
		}
	}
	recall := float64(found) / float64(truth)
	t.Logf("%d items in %d lists, each list joined with its %d nearest: %d pairs in all; of the %d pairs with a planted near-duplicate, %d found (recall %.4f)",
		len(items), len(c.lists), joinProbe, len(pairs), truth, found, recall)
	if recall < 0.95 {
		t.Errorf("near-pair recall %.4f < 0.95", recall)
	}
}
