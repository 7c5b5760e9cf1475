package generator

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/correctly/correctly/corpus"
	"github.com/correctly/correctly/llmtest"
	"github.com/correctly/correctly/prompts"
)

func openStore(tb testing.TB) *corpus.Store {
	tb.Helper()
	st, err := corpus.Open(context.Background(), corpus.Options{DataDir: tb.TempDir(), DB: "test", Log: zerolog.Nop()})
	if err != nil {
		tb.Fatalf("open embedded store: %v", err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

func defaultSchema(tb testing.TB) *prompts.Schema {
	tb.Helper()
	all, err := prompts.Builtin()
	if err != nil {
		tb.Fatal(err)
	}
	for _, s := range all {
		if s.Name == "correction_script" {
			return s
		}
	}
	tb.Fatal("no built-in correction_script schema")
	return nil
}

type rig struct {
	store  *corpus.Store
	schema *prompts.Schema
	server *llmtest.Server
}

func newRig(tb testing.TB) *rig {
	tb.Helper()
	srv := llmtest.New()
	tb.Cleanup(srv.Close)
	return &rig{store: openStore(tb), schema: defaultSchema(tb), server: srv}
}

func (g *rig) runner(tb testing.TB, concurrency int) *Runner {
	tb.Helper()
	return g.runnerWith(tb, ControlConfig{Fixed: concurrency})
}

func (g *rig) runnerWith(tb testing.TB, cfg ControlConfig) *Runner {
	tb.Helper()
	ctl := NewControl(cfg)
	llm := NewLLM(LLMConfig{BaseURL: g.server.BaseURL(), APIKey: "test"}, ctl, zerolog.Nop())
	llm.Backoff = Backoff{Base: 2 * time.Millisecond, Cap: 20 * time.Millisecond, Retries: 8}
	be := &LLMBackend{LLM: llm, Schema: g.schema, ParseRetries: 2}
	r := NewRunner(g.store, g.schema, be, ctl)
	r.Poll = 20 * time.Millisecond
	return r
}

func (g *rig) newRun(tb testing.TB, n int) *corpus.Run {
	tb.Helper()
	now := time.Now().UTC()
	run := &corpus.Run{
		ID: fmt.Sprintf("test-%d", now.UnixNano()), Prompt: g.schema.Name, PromptVersion: g.schema.Version(),
		Backend: "llm", Target: n, Seed: 7, MaxAttempts: 3 * n, Status: corpus.RunRunning, CreatedAt: now, UpdatedAt: now,
		Settings: corpus.Settings{ParseRetries: 2},
	}
	if err := g.store.CreateRun(context.Background(), run); err != nil {
		tb.Fatal(err)
	}
	return run
}

func countStatus(tb testing.TB, st *corpus.Store, runID string) map[string]int {
	tb.Helper()
	recs, err := st.RecordOutcomes(context.Background(), runID)
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string]int{}
	for _, r := range recs {
		out[r.Status]++
	}
	return out
}

func TestRunAcceptsExactlyTargetDespiteFaults(t *testing.T) {
	g := newRig(t)
	g.server.Faults = llmtest.Faults{RateLimit: 0.08, RetryAfter: 5 * time.Millisecond, Server: 0.08, Malformed: 0.08}
	run := g.newRun(t, 20)
	stats, err := g.runner(t, 4).Run(context.Background(), run)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	got := countStatus(t, g.store, run.ID)
	if got[corpus.StatusAccepted] != 20 || stats.Accepted != 20 {
		t.Fatalf("accepted = %d in store, %d in stats; want 20 (all: %v)", got[corpus.StatusAccepted], stats.Accepted, got)
	}
	if stats.Status != corpus.RunDone {
		t.Errorf("status = %q, want done", stats.Status)
	}
	stored, err := g.store.GetRun(context.Background(), run.ID)
	if err != nil || stored.Status != corpus.RunDone {
		t.Errorf("stored run status = %v, %v; want done", stored, err)
	}
	// every (slot, step) has at most one usable answer: nothing was asked twice once answered
	steps, err := g.store.RunSteps(context.Background(), run.ID)
	if err != nil {
		t.Fatal(err)
	}
	answered := map[string]int{}
	var twice []string
	for _, st := range steps {
		if st.ParseError != "" {
			continue
		}
		k := fmt.Sprintf("%d/%s", st.Slot, st.Step)
		if answered[k]++; answered[k] == 2 {
			twice = append(twice, k)
		}
	}
	if len(twice) > 0 {
		t.Errorf("steps answered twice: %v", twice)
	}
}
