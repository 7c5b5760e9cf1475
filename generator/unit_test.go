package generator

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/correctly/correctly/corpus"
	"github.com/correctly/correctly/edits"
	"github.com/correctly/correctly/llmtest"
	"github.com/correctly/correctly/vectors"
)

func TestRetryHint(t *testing.T) {
	date := time.Now().Add(3 * time.Second).UTC().Format(http.TimeFormat)
	tests := []struct {
		name   string
		header http.Header
		min    time.Duration
		max    time.Duration
	}{
		{"no headers", http.Header{}, 0, 0},
		{"retry-after seconds", http.Header{"Retry-After": {"2"}}, 2 * time.Second, 2 * time.Second},
		{"retry-after fraction", http.Header{"Retry-After": {"0.25"}}, 250 * time.Millisecond, 250 * time.Millisecond},
		{"retry-after-ms", http.Header{"Retry-After-Ms": {"120"}}, 120 * time.Millisecond, 120 * time.Millisecond},
		{"retry-after date", http.Header{"Retry-After": {date}}, 1 * time.Second, 3 * time.Second},
		{"openai reset headers take the longest", http.Header{"X-Ratelimit-Reset-Requests": {"1s"}, "X-Ratelimit-Reset-Tokens": {"6m0s"}}, 6 * time.Minute, 6 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := retryHint(tt.header); got < tt.min || got > tt.max {
				t.Errorf("retryHint(%v) = %v, want in [%v, %v]", tt.header, got, tt.min, tt.max)
			}
		})
	}
}

func TestBackoffIsJitteredWithinCapAndHonoursHint(t *testing.T) {
	b := Backoff{Base: 100 * time.Millisecond, Cap: time.Second}
	for attempt := 0; attempt < 8; attempt++ {
		ceil := min(b.Cap, b.Base<<attempt)
		seen := map[time.Duration]bool{}
		for i := 0; i < 200; i++ {
			d := b.Delay(attempt, 0)
			if d < 0 || d > ceil {
				t.Fatalf("Delay(%d) = %v, want in [0, %v]", attempt, d, ceil)
			}
			seen[d] = true
		}
		if len(seen) < 50 {
			t.Errorf("Delay(%d) took only %d distinct values in 200 draws: no full jitter", attempt, len(seen))
		}
	}
	if d := b.Delay(0, 5*time.Second); d != 5*time.Second {
		t.Errorf("Delay with a 5s server hint = %v, want the hint", d)
	}
}

func TestControlAdaptsConcurrency(t *testing.T) {
	c := NewControl(4, 6, 0, 0)
	c.Observe(RateLimited)
	if got := c.Limit(); got != 3 {
		t.Fatalf("limit after a 429 = %d, want 3 (4 × 0.75)", got)
	}
	for i := 0; i < 3; i++ {
		c.Observe(RateLimited)
	}
	if got := c.Limit(); got != 1 {
		t.Fatalf("limit after repeated 429s = %d, want the floor 1", got)
	}
	for i := 0; i < 100; i++ {
		c.Observe(Succeeded)
	}
	if got := c.Limit(); got != 6 {
		t.Errorf("limit after a long success streak = %d, want the maximum 6", got)
	}
}

func TestControlAcquireBlocksAtLimit(t *testing.T) {
	c := NewControl(2, 2, 0, 0)
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		if err := c.Acquire(ctx); err != nil {
			t.Fatal(err)
		}
	}
	short, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	if err := c.Acquire(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("third Acquire at limit 2 = %v, want it to wait until the deadline", err)
	}
	c.Release()
	if err := c.Acquire(ctx); err != nil {
		t.Errorf("Acquire after Release = %v", err)
	}
}

func TestControlTripsWhenMostRequestsFail(t *testing.T) {
	c := NewControl(1, 1, 0, 0)
	for i := 0; i < 50; i++ {
		if i%3 == 0 {
			c.Observe(Succeeded)
		} else {
			c.Observe(Failed)
		}
	}
	if tripped, fails, n := c.Tripped(); !tripped || n != 50 {
		t.Errorf("Tripped() = %v (%d of %d failed), want tripped", tripped, fails, n)
	}
	for i := 0; i < 50; i++ {
		c.Observe(Succeeded)
	}
	if tripped, _, _ := c.Tripped(); tripped {
		t.Error("Tripped() after 50 successes, want the window to have moved on")
	}
}

func TestControlPacesRequestsPerMinute(t *testing.T) {
	c := NewControl(1, 1, 1200, 0) // 20 per second
	ctx := context.Background()
	start := time.Now()
	for i := 0; i < 11; i++ {
		if err := c.Wait(ctx, 10); err != nil {
			t.Fatal(err)
		}
	}
	if el := time.Since(start); el < 450*time.Millisecond {
		t.Errorf("11 requests at 1200 rpm took %v, want about 500ms", el)
	}
}

func TestValidators(t *testing.T) {
	s := defaultSchema(t)
	good := func() *corpus.Record {
		return &corpus.Record{
			Dims: map[string]string{"key_expression": "make up one's mind"},
			Fields: map[string]any{
				"before":      "Yesterday I go to the park with my friend and we play soccer for two hour. " + strings.Repeat("It was very fun and I want to go again soon with him. ", 3) + "Finally I made up my mind to join a club.",
				"after":       "Yesterday I went to the park with my friend and we played soccer for two hours. " + strings.Repeat("It was very fun and I want to go again soon with him. ", 3) + "Finally I made up my mind to join a club.",
				"translation": "어제 나는 친구와 공원에 가서 두 시간 동안 축구를 했다. 정말 재미있었다.",
				"points":      []string{`"I go" → "I went": 과거 시제`, `"we play" → "we played": 과거 시제`, `"two hour" → "two hours": 복수형`},
			},
		}
	}
	tests := []struct {
		name   string
		change func(r *corpus.Record)
		code   string // "" = accepted
	}{
		{"an honest record passes", func(*corpus.Record) {}, ""},
		{"empty translation", func(r *corpus.Record) { r.Fields["translation"] = "  " }, CodeMissingField},
		{"unchanged text", func(r *corpus.Record) { r.Fields["after"] = r.Fields["before"]; r.Fields["points"] = []string{} }, CodeUnchanged},
		{"Korean left in the correction", func(r *corpus.Record) { r.Fields["after"] = r.Fields["after"].(string) + " 그래서 끝." }, CodeHangulInEnglish},
		{"translation not Korean", func(r *corpus.Record) { r.Fields["translation"] = "Yesterday I went to the park." }, CodeNotKorean},
		{"key expression missing", func(r *corpus.Record) {
			r.Fields["before"] = strings.Replace(r.Fields["before"].(string), "made up my mind", "decided", 1)
		}, CodeMissingDimension},
		{"too short", func(r *corpus.Record) { r.Fields["before"] = "I made up my mind." }, CodeTooShort},
		{"fabricated claim", func(r *corpus.Record) {
			r.Fields["points"] = append(r.Fields["points"].([]string), `"never looks at him" → "never looks at him": 쉼표 추가`)
		}, CodeClaimWithoutEdit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := good()
			tt.change(r)
			b, _ := r.Fields["before"].(string)
			a, _ := r.Fields["after"].(string)
			if b != "" && a != "" {
				r.Edits = ToCorpusEdits(extractEdits(b, a))
			}
			reasons, _ := Validate(s, r, nil)
			codes := map[string]bool{}
			for _, x := range reasons {
				codes[x.Code] = true
			}
			if tt.code == "" && len(reasons) > 0 {
				t.Fatalf("Validate = %v, want accepted", reasons)
			}
			if tt.code != "" && !codes[tt.code] {
				t.Fatalf("Validate = %v, want a %s reason", reasons, tt.code)
			}
		})
	}
}

func TestContainsExpressionAllowsInflection(t *testing.T) {
	tests := []struct {
		text, expr string
		want       bool
	}{
		{"Finally I made up my mind.", "make up one's mind", true},
		{"We are looking forward to the trip.", "look forward to", true},
		{"I ran out of money.", "run out of", true},
		{"It ended up fine.", "end up", true},
		{"I look at the forward.", "look forward to", false},
		{"I decided.", "make up one's mind", false},
	}
	for _, tt := range tests {
		if got := containsExpression(tt.text, tt.expr); got != tt.want {
			t.Errorf("containsExpression(%q, %q) = %v, want %v", tt.text, tt.expr, got, tt.want)
		}
	}
}

func TestInterruptedRunReleasesClaimsAndResumes(t *testing.T) {
	g := newRig(t)
	g.server.Latency = 30 * time.Millisecond
	run := g.newRun(t, 16)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for g.server.Counts().Answered < 8 {
			time.Sleep(2 * time.Millisecond)
		}
		cancel()
	}()
	stats, err := g.runner(t, 4).Run(ctx, run)
	if !errors.Is(err, ErrInterrupted) || stats.Status != corpus.RunStopped {
		t.Fatalf("Run after cancel = %v, status %q; want ErrInterrupted and stopped", err, stats.Status)
	}
	claims, err := g.store.RunClaims(context.Background(), run.ID)
	if err != nil {
		t.Fatal(err)
	}
	done := map[int]bool{}
	recs, _ := g.store.RecordOutcomes(context.Background(), run.ID)
	for _, r := range recs {
		done[r.Slot] = true
	}
	for _, c := range claims {
		if !done[c.Slot] && c.ExpiresAt.After(time.Now()) {
			t.Errorf("slot %d was left claimed until %v after the interrupt", c.Slot, c.ExpiresAt)
		}
	}
	// another process (another pid) can take over at once, and the run ends with exactly the target
	r := g.runner(t, 4)
	r.PID = 1 << 22
	if _, err := r.Run(context.Background(), run); err != nil {
		t.Fatal(err)
	}
	if got := countStatus(t, g.store, run.ID)[corpus.StatusAccepted]; got != 16 {
		t.Errorf("accepted after resume = %d, want 16", got)
	}
}

func TestBudgetStopsClaimingAndResumesWithHigherCap(t *testing.T) {
	g := newRig(t)
	run := g.newRun(t, 20)
	run.Settings.MaxCost = 0.06 // about four slots at these prices
	r := g.runner(t, 2)
	r.Price = Price{In: 10, Out: 30}
	stats, err := r.Run(context.Background(), run)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Status != corpus.RunBudgetExhausted || stats.Accepted >= 20 {
		t.Fatalf("status %q with %d accepted, want budget_exhausted before the target", stats.Status, stats.Accepted)
	}
	perSlot := stats.Cost / float64(stats.Attempts())
	if stats.Cost > run.Settings.MaxCost+perSlot {
		t.Errorf("spent $%.5f against a $%.5f cap (a slot costs $%.5f)", stats.Cost, run.Settings.MaxCost, perSlot)
	}
	run.Settings.MaxCost = 1
	stats, err = r.Run(context.Background(), run)
	if err != nil || stats.Status != corpus.RunDone || stats.Accepted != 20 {
		t.Errorf("resume with a higher cap = %v, %q, %d accepted; want done with 20", err, stats.Status, stats.Accepted)
	}
}

func TestRunPausesWhenMostRequestsFail(t *testing.T) {
	g := newRig(t)
	g.server.Faults = llmtest.Faults{Server: 0.9}
	run := g.newRun(t, 10)
	stats, err := g.runner(t, 2).Run(context.Background(), run)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Status != corpus.RunPaused || !strings.Contains(stats.Message, "--resume") {
		t.Errorf("status %q (%s), want paused with a resume hint", stats.Status, stats.Message)
	}
}

func TestFatalErrorStopsAtOnce(t *testing.T) {
	g := newRig(t)
	g.server.Key = "the-right-key"
	run := g.newRun(t, 10)
	_, err := g.runner(t, 2).Run(context.Background(), run)
	var fe *FatalError
	if !errors.As(err, &fe) || fe.Status != http.StatusUnauthorized || !strings.Contains(err.Error(), "OPENAI_API_KEY") {
		t.Fatalf("Run with a bad key = %v, want a 401 FatalError naming OPENAI_API_KEY", err)
	}
	if c := g.server.Counts(); c.Requests > 4 {
		t.Errorf("%d requests were made with a bad key, want the run to stop at once", c.Requests)
	}
}

func extractEdits(before, after string) []edits.Edit { return edits.Extract(before, after) }

func TestResumeFillsSlotsNumberedButNeverClaimed(t *testing.T) {
	g := newRig(t)
	run := g.newRun(t, 3)
	// a process died after claiming slots 0 and 2 but before its claim of slot 1 was written
	for _, slot := range []int{0, 2} {
		c := corpus.Claim{ID: fmt.Sprintf("%s/%d/0", run.ID, slot), RunID: run.ID, Slot: slot, Host: "gone", PID: 1,
			ExpiresAt: time.Now().Add(-time.Minute), CreatedAt: time.Now()}
		if _, err := g.store.C(corpus.Claims).InsertOne(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stats, err := g.runner(t, 2).Run(ctx, run)
	if err != nil || stats.Accepted != 3 || stats.Status != corpus.RunDone {
		t.Fatalf("resume = %v, %d accepted, %q; want done with 3", err, stats.Accepted, stats.Status)
	}
}

// flakyEmbedder fails its first call, like an embedding API having a bad moment.
type flakyEmbedder struct {
	vectors.Embedder
	failed bool
}

func (f *flakyEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	if !f.failed {
		f.failed = true
		return nil, errors.New("embedding service unavailable")
	}
	return f.Embedder.Embed(ctx, texts)
}

func TestSlotIsRetriedWhenDedupFails(t *testing.T) {
	g := newRig(t)
	d := g.dedup(t)
	d.Embedder = &flakyEmbedder{Embedder: d.Embedder}
	r := g.runner(t, 1)
	r.Dedup = d
	run := g.newRun(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stats, err := r.Run(ctx, run)
	if err != nil || stats.Accepted != 3 || stats.Status != corpus.RunDone {
		t.Fatalf("run with one dedup failure = %v, %d accepted, %q; want done with 3", err, stats.Accepted, stats.Status)
	}
}
