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
//	go test -run '^$' -bench 'Pacing|EngineThroughput' -benchtime 1x ./generator/
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

// BenchmarkEngineThroughput measures the engine's own overhead on the embedded store: claims, step
// inserts, record inserts, validators, edit extraction and the corpus-wide dedup, at concurrency 16.
// llm asks a zero-latency fake server (HTTP and JSON included), llm-adaptive the same with the
// concurrency the engine finds by itself, llm-nodedup leaves dedup out, and rules injects errors
// offline with no HTTP. It reports accepted records/s (goal >= 500 on 2 cores
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
		fixed   int // --concurrency; 0 adapts
	}{
		{"llm", "llm", true, 1000, 16},
		{"llm-adaptive", "llm", true, 1000, 0},
		{"llm-nodedup", "llm", false, 1000, 16},
		// there are 552 bundled clean texts and slot i takes text i of a permutation, so past about
		// 500 records the slots repeat texts and dedup turns them away
		{"rules", "rules", true, 400, 16},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			var accepted, attempts, lost int
			var elapsed time.Duration
			for round := 0; round < b.N; round++ {
				b.StopTimer()
				// every round starts from an empty corpus, so rounds are alike
				st := openStore(b)
				ctl := NewControl(ControlConfig{Fixed: tc.fixed})
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
