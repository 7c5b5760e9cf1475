package generator

import (
	"context"
	"errors"
	"fmt"
	"math"
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
	now := time.Now()
	date := now.Add(3 * time.Second).UTC().Format(http.TimeFormat)
	tests := []struct {
		name   string
		header http.Header
		min    time.Duration
		max    time.Duration
		what   string
	}{
		{"no headers", http.Header{}, 0, 0, "rate limit"},
		{"retry-after seconds", http.Header{"Retry-After": {"2"}}, 2 * time.Second, 2 * time.Second, "rate limit"},
		{"retry-after fraction", http.Header{"Retry-After": {"0.25"}}, 250 * time.Millisecond, 250 * time.Millisecond, "rate limit"},
		{"retry-after-ms", http.Header{"Retry-After-Ms": {"120"}}, 120 * time.Millisecond, 120 * time.Millisecond, "rate limit"},
		{"retry-after date", http.Header{"Retry-After": {date}}, 1 * time.Second, 3 * time.Second, "rate limit"},
		{"a year of retry-after is read as it is (the cap is the caller's)", http.Header{"Retry-After": {"31536000"}}, 8760 * time.Hour, 8760 * time.Hour, "rate limit"},
		{"openai reset headers take the longest", http.Header{"X-Ratelimit-Reset-Requests": {"1s"}, "X-Ratelimit-Reset-Tokens": {"6m0s"}}, 6 * time.Minute, 6 * time.Minute, "rate limit"},
		{"the exhausted token limit names itself", http.Header{"X-Ratelimit-Remaining-Tokens": {"0"}, "X-Ratelimit-Reset-Tokens": {"20s"},
			"X-Ratelimit-Remaining-Requests": {"40"}, "X-Ratelimit-Reset-Requests": {"1s"}}, 20 * time.Second, 20 * time.Second, "token limit"},
		{"a reset in plain seconds", http.Header{"X-Ratelimit-Remaining-Requests": {"0"}, "X-Ratelimit-Reset-Requests": {"1.5"}}, 1500 * time.Millisecond, 1500 * time.Millisecond, "request limit"},
		{"a reset as a Unix time in milliseconds", http.Header{"X-Ratelimit-Remaining-Requests": {"0"}, "X-Ratelimit-Reset-Requests": {fmt.Sprint(now.Add(10 * time.Second).UnixMilli())}}, 9 * time.Second, 10 * time.Second, "request limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, what := retryHint(tt.header, now)
			if got < tt.min || got > tt.max || what != tt.what {
				t.Errorf("retryHint(%v) = %v, %q; want in [%v, %v], %q", tt.header, got, what, tt.min, tt.max, tt.what)
			}
		})
	}
}

func TestParseServerLimits(t *testing.T) {
	h := http.Header{
		"X-Ratelimit-Limit-Requests": {"5000"}, "X-Ratelimit-Remaining-Requests": {"4999"}, "X-Ratelimit-Reset-Requests": {"12ms"},
		"X-Ratelimit-Limit-Tokens": {"2000000"}, "X-Ratelimit-Remaining-Tokens": {"1998000"}, "X-Ratelimit-Reset-Tokens": {"60ms"},
	}
	got := parseServerLimits(h, time.Now())
	want := serverLimits{RPM: 5000, TPM: 2e6, RemainingReq: 4999, RemainingTok: 1998000, HasRemainingReq: true, HasRemainingTok: true,
		ResetReq: 12 * time.Millisecond, ResetTok: 60 * time.Millisecond}
	if got != want {
		t.Errorf("parseServerLimits = %+v, want %+v", got, want)
	}
}

// clock is a settable time source for Control tests.
type clock struct{ t time.Time }

func (c *clock) now() time.Time      { return c.t }
func (c *clock) add(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *clock               { return &clock{t: time.Unix(1_800_000_000, 0)} }
func testControl(cfg ControlConfig) (*Control, *clock) {
	c := NewControl(cfg)
	k := newClock()
	c.Now = k.now
	return c, k
}

func TestBucketAdmitsLikeTheServer(t *testing.T) {
	k := newClock()
	var b bucket
	b.set(k.now(), 10, 1) // 10 per second, one at a time
	if w := b.wait(k.now(), 1); w != 0 {
		t.Fatalf("first request waits %v, want none (the bucket starts full)", w)
	}
	b.take(k.now(), 1)
	if w := b.wait(k.now(), 1); w != 100*time.Millisecond {
		t.Fatalf("second request waits %v, want 100ms", w)
	}
	b.give(k.now(), 1)
	if w := b.wait(k.now(), 1); w != 0 {
		t.Errorf("after giving one back the next waits %v, want none", w)
	}
	b.lower(k.now(), -5)
	if w := b.wait(k.now(), 1); w != 600*time.Millisecond {
		t.Errorf("after the server said 5 are owed the next waits %v, want 600ms", w)
	}

	// tokens given back to a full bucket are lost, as on the server: they must not pay for later requests
	var tok bucket
	tok.set(k.now(), 1000, 2000)
	tok.take(k.now(), 500)
	tok.give(k.now(), 1200)
	if w := tok.wait(k.now(), 2000); w != 0 {
		t.Fatalf("a full bucket of 2000 cannot pay 2000: waits %v", w)
	}
	tok.take(k.now(), 2000)
	if w := tok.wait(k.now(), 700); w != 700*time.Millisecond {
		t.Errorf("after spending a full bucket, 700 tokens wait %v, want 700ms: the overflow of the refund was kept", w)
	}
}

func TestConcurrencyFollowsLittlesLaw(t *testing.T) {
	c, k := testControl(ControlConfig{RPM: 1200}) // 20 requests a second
	ctx := context.Background()
	for i := 0; i < 40; i++ {
		tk, err := c.Admit(ctx, 100, 100)
		if err != nil {
			t.Fatal(err)
		}
		k.add(50 * time.Millisecond)
		c.Done(tk, answer{outcome: Succeeded, latency: 4 * time.Second, tokens: 150})
	}
	// 20/s × 4 s × 1.25 headroom + 2 = 102
	if got := c.Limit(); got != 102 {
		t.Errorf("concurrency at 1200 rpm and 4 s answers = %d, want 102", got)
	}
	for i := 0; i < 128; i++ {
		tk, _ := c.Admit(ctx, 100, 100)
		k.add(50 * time.Millisecond)
		c.Done(tk, answer{outcome: Succeeded, latency: 10 * time.Second, tokens: 150})
	}
	if got := c.Limit(); got != 252 {
		t.Errorf("concurrency after latency moved to 10 s = %d, want 252", got)
	}
	c.SetShares(0.5, 1)
	if got, rpm := c.Limit(), c.Snapshot().RPM; got != 127 || rpm != 600 {
		t.Errorf("with half the run's limit: concurrency %d at %v rpm, want 127 at 600", got, rpm)
	}
}

func TestConcurrencyIsBoundedBySafetyAndFlags(t *testing.T) {
	c, k := testControl(ControlConfig{RPM: 600000})
	for i := 0; i < 20; i++ {
		k.add(time.Second)
		tk, _ := c.Admit(context.Background(), 10, 10)
		c.Done(tk, answer{outcome: Succeeded, latency: 30 * time.Second})
	}
	if got := c.Limit(); got != SafetyConcurrency {
		t.Errorf("concurrency for 10,000 requests/s at 30 s = %d, want the safety bound %d", got, SafetyConcurrency)
	}
	c, _ = testControl(ControlConfig{RPM: 1200, Max: 10})
	tk, _ := c.Admit(context.Background(), 10, 10)
	c.Done(tk, answer{outcome: Succeeded, latency: 5 * time.Second})
	if got := c.Limit(); got != 10 {
		t.Errorf("concurrency with --max-concurrency 10 = %d, want 10", got)
	}
	c, _ = testControl(ControlConfig{RPM: 1200, Fixed: 3})
	tk, _ = c.Admit(context.Background(), 10, 10)
	c.Done(tk, answer{outcome: Succeeded, latency: 5 * time.Second})
	if got := c.Limit(); got != 3 {
		t.Errorf("concurrency with --concurrency 3 = %d, want 3", got)
	}
}

func TestWarmUpGrowsConcurrencyBeforeTheFirstAnswer(t *testing.T) {
	c, k := testControl(ControlConfig{RPM: 6000}) // 100/s
	if _, err := c.Admit(context.Background(), 10, 10); err != nil {
		t.Fatal(err)
	}
	k.add(3 * time.Second)
	c.Tick()
	// no answer yet, but one request has been out 3 s: latency is at least that
	if got := c.Limit(); got < 300 {
		t.Errorf("concurrency 3 s into the first request at 100 requests/s = %d, want at least 300", got)
	}
}

func TestLimitsAreLearntFromHeadersAndFlagsCapThem(t *testing.T) {
	h := http.Header{"X-Ratelimit-Limit-Requests": {"3000"}, "X-Ratelimit-Remaining-Requests": {"2999"},
		"X-Ratelimit-Limit-Tokens": {"150000"}, "X-Ratelimit-Remaining-Tokens": {"149000"}}
	c, _ := testControl(ControlConfig{})
	tk, _ := c.Admit(context.Background(), 100, 400)
	c.Done(tk, answer{outcome: Succeeded, latency: time.Second, tokens: 300, header: h})
	p := c.Snapshot()
	if p.RPM != 3000 || p.TPM != 150000 || p.LimitSource != "headers" {
		t.Errorf("after one answer with headers: %v rpm, %v tpm from %q; want 3000, 150000 from headers", p.RPM, p.TPM, p.LimitSource)
	}
	// the token limit binds: 2,500 tokens/s over 300 tokens an answer is about 8.3 requests/s
	if got, want := c.Limit(), int(math.Ceil(150000.0/60/300*1*1.25))+2; got != want {
		t.Errorf("concurrency under the token limit = %d, want %d", got, want)
	}
	c, _ = testControl(ControlConfig{RPM: 600})
	tk, _ = c.Admit(context.Background(), 100, 400)
	c.Done(tk, answer{outcome: Succeeded, latency: time.Second, tokens: 300, header: h})
	if p := c.Snapshot(); p.RPM != 600 || p.LimitSource != "flags+headers" {
		t.Errorf("--rpm 600 against a server allowing 3000: %v rpm from %q, want the flag's 600", p.RPM, p.LimitSource)
	}
}

func TestTokensAreChargedAtAdmissionAndCorrectedByUsage(t *testing.T) {
	c, k := testControl(ControlConfig{TPM: 60000}) // 1,000 tokens a second
	ctx := context.Background()
	tk, err := c.Admit(ctx, 200, 1000) // charged 1,200: the bucket holds that much at first
	if err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	level := c.tok.level
	c.mu.Unlock()
	if level != 0 {
		t.Fatalf("token level after admitting prompt 200 + max_tokens 1000 = %v, want 0", level)
	}
	k.add(time.Second)
	c.Done(tk, answer{outcome: Succeeded, latency: time.Second, tokens: 500, completion: 300})
	c.mu.Lock()
	level = c.tok.level
	c.mu.Unlock()
	// a second refilled 1,000, capped at the bucket's 1,200; the 700 charged and not used come back
	if level != 1200 {
		t.Errorf("token level after an answer that used 500 of 1,200 = %v, want 1200 (full)", level)
	}
}

func TestRemainingCountsLowerTheBuckets(t *testing.T) {
	c, k := testControl(ControlConfig{})
	ctx := context.Background()
	h := http.Header{"X-Ratelimit-Limit-Requests": {"600"}, "X-Ratelimit-Remaining-Requests": {"300"}}
	tk, _ := c.Admit(ctx, 10, 10)
	c.Done(tk, answer{outcome: Succeeded, latency: time.Second, header: h}) // learns 600 rpm
	// another client drained the key: the server says none remain
	tk, _ = c.Admit(ctx, 10, 10)
	k.add(time.Second)
	h = http.Header{"X-Ratelimit-Limit-Requests": {"600"}, "X-Ratelimit-Remaining-Requests": {"0"}}
	c.Done(tk, answer{outcome: Succeeded, latency: time.Second, header: h})
	c.mu.Lock()
	w := c.req.wait(k.now(), 1)
	c.mu.Unlock()
	// none left when the server admitted it, 10 more refilled during the second it took
	if w != 0 {
		t.Errorf("wait = %v, want none: the refill during the answer covers it", w)
	}
	tk, _ = c.Admit(ctx, 10, 10)
	h = http.Header{"X-Ratelimit-Limit-Requests": {"600"}, "X-Ratelimit-Remaining-Requests": {"0"}}
	for i := 0; i < 5; i++ {
		k.add(100 * time.Millisecond)
		t2, _ := c.Admit(ctx, 10, 10) // five more sent while the first was out
		defer c.Done(t2, answer{outcome: ignored})
	}
	c.Done(tk, answer{outcome: Succeeded, latency: 0, header: h})
	c.mu.Lock()
	level := c.req.level
	c.mu.Unlock()
	// the server had none left when it admitted the first; since then 0.5 s refilled 5, and five
	// more were sent
	if level > 0.01 {
		t.Errorf("request level = %v, want about 0: the server had none left and five more were sent", level)
	}
}

func TestRetryAfterIsHonouredButCapped(t *testing.T) {
	c, k := testControl(ControlConfig{HintCap: 2 * time.Minute})
	tk, _ := c.Admit(context.Background(), 10, 10)
	c.Done(tk, answer{outcome: RateLimited, header: http.Header{"Retry-After": {"31536000"}}})
	c.mu.Lock()
	hold := c.holdUntil.Sub(k.now())
	c.mu.Unlock()
	if hold != 2*time.Minute {
		t.Errorf("hold after Retry-After of a year = %v, want the 2m cap", hold)
	}
	p := c.Snapshot()
	year := k.now().Add(31536000 * time.Second).Local().Format("15:04:05")
	if !strings.Contains(p.WaitingFor, "rate limit until "+year) {
		t.Errorf("progress says %q, want it to show the wait until %s", p.WaitingFor, year)
	}
}

func TestRateLimitsDoNotTripTheBreaker(t *testing.T) {
	c, k := testControl(ControlConfig{})
	for i := 0; i < 50; i++ {
		tk, _ := c.Admit(context.Background(), 10, 10)
		c.Done(tk, answer{outcome: RateLimited, header: http.Header{"Retry-After": {"0.5"}}})
		k.add(time.Second)
	}
	if c.breaker.tripped {
		t.Error("50 429s tripped the breaker; they are pacing, not failures")
	}
}

func TestBreakerProbesWithBackoffAndGivesUpAfterTheOutage(t *testing.T) {
	c, k := testControl(ControlConfig{Fixed: 1, MaxOutage: time.Minute})
	ctx := context.Background()
	for i := 0; i < 10; i++ {
		tk, _ := c.Admit(ctx, 10, 10)
		c.Done(tk, answer{outcome: Failed})
	}
	if !c.breaker.tripped {
		t.Fatal("10 failures of 10 did not trip the breaker")
	}
	if p := c.Snapshot(); !strings.Contains(p.WaitingFor, "the API to recover") {
		t.Errorf("progress while tripped says %q, want it to say it waits for the API", p.WaitingFor)
	}
	// probes come one at a time, each later than the last
	var gaps []time.Duration
	last := k.now()
	for i := 0; i < 4; i++ {
		c.mu.Lock()
		at := c.breaker.probeAt
		c.mu.Unlock()
		k.t = at
		tk, err := c.Admit(ctx, 10, 10)
		if err != nil {
			t.Fatal(err)
		}
		if !tk.probe {
			t.Fatalf("request %d admitted while tripped is not a probe", i)
		}
		gaps = append(gaps, k.now().Sub(last))
		last = k.now()
		c.Done(tk, answer{outcome: Failed})
	}
	for i := 1; i < len(gaps); i++ {
		if gaps[i] <= gaps[i-1] {
			t.Errorf("probe gaps %v do not grow", gaps)
		}
	}
	if c.GaveUp() != "" {
		t.Fatalf("gave up after %v of outage, want it to keep probing for a minute", k.now().Sub(c.breaker.since))
	}
	k.add(time.Minute)
	c.Tick()
	if c.GaveUp() == "" {
		t.Fatal("still probing after the outage outlasted MaxOutage")
	}
	if _, err := c.Admit(ctx, 10, 10); !errors.Is(err, ErrOutage) {
		t.Errorf("Admit after giving up = %v, want ErrOutage", err)
	}
}

func TestBreakerClosesWhenAProbeSucceeds(t *testing.T) {
	c, k := testControl(ControlConfig{Fixed: 1})
	ctx := context.Background()
	for i := 0; i < 10; i++ {
		tk, _ := c.Admit(ctx, 10, 10)
		c.Done(tk, answer{outcome: Failed})
	}
	k.t = c.breaker.probeAt
	tk, _ := c.Admit(ctx, 10, 10)
	c.Done(tk, answer{outcome: Succeeded, latency: time.Millisecond})
	if c.breaker.tripped {
		t.Error("the breaker stayed open after a probe succeeded")
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

func TestRunWaitsOutAnOutageThenPausesResumable(t *testing.T) {
	g := newRig(t)
	g.server.Faults = llmtest.Faults{Server: 1}
	run := g.newRun(t, 10)
	r := g.runnerWith(t, ControlConfig{Fixed: 2, MaxOutage: 3 * time.Second})
	start := time.Now()
	stats, err := r.Run(context.Background(), run)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Status != corpus.RunPaused || !strings.Contains(stats.Message, "--resume "+run.ID) {
		t.Errorf("status %q (%s), want paused with the resume command", stats.Status, stats.Message)
	}
	if el := time.Since(start); el < 3*time.Second {
		t.Errorf("paused after %v, want it to wait and probe for the 3s outage allowance first", el)
	}
	if got := countStatus(t, g.store, run.ID); got[corpus.StatusFailed] > 0 {
		t.Errorf("the outage left %d failed records, want the slots left open for the resume", got[corpus.StatusFailed])
	}
	g.server.SetFaults(llmtest.Faults{})
	stats, err = g.runner(t, 2).Run(context.Background(), run)
	if err != nil || stats.Status != corpus.RunDone || stats.Accepted != 10 {
		t.Errorf("resume after the outage = %v, %q, %d accepted; want done with 10", err, stats.Status, stats.Accepted)
	}
}

func TestRunRidesOutAShortOutage(t *testing.T) {
	g := newRig(t)
	g.server.Latency = 5 * time.Millisecond
	g.server.SetFaults(llmtest.Faults{Server: 1})
	go func() {
		time.Sleep(1500 * time.Millisecond)
		g.server.SetFaults(llmtest.Faults{})
	}()
	run := g.newRun(t, 10)
	stats, err := g.runnerWith(t, ControlConfig{Fixed: 2, MaxOutage: time.Minute}).Run(context.Background(), run)
	if err != nil || stats.Status != corpus.RunDone || stats.Accepted != 10 {
		t.Fatalf("run through a 1.5 s outage = %v, %q (%s), %d accepted; want done with 10", err, stats.Status, stats.Message, stats.Accepted)
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
		if err := g.store.Inserter(corpus.Claims).Insert(context.Background(), c); err != nil {
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
