package generator

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/correctly/correctly/corpus"
	"github.com/correctly/correctly/mistakes"
	"github.com/correctly/correctly/vectors"
)

var (
	admitMax   = flag.Int("admit-max", 1_000_000, "BenchmarkDedupAdmission: largest number of vectors indexed beforehand (20000, 200000, 1000000 up to this)")
	admitIndex = flag.String("admit-index", "embedded", "BenchmarkDedupAdmission: embedded, or chroma (the server at CHROMA_URL)")
)

// distinctTexts makes learner-style texts of four sentences, each the first half of one bundled
// clean sentence and the second half of another: about 286,000 sentences, so that two texts of a
// million rarely share one, and are not near-duplicates.
type distinctTexts struct{ heads, tails []string }

func newDistinctTexts() *distinctTexts {
	var ss []string
	seen := map[string]bool{}
	for _, t := range mistakes.Bundled() {
		for _, s := range strings.SplitAfter(t.Text, ". ") {
			if s = strings.TrimSpace(s); len(s) > 15 && !seen[s] {
				seen[s] = true
				ss = append(ss, s)
			}
		}
	}
	d := &distinctTexts{}
	for _, s := range ss {
		w := strings.Fields(s)
		d.heads = append(d.heads, strings.Join(w[:len(w)/2], " "))
		d.tails = append(d.tails, strings.Join(w[len(w)/2:], " "))
	}
	return d
}

func (d *distinctTexts) text(seed uint64) string {
	r := rand.New(rand.NewPCG(seed, 0xd15))
	parts := make([]string, 4)
	for i := range parts {
		parts[i] = d.heads[r.IntN(len(d.heads))] + " " + d.tails[r.IntN(len(d.tails))]
	}
	return strings.Join(parts, " ") + fmt.Sprintf(" It was day %d of my diary.", seed%997)
}

// BenchmarkDedupAdmission measures the generator's admission path (Dedup.Admit: fingerprints,
// embedding, nearest-neighbour query, fingerprint insert, index add) on the embedded store, with
// 20,000, 200,000 and 1,000,000 distinct records indexed beforehand (fingerprints stored too), as
// a run does it: 16 records in flight, distinct new texts, every accepted one indexed. Each of 3
// rounds admits 3,000 records; it reports the median records/s, the spread (max-min over median),
// the duplicates found among the distinct texts, and the ratio of each size's median to the
// smallest size's. The goal is >= 500 records/s at 1M.
//
//	go test -run '^$' -bench DedupAdmission -benchtime 1x -timeout 2h ./generator/ [-admit-max 200000]
func BenchmarkDedupAdmission(b *testing.B) {
	sizes := []int{20_000, 200_000, 1_000_000}
	texts := newDistinctTexts()
	schema := benchSchema(b, "correction_script")
	var first float64
	for _, n := range sizes {
		if n > *admitMax {
			continue
		}
		b.Run(fmt.Sprintf("indexed=%d", n), func(b *testing.B) {
			ctx := context.Background()
			st := openStore(b)
			var idx vectors.Index
			switch *admitIndex {
			case "embedded":
				e, err := vectors.OpenEmbedded(b.TempDir())
				if err != nil {
					b.Fatal(err)
				}
				idx = e
			case "chroma":
				u := os.Getenv("CHROMA_URL")
				if u == "" {
					b.Fatal("-admit-index chroma: set CHROMA_URL (scripts/chroma.sh start DIR PORT prints it)")
				}
				c, err := vectors.OpenChroma(ctx, u)
				if err != nil {
					b.Fatal(err)
				}
				idx = c
			default:
				b.Fatalf("-admit-index %q: use embedded or chroma", *admitIndex)
			}
			b.Cleanup(func() { idx.Close() })
			emb := vectors.NewHash()
			d := NewDedup(st, idx, emb, schema, 0)
			coll := vectors.CollectionName("before", emb.ID())
			if *admitIndex == "chroma" {
				_ = idx.Drop(ctx, coll)
			}
			start := time.Now()
			const chunk = 4096
			for lo := 0; lo < n; lo += chunk {
				hi := min(lo+chunk, n)
				batch := make([]string, 0, hi-lo)
				for i := lo; i < hi; i++ {
					batch = append(batch, texts.text(uint64(i)))
				}
				vecs, err := emb.Embed(ctx, batch)
				if err != nil {
					b.Fatal(err)
				}
				items := make([]vectors.Item, len(vecs))
				fps := make([]corpus.Fingerprint, len(vecs))
				for i := range vecs {
					id := RecordID("prefill", lo+i)
					items[i] = vectors.Item{ID: id, Vector: vecs[i], Meta: map[string]string{"prompt": schema.Name, "run": "prefill"}}
					fps[i] = corpus.Fingerprint{ID: d.fingerprintID("before", batch[i]), RecordID: id, Field: "before", Prompt: schema.Name}
				}
				if err := idx.Add(ctx, coll, items); err != nil {
					b.Fatal(err)
				}
				for _, err := range st.AddFingerprints(ctx, fps) {
					if err != nil && !corpus.IsDuplicate(err) {
						b.Fatal(err)
					}
				}
			}
			b.Logf("prefilled %d vectors and fingerprints in %.1f s", n, time.Since(start).Seconds())
			if err := d.Prepare(ctx); err != nil {
				b.Fatal(err)
			}
			const perRound, inFlight = 3000, 16
			var rates []float64
			dups := 0
			for round := range 3 {
				recs := make([]*corpus.Record, perRound)
				for i := range recs {
					seed := uint64(1<<40 + round*perRound + i)
					recs[i] = &corpus.Record{ID: RecordID(fmt.Sprint("bench-", round), i), RunID: fmt.Sprint("bench-", round), Slot: i,
						Prompt: schema.Name, Status: corpus.StatusAccepted, Fields: map[string]any{"before": texts.text(seed), "after": "x"}}
				}
				var next sync.Mutex
				k := 0
				var wg sync.WaitGroup
				b.ResetTimer()
				t0 := time.Now()
				for range inFlight {
					wg.Go(func() {
						for {
							next.Lock()
							i := k
							k++
							next.Unlock()
							if i >= len(recs) {
								return
							}
							if err := d.Admit(ctx, recs[i]); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				el := time.Since(t0)
				for _, r := range recs {
					if r.Status == corpus.StatusDuplicate {
						dups++
					}
				}
				rates = append(rates, float64(perRound)/el.Seconds())
				b.Logf("indexed %d, round %d: %.0f records/s", n, round, rates[len(rates)-1])
			}
			slices.Sort(rates)
			med := rates[1]
			if first == 0 {
				first = med
			}
			b.ReportMetric(med, "records/s")
			b.ReportMetric(100*(rates[2]-rates[0])/med, "spread_%")
			b.ReportMetric(float64(dups), "duplicates")
			b.ReportMetric(med/first, "ratio_to_smallest")
		})
	}
}
