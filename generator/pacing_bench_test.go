package generator

import (
	"context"
	"fmt"
	"math"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/correctly/correctly/corpus"
	"github.com/correctly/correctly/llmtest"
)

// BenchmarkPacing measures how close generation comes to the provider's limit under the conditions
// users meet: answers that take 0.1 to 10 s, limits of 60 to 5,000 requests a minute given as
// flags, a token-bound limit, two workers sharing one limit, limits advertised only in x-ratelimit
// headers, and a batching server with no limit whose latency grows past its best concurrency. Each
// case is three whole runs of `correctly generate` (the Runner, Control, LLM client, embedded store
// and dedup the CLI wires), each against a fresh fake server and store; it reports the median
// share of the binding limit and the lowest and highest round beside it:
//
//	go test -run '^$' -bench 'Pacing' -benchtime 1x -timeout 90m ./generator/
//
// The share is the rate the server admitted over its nominal limit (requests or tokens a minute),
// from the first admission to the last request that opened a slot (its first step): after that the
// run only drains, one latency or two, whatever the tool, which a long run does not notice. The
// second's worth of burst the client may spend at the start is not counted, so a client sending at
// the limit from the first moment scores 1. The batching server's limit is its peak throughput.
func BenchmarkPacing(b *testing.B) {
	var mu sync.Mutex
	lowest := map[string]float64{}
	note := func(kind string, v float64) {
		mu.Lock()
		defer mu.Unlock()
		if cur, ok := lowest[kind]; !ok || v < cur {
			lowest[kind] = v
		}
	}
	for _, pc := range paceCases() {
		b.Run(pc.name, func(b *testing.B) {
			var shares, limited []float64
			lost := 0
			for i := 0; i < b.N; i++ {
				for round := 0; round < 3; round++ {
					r := pc.round(b, round)
					shares, limited = append(shares, r.share), append(limited, r.rateLimited)
					lost = max(lost, r.lost)
					b.Logf("round %d: share %.3f over %.1f s (%d answers, %d records), 429 share %.3f, peak in flight %d, lost %d",
						round, r.share, r.window, r.answers, pc.n, r.rateLimited, r.maxRunning, r.lost)
				}
			}
			med, lo, hi := medianSpread(shares)
			b.ReportMetric(med, "limit_share")
			b.ReportMetric(lo, "lowest_round")
			b.ReportMetric(hi, "highest_round")
			b.ReportMetric(median(limited), "429_share")
			b.ReportMetric(float64(lost), "lost_records")
			note(pc.kind, med)
		})
	}
	b.Run("lowest", func(b *testing.B) {
		mu.Lock()
		defer mu.Unlock()
		for _, kind := range []string{"given", "headers", "batching"} {
			if v, ok := lowest[kind]; ok {
				b.ReportMetric(v, kind+"_share")
			}
		}
	})
}

type paceCase struct {
	name, kind string // kind: given (flags), headers (learnt), batching (no limit)
	latency    time.Duration
	rpm, tpm   float64 // the server's limits
	workers    int
	batch      int
	n          int // records per round (all workers together)
	completion [2]int
	burst      time.Duration
	tokenBound bool // the token limit binds, not the request limit
}

// paceCases is the grid. Each round lasts about max(40 s, 5 latencies) at 60 requests a minute and
// max(20 s, 5 latencies) above; a record takes two requests.
func paceCases() []paceCase {
	var out []paceCase
	for _, rpm := range []float64{60, 600, 5000} {
		for _, lat := range []time.Duration{100 * time.Millisecond, 1500 * time.Millisecond, 5 * time.Second, 10 * time.Second} {
			window := max(20*time.Second, 5*lat)
			if rpm == 60 {
				window = max(40*time.Second, 10*lat)
			}
			n := int(math.Ceil(rpm / 60 * window.Seconds() / 2))
			out = append(out, paceCase{name: fmt.Sprintf("given/rpm=%.0f/latency=%v", rpm, lat), kind: "given", latency: lat, rpm: rpm, workers: 1, n: n})
		}
	}
	// about 10 requests a second bound by tokens: answers of 500 to 1,000 tokens charged 1,200 at
	// admission, in a bucket of ten seconds' worth
	out = append(out,
		paceCase{name: "given/tokens/tpm=630000/latency=5s", kind: "given", latency: 5 * time.Second, tpm: 630000, workers: 1, n: 250,
			completion: [2]int{500, 1000}, burst: 10 * time.Second, tokenBound: true},
		paceCase{name: "given/2workers/rpm=600/latency=1.5s", kind: "given", latency: 1500 * time.Millisecond, rpm: 600, workers: 2, n: 150},
		paceCase{name: "headers/rpm=600/latency=1.5s", kind: "headers", latency: 1500 * time.Millisecond, rpm: 600, tpm: 2e6, workers: 1, n: 150},
		paceCase{name: "headers/tokens/tpm=630000/latency=5s", kind: "headers", latency: 5 * time.Second, rpm: 10000, tpm: 630000, workers: 1, n: 250,
			completion: [2]int{500, 1000}, burst: 10 * time.Second, tokenBound: true},
		paceCase{name: "headers/2workers/rpm=600/latency=1.5s", kind: "headers", latency: 1500 * time.Millisecond, rpm: 600, tpm: 2e6, workers: 2, n: 150},
		paceCase{name: "batching/best=32/latency=1s", kind: "batching", latency: time.Second, batch: 32, workers: 1, n: 600},
	)
	return out
}

type paceResult struct {
	share, rateLimited, window float64
	answers, lost, maxRunning  int
}

func (pc paceCase) round(b *testing.B, round int) paceResult {
	b.Helper()
	b.StopTimer()
	defer b.StartTimer()
	schema := benchSchema(b, "correction_script")
	st := openStore(b)
	dd := benchDedup(b, st, schema)
	srv := llmtest.New()
	defer srv.Close()
	srv.Latency, srv.Batch, srv.Completion = pc.latency, pc.batch, pc.completion
	srv.RPM, srv.TPM, srv.Burst, srv.Headers = pc.rpm, pc.tpm, pc.burst, pc.kind == "headers"
	run := benchRun(b, st, schema, "llm", pc.n, round)
	cfg := ControlConfig{}
	if pc.kind == "given" {
		cfg.RPM, cfg.TPM = pc.rpm, pc.tpm
	}
	lc := LLMConfig{BaseURL: srv.BaseURL(), APIKey: "bench"}
	var runners []*Runner
	for w := 0; w < pc.workers; w++ {
		ctl := NewControl(cfg)
		r := NewRunner(st, schema, &LLMBackend{LLM: NewLLM(lc, ctl, zerolog.Nop()), Schema: schema, ParseRetries: 2}, ctl)
		r.Dedup, r.Endpoint, r.PID = dd, lc.Fingerprint(), r.PID+w
		runners = append(runners, r)
	}
	b.StartTimer()
	var wg sync.WaitGroup
	errs := make([]error, len(runners))
	for i, r := range runners {
		wg.Add(1)
		go func() { defer wg.Done(); _, errs[i] = r.Run(context.Background(), run) }()
	}
	wg.Wait()
	b.StopTimer()
	for _, err := range errs {
		if err != nil {
			b.Fatalf("Run: %v", err)
		}
	}
	accepted := countStatus(b, st, run.ID)[corpus.StatusAccepted]
	res := paceResult{lost: max(0, pc.n-accepted), maxRunning: srv.Counts().MaxRunning}
	if c := srv.Counts(); c.Requests > 0 {
		res.rateLimited = float64(c.RateLimited) / float64(c.Requests)
	}
	ans := srv.Answers()
	sort.Slice(ans, func(i, j int) bool { return ans[i].Admitted.Before(ans[j].Admitted) })
	first, end := ans[0].Admitted, ans[0].Admitted
	for _, a := range ans {
		if a.JSON && a.Admitted.After(end) {
			end = a.Admitted
		}
	}
	window := end.Sub(first).Seconds()
	n, tokens := 0, 0
	for _, a := range ans {
		if !a.Admitted.After(end) {
			n++
			tokens += a.Tokens
		}
	}
	res.window, res.answers = window, n
	// the share of the nominal rate, less the second's worth of burst the client spends at first:
	// a client that sends at the limit from the start scores 1, whatever the server's burst
	switch {
	case pc.batch > 0:
		res.share = float64(n) / window / (float64(pc.batch) / pc.latency.Seconds())
	case pc.tokenBound:
		rate := pc.tpm / 60
		res.share = max(0, float64(tokens)-rate) / (rate * window)
	default:
		rate := pc.rpm / 60
		res.share = max(0, float64(n)-max(1, rate)) / (rate * window)
	}
	return res
}

func median(v []float64) float64 {
	m, _, _ := medianSpread(v)
	return m
}

func medianSpread(v []float64) (med, lo, hi float64) {
	if len(v) == 0 {
		return 0, 0, 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2], s[0], s[len(s)-1]
}
