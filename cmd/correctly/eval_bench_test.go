package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/correctly/correctly/corpus"
	"github.com/correctly/correctly/edits"
	"github.com/correctly/correctly/llmtest"
	"github.com/correctly/correctly/scoring"
)

// BenchmarkEval1000 runs `correctly eval --m2 bea-dev.m2 --limit 1000` as a user would against an
// endpoint whose answers take 1 to 2 s and which admits 1,200 requests a minute, advertised in
// x-ratelimit headers (no flag given), answering each sentence with its gold correction in the
// trained format. Three rounds, each with a fresh store and server; it reports the median and the
// lowest and highest round of:
//
//   - limit_share: requests the server admitted over what its limit allowed, from the first
//     admission to the last (goal >= 0.9: the eval is bound by the endpoint);
//
//   - scorer_share: the time the command spends scoring (reading the stored answers, aligning each
//     with its source, scoring against the references, saving the eval) over the whole eval's wall
//     time (goal <= 0.01: not bound by the scorer);
//
//   - scorer_us/sentence: the scoring alone (reading the answer, aligning and scoring), per sentence.
//
//     go test -run '^$' -bench 'Eval1000' -benchtime 1x -timeout 30m ./cmd/correctly/
func BenchmarkEval1000(b *testing.B) {
	const n, rpm = 1000, 1200
	f, err := os.Open(beaDev)
	if err != nil {
		b.Fatalf("open the BEA-2019 dev set (expected beside the repository): %v", err)
	}
	sents, err := edits.ReadM2(f)
	f.Close()
	if err != nil {
		b.Fatal(err)
	}
	gold := map[string]string{}
	for _, s := range sents[:n] {
		gold[edits.Detokenize(s.Source)] = edits.Detokenize(s.Corrected(0))
	}
	var shares, scorerShares, perSentence, walls []float64
	for i := 0; i < b.N; i++ {
		for round := range 3 {
			b.StopTimer()
			srv := llmtest.New()
			srv.Latency, srv.Jitter = 1500*time.Millisecond, 1.0/3
			srv.RPM, srv.Headers = rpm, true
			srv.Reply = func(_, user string) string {
				return "### 교정 후 ###\n" + gold[user] + "\n\n### 교정 지점 ###\n1. \"go\" → \"went\": 과거의 일이므로 과거형을 씁니다."
			}
			home := b.TempDir()
			b.Setenv("HOME", home)
			b.Setenv("CORRECTLY_DATA_DIR", filepath.Join(home, "data"))
			b.Setenv("XDG_CONFIG_HOME", filepath.Join(home, "config"))
			b.Setenv("MONGODB_URI", "")
			b.Setenv("CHROMA_URL", "")
			b.Setenv("CORRECTLY_MODEL", "")
			b.Setenv("OPENAI_BASE_URL", srv.BaseURL())
			b.Setenv("OPENAI_API_KEY", "sk-bench")
			b.StartTimer()
			var out, errOut bytes.Buffer
			start := time.Now()
			code := run([]string{"eval", "--m2", beaDev, "--limit", "1000", "--json"}, &out, &errOut)
			wall := time.Since(start)
			b.StopTimer()
			if code != 0 {
				b.Fatalf("eval: exit %d\n%s", code, errOut.String())
			}
			var ev corpus.Eval
			if err := json.Unmarshal(out.Bytes(), &ev); err != nil || ev.Answered != n {
				b.Fatalf("eval printed %d answered (%v), want %d", ev.Answered, err, n)
			}
			// the admitted requests against the limit, as the generator's pacing benchmark counts them
			ans := srv.Answers()
			srv.Close()
			sort.Slice(ans, func(i, j int) bool { return ans[i].Admitted.Before(ans[j].Admitted) })
			window := ans[len(ans)-1].Admitted.Sub(ans[0].Admitted).Seconds()
			share := float64(len(ans)) / (max(1, rpm/60.0) + rpm/60.0*window)

			// the command's scoring step again, on the stored answers, and the scoring alone
			ctx := context.Background()
			st, err := corpus.Open(ctx, corpus.Options{DataDir: filepath.Join(home, "data"), Log: zerolog.Nop()})
			if err != nil {
				b.Fatal(err)
			}
			set, err := loadM2Set(ctx, st, beaDev, ev.RequestPrompt)
			if err != nil {
				b.Fatal(err)
			}
			set.limit(n)
			t0 := time.Now()
			if err := scoreEval(ctx, st, &ev, set); err != nil {
				b.Fatal(err)
			}
			step := time.Since(t0)
			preds, _ := st.EvalPredictions(ctx, ev.ID)
			st.Close()
			t1 := time.Now()
			sc := scoring.NewScorer()
			for i, it := range set.items {
				text, ok := scoring.ReadAnswer(preds[i].Raw, set.markers[i])
				sc.Add(it, text, ok)
			}
			pure := time.Since(t1)
			if f := sc.Scores().F05; f < 0.999 {
				b.Fatalf("gold answers scored F0.5 %.4f, want about 1", f)
			}
			shares = append(shares, share)
			scorerShares = append(scorerShares, step.Seconds()/wall.Seconds())
			perSentence = append(perSentence, float64(pure.Microseconds())/n)
			walls = append(walls, wall.Seconds())
			b.Logf("round %d: eval %.1f s, limit share %.3f over %.1f s (%d answers), scoring step %v (%.4f of the wall), scoring alone %.1f µs/sentence",
				round, wall.Seconds(), share, window, len(ans), step.Round(time.Millisecond), step.Seconds()/wall.Seconds(), float64(pure.Microseconds())/n)
			b.StartTimer()
		}
	}
	med, lo, hi := spread(shares)
	b.ReportMetric(med, "limit_share")
	b.ReportMetric(lo, "lowest_round")
	b.ReportMetric(hi, "highest_round")
	med, _, hi = spread(scorerShares)
	b.ReportMetric(med, "scorer_share")
	b.ReportMetric(hi, "worst_scorer_share")
	med, _, _ = spread(perSentence)
	b.ReportMetric(med, "scorer_us/sentence")
	med, _, _ = spread(walls)
	b.ReportMetric(med, "eval_s")
}

func spread(v []float64) (med, lo, hi float64) {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2], s[0], s[len(s)-1]
}
