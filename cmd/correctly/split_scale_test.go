package main

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/correctly/correctly/corpus"
	"github.com/correctly/correctly/vectors"
)

// BenchmarkSplitAtScale runs `split create` on the corpora of BenchmarkCorpusAtScale (20,000,
// 200,000 and 1,000,000 records; CORRECTLY_SCALE picks sizes), on a copy of the fixture's data
// directory, three times in each of two conditions, and reports the median wall time (fastest
// and slowest beside it) and peak RSS:
//
//   - cold: the vector index removed first, as for a corpus made with --no-dedup: the split embeds
//     and indexes every record before it looks for near-duplicates;
//   - warm: the index holds the records (a corpus made with dedup, or any later split).
//
// Then a fresh process asks the index it filled for a text's nearest records (`dedup query`, start-up
// included), and it checks the last split against brute force: the records of a random sample are compared
// exactly with every record of the corpus, and each near-duplicate pair found (at the split's
// threshold) must lie in one part: cross_pairs is how many do not, sample_pairs how many were
// checked. The goal is < 2 min at 1M with 0 cross-part pairs.
//
//	CORRECTLY_SCALE=1000000 go test -run '^$' -bench SplitAtScale -benchtime 1x -timeout 90m ./cmd/correctly/
func BenchmarkSplitAtScale(b *testing.B) {
	bin := buildBinary(b)
	sizes := []int{20000, 200000, 1000000}
	if v := os.Getenv("CORRECTLY_SCALE"); v != "" {
		sizes = sizes[:0]
		for _, f := range strings.Split(v, ",") {
			var n int
			if _, err := fmt.Sscan(strings.TrimSpace(f), &n); err != nil {
				b.Fatalf("CORRECTLY_SCALE=%q: %v", v, err)
			}
			sizes = append(sizes, n)
		}
	}
	for _, size := range sizes {
		fx := scaleFixture(b, bin, size)
		work := &fixture{dir: b.TempDir(), runs: fx.runs, lastRecord: fx.lastRecord}
		start := time.Now()
		for _, d := range []string{"data", "config"} {
			if _, err := os.Stat(filepath.Join(fx.dir, d)); err != nil {
				continue
			}
			if out, err := exec.Command("cp", "-a", filepath.Join(fx.dir, d), work.dir).CombinedOutput(); err != nil {
				b.Fatalf("copy the fixture: %v\n%s", err, out)
			}
		}
		b.Logf("copied the corpus of %d records in %.1f s", size, time.Since(start).Seconds())
		vecDir := filepath.Join(work.dir, "data", "vectors")
		n := 0
		last := ""
		for _, cond := range []string{"cold", "warm"} {
			b.Run(fmt.Sprintf("%s/records=%d", cond, size), func(b *testing.B) {
				var walls, rss []float64
				for round := 0; round < 3; round++ {
					if cond == "cold" {
						if err := os.RemoveAll(vecDir); err != nil {
							b.Fatal(err)
						}
					}
					n++
					last = fmt.Sprintf("bench-%d", n)
					w, r := runMeasured(b, bin, work.env(), "split", "create", last, "--ratios", "train=0.9,val=0.05,test=0.05", "--seed", fmt.Sprint(n))
					b.Logf("%s round %d: %.1f s, %.0f MB", cond, round, w, r)
					walls, rss = append(walls, w), append(rss, r)
				}
				reportRounds(b, walls, rss)
			})
		}
		// a fresh process opens the index the splits filled and asks it once: start-up included
		b.Run(fmt.Sprintf("dedup-query/records=%d", size), func(b *testing.B) {
			var walls, rss []float64
			for round := 0; round < 3; round++ {
				w, r := runMeasured(b, bin, work.env(), "dedup", "query", "Yesterday I go to the library with my friend and we study English for three hours.", "-k", "3")
				walls, rss = append(walls, w), append(rss, r)
			}
			reportRounds(b, walls, rss)
		})
		b.Run(fmt.Sprintf("brute-force-check/records=%d", size), func(b *testing.B) {
			sample, cross := checkSplitByBruteForce(b, filepath.Join(work.dir, "data"), last, 400)
			b.ReportMetric(float64(sample), "sample_pairs")
			b.ReportMetric(float64(cross), "cross_pairs")
		})
	}
}

// checkSplitByBruteForce compares the "before" texts of sample random accepted records with those
// of every accepted record exactly (hash embedder, its default threshold) and returns how many
// near-duplicate pairs it found and how many of them lie in two parts of split name.
func checkSplitByBruteForce(tb testing.TB, dataDir, name string, sample int) (pairs, cross int) {
	tb.Helper()
	ctx := context.Background()
	st, err := corpus.Open(ctx, corpus.Options{DataDir: dataDir})
	if err != nil {
		tb.Fatal(err)
	}
	defer st.Close()
	ms, err := st.SplitMembership(ctx, name, "")
	if err != nil {
		tb.Fatal(err)
	}
	part := make(map[string]string, len(ms))
	for _, m := range ms {
		part[m.RecordID] = m.Part
	}
	var ids, texts []string
	err = st.EachRecord(ctx, corpus.RecordQuery{Status: corpus.StatusAccepted}, func(r *corpus.Record) error {
		if t, ok := r.Fields["before"].(string); ok && strings.TrimSpace(t) != "" {
			ids, texts = append(ids, r.ID), append(texts, t)
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	if len(ids) != len(part) {
		tb.Fatalf("split %s holds %d records, the corpus %d accepted ones with a before text", name, len(part), len(ids))
	}
	emb := vectors.NewHash()
	threshold := vectors.DefaultThreshold(emb.ID())
	vecs := make([][]float32, len(texts))
	parallelChunks(len(texts), 4096, func(lo, hi int) {
		v, err := emb.Embed(ctx, texts[lo:hi])
		if err != nil {
			panic(err)
		}
		for i := range v {
			vecs[lo+i] = unitVector(v[i])
		}
	})
	rng := rand.New(rand.NewPCG(1, 2))
	picks := rng.Perm(len(ids))[:min(sample, len(ids))]
	var found, split atomic.Int64
	parallelChunks(len(picks), 1, func(lo, hi int) {
		for _, a := range picks[lo:hi] {
			for j := range vecs {
				if j == a || 1-dotProduct(vecs[a], vecs[j]) > threshold {
					continue
				}
				found.Add(1)
				if part[ids[a]] != part[ids[j]] {
					split.Add(1)
				}
			}
		}
	})
	return int(found.Load()), int(split.Load())
}

func unitVector(v []float32) []float32 {
	var ss float64
	for _, x := range v {
		ss += float64(x) * float64(x)
	}
	if ss == 0 {
		return v
	}
	inv := float32(1 / math.Sqrt(ss))
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = x * inv
	}
	return out
}

func dotProduct(a, b []float32) float64 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return float64((s0 + s1) + (s2 + s3))
}

// parallelChunks calls fn on [lo, hi) chunks of n, on GOMAXPROCS goroutines.
func parallelChunks(n, chunk int, fn func(lo, hi int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for {
				lo := int(next.Add(int64(chunk))) - chunk
				if lo >= n {
					return
				}
				fn(lo, min(lo+chunk, n))
			}
		})
	}
	wg.Wait()
}
