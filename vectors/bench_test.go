package vectors

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
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

// The dedup admission benchmark, on distinct texts with 20,000 to 1,000,000 records indexed, is
// generator.BenchmarkDedupAdmission: it measures the generator's real path (Dedup.Admit), for the
// embedded index or Chroma.
