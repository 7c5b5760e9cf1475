package vectors

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	benchSubjects = []string{"I", "My friend Minji", "My older brother", "Our teacher", "My coworker Jisoo", "My mother", "Junho", "My roommate"}
	benchVerbs    = []string{"went to", "talked about", "was worried about", "wrote a email about", "is very interested in", "recommended me", "complained about", "prepared"}
	benchObjects  = []string{"the library near my house", "a new cafe in Hongdae", "the English exam", "a trip to Jeju island", "the team project", "a cooking class", "the baseball game", "a book about habits", "the company dinner", "a concert of my favorite singer"}
	benchTails    = []string{"last weekend.", "yesterday evening.", "for %d hours.", "with %d people.", "because it was raining.", "after work.", "in the morning.", "even though I was tired."}
)

// synthText makes a learner-style text of 3-6 sentences, distinct for each seed.
func synthText(seed uint64) string {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	n := 3 + r.IntN(4)
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(' ')
		}
		tail := benchTails[r.IntN(len(benchTails))]
		if strings.Contains(tail, "%d") {
			tail = fmt.Sprintf(tail, 2+r.IntN(20))
		}
		fmt.Fprintf(&b, "%s %s %s %s", benchSubjects[r.IntN(len(benchSubjects))], benchVerbs[r.IntN(len(benchVerbs))], benchObjects[r.IntN(len(benchObjects))], tail)
	}
	fmt.Fprintf(&b, " (entry %d)", seed)
	return b.String()
}

func BenchmarkHashEmbed(b *testing.B) {
	texts := make([]string, 1024)
	chars := 0
	for i := range texts {
		texts[i] = synthText(uint64(i))
		chars += len(texts[i])
	}
	h := NewHash()
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := h.Embed(ctx, texts[i%len(texts):i%len(texts)+1]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "texts/s")
	b.ReportMetric(float64(chars)/float64(len(texts)), "chars/text")
}

const benchIndexed = 20000

// benchState keeps one pre-filled index per implementation across the b.N
// rounds of a benchmark, since filling 20,000 records takes seconds.
var benchState struct {
	mu   sync.Mutex
	idx  map[string]Index
	col  map[string]string
	next map[string]uint64
}

func benchIndex(b *testing.B, name string, open func(testing.TB) Index) (Index, string, *uint64) {
	b.Helper()
	benchState.mu.Lock()
	defer benchState.mu.Unlock()
	if benchState.idx == nil {
		benchState.idx, benchState.col, benchState.next = map[string]Index{}, map[string]string{}, map[string]uint64{}
	}
	if idx, ok := benchState.idx[name]; ok {
		n := benchState.next[name]
		return idx, benchState.col[name], &n
	}
	// The index must outlive this round's b, so it is opened against a
	// package-level cleanup rather than b.Cleanup.
	idx := open(benchTB{b})
	col := CollectionName(fmt.Sprintf("bench%d", time.Now().UnixNano()), "hash-512")
	h := NewHash()
	ctx := context.Background()
	const chunk = 2000
	for start := 0; start < benchIndexed; start += chunk {
		texts := make([]string, chunk)
		for i := range texts {
			texts[i] = synthText(uint64(start + i))
		}
		vecs, err := h.Embed(ctx, texts)
		if err != nil {
			b.Fatal(err)
		}
		items := make([]Item, chunk)
		for i := range items {
			items[i] = Item{ID: fmt.Sprint("pre-", start+i), Vector: vecs[i], Meta: map[string]string{"prompt": "bench", "run": "r0"}}
		}
		if err := idx.Add(ctx, col, items); err != nil {
			b.Fatalf("fill: %v", err)
		}
	}
	benchState.idx[name], benchState.col[name] = idx, col
	benchCleanups = append(benchCleanups, func() { idx.Drop(context.Background(), col); idx.Close() })
	n := uint64(1 << 40)
	return idx, col, &n
}

var benchCleanups []func()

// benchTB lets test helpers that register cleanups run outside one round.
type benchTB struct{ *testing.B }

func (benchTB) Cleanup(func()) {}
func (t benchTB) TempDir() string {
	dir, err := osMkdirTemp()
	if err != nil {
		t.Fatal(err)
	}
	benchCleanups = append(benchCleanups, func() { osRemoveAll(dir) })
	return dir
}

// BenchmarkDedupCheckAndIndex measures a dedup check (nearest accepted
// neighbour, k=1) followed by indexing the record, with 20,000 records
// already indexed: one record at a time, and in batches of 32 as a generation
// batch would.
func BenchmarkDedupCheckAndIndex(b *testing.B) {
	for _, impl := range indexImpls {
		for _, batch := range []int{1, 32, 128} {
			b.Run(fmt.Sprintf("%s/batch=%d", impl.name, batch), func(b *testing.B) {
				idx, col, next := benchIndex(b, impl.name, impl.open)
				h := NewHash()
				ctx := context.Background()
				b.ResetTimer()
				start := time.Now()
				for done := 0; done < b.N; done += batch {
					n := min(batch, b.N-done)
					texts := make([]string, n)
					for i := range texts {
						*next++
						texts[i] = synthText(*next)
					}
					vecs, err := h.Embed(ctx, texts)
					if err != nil {
						b.Fatal(err)
					}
					hits, err := idx.Query(ctx, col, vecs, 1, nil)
					if err != nil {
						b.Fatal(err)
					}
					items := make([]Item, 0, n)
					for i, v := range vecs {
						if len(hits[i]) == 1 && hits[i][0].Distance <= HashThreshold {
							continue // near-duplicate: not indexed
						}
						items = append(items, Item{ID: fmt.Sprint("new-", *next, "-", i), Vector: v, Meta: map[string]string{"prompt": "bench", "run": "r1"}})
					}
					if err := idx.Add(ctx, col, items); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
				benchState.mu.Lock()
				benchState.next[impl.name] = *next
				benchState.mu.Unlock()
			})
		}
	}
}
