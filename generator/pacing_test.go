package generator

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/correctly/correctly/corpus"
	"github.com/correctly/correctly/llmtest"
)

// These tests run whole generation runs against the fake server, behaving like the servers users
// meet, and check what a user relies on: limits learnt without flags, limits kept, a batching server
// driven hard but not flooded, oversized answers refused.

func TestLimitsAdvertisedInHeadersAreLearntWithoutFlags(t *testing.T) {
	g := newRig(t)
	g.server.Latency, g.server.Jitter = 150*time.Millisecond, 0.3
	g.server.RPM, g.server.TPM, g.server.Headers = 1200, 600000, true
	run := g.newRun(t, 40)
	r := g.runnerWith(t, ControlConfig{})
	stats, err := r.Run(context.Background(), run)
	if err != nil || stats.Status != corpus.RunDone || stats.Accepted != 40 {
		t.Fatalf("run = %v, %q, %d accepted; want done with 40", err, stats.Status, stats.Accepted)
	}
	p := stats.Pace
	if p.LimitSource != "headers" || p.RPM != 1200 || p.TPM != 600000 {
		t.Errorf("pace = %+v, want 1200 rpm and 600000 tpm learnt from headers", p)
	}
	c := g.server.Counts()
	if c.RateLimited*10 > c.Requests {
		t.Errorf("%d of %d requests were answered 429, want at most 10%%", c.RateLimited, c.Requests)
	}
}

func TestGivenTokenLimitIsKept(t *testing.T) {
	g := newRig(t)
	g.server.Latency = 20 * time.Millisecond
	g.server.TPM = 150000 // 2,500 tokens a second, a request is charged about 1,300 at admission
	run := g.newRun(t, 12)
	stats, err := g.runnerWith(t, ControlConfig{TPM: 150000}).Run(context.Background(), run)
	if err != nil || stats.Status != corpus.RunDone {
		t.Fatalf("run = %v, %q", err, stats.Status)
	}
	if c := g.server.Counts(); c.RateLimited > 1 {
		t.Errorf("the server answered %d requests 429 under --tpm equal to its limit, want none (one for clock skew)", c.RateLimited)
	}
	ans := g.server.Answers()
	span := ans[len(ans)-1].Admitted.Sub(ans[0].Admitted).Seconds()
	tokens := 0
	for _, a := range ans {
		tokens += a.Tokens
	}
	// beyond the bucket's first second's worth, every token waited for its refill
	if rate := float64(tokens-2500) / span; rate > 2500*1.05 {
		t.Errorf("used %.0f tokens/s beyond the first burst, over the 2,500 of --tpm 150000", rate)
	}
}

func TestBatchingServerIsDrivenAtItsBestConcurrencyNotFlooded(t *testing.T) {
	g := newRig(t)
	g.server.Latency, g.server.Batch = 60*time.Millisecond, 16
	run := g.newRun(t, 300)
	r := g.runnerWith(t, ControlConfig{})
	stats, err := r.Run(context.Background(), run)
	if err != nil || stats.Status != corpus.RunDone {
		t.Fatalf("run = %v, %q", err, stats.Status)
	}
	c := g.server.Counts()
	if c.MaxRunning < 16 {
		t.Errorf("at most %d requests were out at once, want the server's best 16 reached (it started at 4)", c.MaxRunning)
	}
	if c.MaxRunning > 64 {
		t.Errorf("%d requests were out at once, want the search to stay near the server's best 16, not flood it", c.MaxRunning)
	}
}

func TestOversizedAnswerIsRefusedUnstoredAndCounted(t *testing.T) {
	g := newRig(t)
	g.server.Faults = llmtest.Faults{Huge: 1, HugeBytes: 20 << 20}
	run := g.newRun(t, 1)
	run.MaxAttempts = 1
	stats, err := g.runner(t, 1).Run(context.Background(), run)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Reasons[CodeOversized] != 1 || stats.Accepted != 0 {
		t.Fatalf("stats = %+v, want the slot rejected as oversized", stats)
	}
	steps, err := g.store.SlotSteps(context.Background(), run.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 3 { // the first ask and two parse retries, as for any malformed answer
		t.Errorf("%d step answers stored, want 3 (ask + 2 parse retries)", len(steps))
	}
	for _, s := range steps {
		if s.Raw != "" || !strings.Contains(s.ParseError, "refused") || s.Usage.CompletionTokens == 0 {
			t.Errorf("stored step %+v, want no raw answer, the refusal, and the tokens it may have cost", s)
		}
	}
}

func TestWorkersOfOneRunDivideItsLimit(t *testing.T) {
	g := newRig(t)
	g.server.Latency, g.server.RPM = 100*time.Millisecond, 1200
	run := g.newRun(t, 40)
	a := g.runnerWith(t, ControlConfig{RPM: 1200})
	b := g.runnerWith(t, ControlConfig{RPM: 1200})
	a.Heartbeat, b.Heartbeat = 100*time.Millisecond, 100*time.Millisecond
	b.PID = a.PID + 1
	type result struct {
		stats Stats
		err   error
	}
	done := make(chan result, 2)
	for _, r := range []*Runner{a, b} {
		go func() { s, err := r.Run(context.Background(), run); done <- result{s, err} }()
	}
	var shares []float64
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && len(shares) < 2 {
		pa, pb := a.Control.Snapshot(), b.Control.Snapshot()
		if pa.Share == 0.5 && pb.Share == 0.5 {
			shares = []float64{pa.Share, pb.Share}
		}
		time.Sleep(20 * time.Millisecond)
	}
	for i := 0; i < 2; i++ {
		if r := <-done; r.err != nil {
			t.Fatal(r.err)
		}
	}
	if len(shares) != 2 {
		t.Errorf("the two workers never paced at half the run's --rpm each")
	}
	if got := countStatus(t, g.store, run.ID)[corpus.StatusAccepted]; got != 40 {
		t.Errorf("accepted = %d, want 40", got)
	}
	if c := g.server.Counts(); c.RateLimited*20 > c.Requests {
		t.Errorf("%d of %d requests were answered 429 with two workers sharing the limit, want under 5%%", c.RateLimited, c.Requests)
	}
	workers, err := g.store.RunWorkers(context.Background(), run.ID)
	if err != nil || len(workers) != 0 {
		t.Errorf("workers still registered after both finished: %v, %v", workers, err)
	}
}
