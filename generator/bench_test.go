package generator

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/correctly/correctly/corpus"
	"github.com/correctly/correctly/llmtest"
	"github.com/correctly/correctly/mistakes"
	"github.com/correctly/correctly/prompts"
	"github.com/correctly/correctly/vectors"
)

// The benchmarks below measure the two generation goals of the README's Performance section:
//
//	go test -run '^$' -bench 'RateLimitedThroughput|EngineThroughput' -benchtime 1x ./generator/
//
// Each round is a whole run of fixed size, so -benchtime 1x is the natural setting; more rounds
// average the figures.

// benchSchema returns the built-in schema called name.
func benchSchema(tb testing.TB, name string) *prompts.Schema {
	tb.Helper()
	all, err := prompts.Builtin()
	if err != nil {
		tb.Fatalf("load built-in schemas: %v", err)
	}
	for _, s := range all {
		if s.Name == name {
			return s
		}
	}
	tb.Fatalf("no built-in %s schema", name)
	return nil
}

// benchDedup returns the corpus-wide dedup a default `correctly generate` uses on the embedded
// store: the hash embedder and the embedded index, in a temporary directory.
func benchDedup(tb testing.TB, st *corpus.Store, s *prompts.Schema) *Dedup {
	tb.Helper()
	idx, err := vectors.OpenEmbedded(tb.TempDir())
	if err != nil {
		tb.Fatalf("open embedded index: %v", err)
	}
	tb.Cleanup(func() { idx.Close() })
	d := NewDedup(st, idx, vectors.NewHash(), s, 0)
	if err := d.Prepare(context.Background()); err != nil {
		tb.Fatalf("prepare dedup: %v", err)
	}
	return d
}

// benchRun stores a new run of n accepted records; round keeps ids and seeds apart between rounds.
func benchRun(tb testing.TB, st *corpus.Store, s *prompts.Schema, backend string, n, round int) *corpus.Run {
	tb.Helper()
	now := time.Now().UTC()
	run := &corpus.Run{
		ID: fmt.Sprintf("bench-%s-%d-%d", backend, now.UnixNano(), round), Prompt: s.Name, PromptVersion: s.Version(),
		Backend: backend, Target: n, Seed: int64(1000 + round), MaxAttempts: 3 * n, Status: corpus.RunRunning,
		CreatedAt: now, UpdatedAt: now,
	}
	if err := st.CreateRun(context.Background(), run); err != nil {
		tb.Fatalf("create run: %v", err)
	}
	return run
}

// lostRecords returns how many of the run's target are not accepted in the store, and logs why
// when the run did not end done with exactly its target. A short run is a figure for the table
// (lost_records), not a benchmark failure, so that the other figures are still reported.
func lostRecords(b *testing.B, st *corpus.Store, run *corpus.Run, stats Stats) int {
	b.Helper()
	got := countStatus(b, st, run.ID)
	if stats.Status != corpus.RunDone || got[corpus.StatusAccepted] != run.Target {
		b.Logf("LOST: run %s ended %q (%s) with %d accepted in the store (all: %v), want done with exactly %d",
			run.ID, stats.Status, stats.Message, got[corpus.StatusAccepted], got, run.Target)
	}
	return max(0, run.Target-got[corpus.StatusAccepted])
}

// BenchmarkRateLimitedThroughput runs `generate -n 100 --rpm 600` (default concurrency 4, at most
// 16, dedup on) against a server that allows 600 requests a minute and answers after 100 ms.
// Each record takes one request per schema step (two), so the limit allows 5 records/s and the run
// lasts about 20 s. It reports the accepted records per second between the first and the last
// answered request as a fraction of what the limit allows (goal >= 0.95), the same for requests,
// and the records lost (goal 0: exactly 100 accepted).
func BenchmarkRateLimitedThroughput(b *testing.B) {
	const (
		n   = 100
		rpm = 600
	)
	schema := benchSchema(b, "correction_script")
	st := openStore(b)
	dd := benchDedup(b, st, schema)
	perRecord := float64(len(schema.Steps))
	var fracSum, reqFracSum, lostSum, rejSum float64
	for round := 0; round < b.N; round++ {
		b.StopTimer()
		srv := llmtest.New()
		srv.Latency, srv.RPM = 100*time.Millisecond, rpm
		ctl := NewControl(ControlConfig{RPM: rpm})
		llm := NewLLM(LLMConfig{BaseURL: srv.BaseURL(), APIKey: "test"}, ctl, zerolog.Nop())
		r := NewRunner(st, schema, &LLMBackend{LLM: llm, Schema: schema, ParseRetries: 2}, ctl)
		r.Dedup = dd
		run := benchRun(b, st, schema, "llm", n, round)
		b.StartTimer()

		stats, err := r.Run(context.Background(), run)

		b.StopTimer()
		srv.Close()
		if err != nil {
			b.Fatalf("Run: %v", err)
		}
		lostSum += float64(lostRecords(b, st, run, stats))
		answered := srv.AnsweredTimes()
		if len(answered) < 2 {
			b.Fatalf("server answered %d requests, want at least 2", len(answered))
		}
		span := answered[len(answered)-1].Sub(answered[0]).Seconds()
		// len-1 intervals between len answers: the steady rate, free of start-up and shutdown
		reqRate := float64(len(answered)-1) / span
		recRate := reqRate * float64(stats.Accepted) / float64(len(answered))
		limit := float64(rpm) / 60
		fracSum += recRate / (limit / perRecord)
		reqFracSum += reqRate / limit
		rejSum += float64(stats.Rejected + stats.Duplicate + stats.Failed)
		c := srv.Counts()
		b.Logf("round %d: %d accepted, %d rejected, %d duplicate, %d failed; %d requests answered over %.1f s (%.2f/s), %d rate-limited by the server; %.2f records/s",
			round, stats.Accepted, stats.Rejected, stats.Duplicate, stats.Failed, len(answered), span, reqRate, c.RateLimited, recRate)
		b.StartTimer()
	}
	rounds := float64(b.N)
	b.ReportMetric(fracSum/rounds, "limit_fraction")
	b.ReportMetric(reqFracSum/rounds, "request_limit_fraction")
	b.ReportMetric(lostSum/rounds, "lost_records")
	b.ReportMetric(rejSum/rounds, "refilled_slots")
}

// BenchmarkEngineThroughput measures the engine's own overhead on the embedded store: claims, step
// inserts, record inserts, validators, edit extraction and the corpus-wide dedup, at concurrency 16.
// llm asks a zero-latency fake server (HTTP and JSON included), llm-nodedup leaves dedup out, and
// rules injects errors offline with no HTTP. It reports accepted records/s (goal >= 500 on 2 cores
// for llm) and attempts/s (every slot finished, whatever its outcome).
func BenchmarkEngineThroughput(b *testing.B) {
	// the correctly binary runs with GOGC=400 (cmd/correctly/main.go); measure the engine as it runs
	if os.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(400))
	}
	cases := []struct {
		name    string
		backend string
		dedup   bool
		n       int
	}{
		{"llm", "llm", true, 1000},
		{"llm-nodedup", "llm", false, 1000},
		// there are 552 bundled clean texts and slot i takes text i of a permutation, so past about
		// 500 records the slots repeat texts and dedup turns them away
		{"rules", "rules", true, 400},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			var accepted, attempts, lost int
			var elapsed time.Duration
			for round := 0; round < b.N; round++ {
				b.StopTimer()
				// every round starts from an empty corpus, so rounds are alike
				st := openStore(b)
				ctl := NewControl(ControlConfig{Fixed: 16})
				var schema *prompts.Schema
				var be Backend
				switch tc.backend {
				case "llm":
					schema = benchSchema(b, "correction_script")
					srv := llmtest.New()
					b.Cleanup(srv.Close)
					llm := NewLLM(LLMConfig{BaseURL: srv.BaseURL(), APIKey: "test"}, ctl, zerolog.Nop())
					llm.Backoff = Backoff{Base: 2 * time.Millisecond, Cap: 20 * time.Millisecond, Retries: 8}
					be = &LLMBackend{LLM: llm, Schema: schema, ParseRetries: 2}
				case "rules":
					schema = benchSchema(b, "learner_errors")
					be = &RulesBackend{Injector: mistakes.New(nil), Texts: mistakes.Bundled()}
				}
				r := NewRunner(st, schema, be, ctl)
				if tc.dedup {
					r.Dedup = benchDedup(b, st, schema)
				}
				r.Poll = 20 * time.Millisecond
				run := benchRun(b, st, schema, tc.backend, tc.n, round)
				b.StartTimer()

				stats, err := r.Run(context.Background(), run)

				b.StopTimer()
				if err != nil {
					b.Fatalf("Run: %v", err)
				}
				lost += lostRecords(b, st, run, stats)
				accepted += stats.Accepted
				attempts += stats.Attempts()
				elapsed += stats.Elapsed
				b.Logf("round %d: %d accepted, %d rejected, %d duplicate, %d failed (reasons %v) in %.2f s",
					round, stats.Accepted, stats.Rejected, stats.Duplicate, stats.Failed, stats.Reasons, stats.Elapsed.Seconds())
				b.StartTimer()
			}
			b.ReportMetric(float64(accepted)/elapsed.Seconds(), "records/s")
			b.ReportMetric(float64(attempts)/elapsed.Seconds(), "attempts/s")
			b.ReportMetric(float64(lost)/float64(b.N), "lost_records")
		})
	}
}
