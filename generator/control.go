package generator

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sort"
	"sync"
	"time"
)

// Pacing defaults.
const (
	// SafetyConcurrency bounds adaptive concurrency. No real limit needs more in flight (5,000
	// requests a minute at 10 s an answer is about 1,000), and each costs one idle goroutine.
	SafetyConcurrency = 1024
	// DefaultHintCap is the longest one wait for a server's Retry-After or reset hint; a longer
	// reset shows on the progress line and the request is tried again after the cap.
	DefaultHintCap = 2 * time.Minute
	// DefaultMaxOutage is how long a run waits and probes while most requests fail before it stops
	// (resumable).
	DefaultMaxOutage = 10 * time.Minute
)

// ErrOutage is returned by requests once the API has failed for longer than the Control's
// MaxOutage: the run stops, resumable, instead of burning its budget on a broken API.
var ErrOutage = errors.New("the API kept failing")

// ControlConfig says what a Control knows before the first answer. Zero fields take defaults.
type ControlConfig struct {
	RPM, TPM  float64       // limits given by flags; 0 = none given (learnt from headers, if sent)
	Fixed     int           // > 0: exactly this many slots at once (--concurrency), no adaptation
	Max       int           // upper bound of adaptive concurrency (--max-concurrency); 0 = SafetyConcurrency
	Start     int           // concurrency before any answer, when no limit is known (default 4)
	HintCap   time.Duration // default DefaultHintCap
	MaxOutage time.Duration // default DefaultMaxOutage
}

// Control paces one worker's requests to one API and sizes how many slots it works on at once.
//
// Requests pass a request bucket and a token bucket holding the limits in force: the given
// --rpm/--tpm and the x-ratelimit-limit-* headers of the answers (the lower wins), each divided
// by this worker's share among the workers using it. Tokens are charged at admission as OpenAI
// counts them (prompt + max_tokens), then corrected by the usage of the answer, and the buckets
// never hold more than the server's x-ratelimit-remaining-* counts say is left.
//
// Concurrency follows Little's law when a limit is known: the request rate in force times the 90th
// percentile of answer latency, with headroom, recomputed as latency moves. When no limit is known
// (vLLM, Ollama, llama.cpp, TGI) it searches for the server's best throughput instead: it doubles
// while throughput grows, and falls back to the best concurrency seen when latency grows and
// throughput does not.
//
// 429s are pacing signals: every request waits out the server's hint (capped at HintCap). Other
// failures feed a circuit breaker: when more than half of the last 50 requests failed, requests
// wait and one probe at a time tries the API, with backoff, for up to MaxOutage.
type Control struct {
	Now func() time.Time

	cfg ControlConfig

	mu      sync.Mutex
	changed chan struct{} // closed and replaced when the concurrency target changes

	req, tok    bucket
	given       Limits
	learnt      Limits
	shareRun    float64 // this worker's share of the given limits (1/workers of the run)
	shareServer float64 // its share of the learnt ones (1/workers using the API key)
	factor      float64 // backoff of the rates after 429s that the limits did not foresee (1 = none)
	maxCharge   float64

	limit     float64 // the concurrency target
	lat       latencies
	ageFloor  float64 // lower bound of latency from requests still out (seconds)
	onWire    map[uint64]time.Time
	queue     []*waiter     // requests waiting for admission, in order
	kick      chan struct{} // closed when the head of the queue should look again
	seq       uint64        // requests admitted, ever
	charged   float64       // tokens charged net of corrections, ever
	avgTokens float64       // tokens an answered request used (EWMA)
	avgOut    float64       // completion tokens of an answer (EWMA)

	search search

	holdUntil time.Time // no request is sent before this
	holdShown time.Time // when the server's limit resets (may be past holdUntil)
	holdWhat  string

	breaker breaker

	requests    int // answers received, any status
	rateLimited int
	recent      [100]bool // 429 or not, for the share on the progress line
	recentN     int
}

// Limits are requests and tokens per minute; 0 means unknown.
type Limits struct{ RPM, TPM float64 }

// NewControl returns a Control for cfg.
func NewControl(cfg ControlConfig) *Control {
	if cfg.Max <= 0 {
		cfg.Max = SafetyConcurrency
	}
	if cfg.Start <= 0 {
		cfg.Start = 4
	}
	cfg.Start = min(cfg.Start, cfg.Max)
	if cfg.Fixed > 0 {
		cfg.Fixed = min(cfg.Fixed, cfg.Max)
	}
	if cfg.HintCap <= 0 {
		cfg.HintCap = DefaultHintCap
	}
	if cfg.MaxOutage <= 0 {
		cfg.MaxOutage = DefaultMaxOutage
	}
	c := &Control{
		Now: time.Now, cfg: cfg, changed: make(chan struct{}), kick: make(chan struct{}),
		given: Limits{RPM: cfg.RPM, TPM: cfg.TPM}, shareRun: 1, shareServer: 1, factor: 1,
		onWire: map[uint64]time.Time{}, avgOut: 256,
		search: search{limit: float64(cfg.Start), slowStart: true},
	}
	c.setRates(c.Now())
	c.retarget()
	return c
}

// Limit returns how many slots to work on at once now.
func (c *Control) Limit() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return int(c.limit)
}

// Changed returns a channel closed at the next change of Limit.
func (c *Control) Changed() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changed
}

// SetShares sets this worker's share of the given limits (1/workers of its run) and of the limits
// learnt from the server (1/workers using the same API key).
func (c *Control) SetShares(run, server float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	run, server = clamp(run, 0.001, 1), clamp(server, 0.001, 1)
	if run == c.shareRun && server == c.shareServer {
		return
	}
	c.shareRun, c.shareServer = run, server
	c.setRates(c.Now())
	c.retarget()
	c.poke()
}

type shares struct{ run, server float64 }

func (c *Control) shares() shares {
	c.mu.Lock()
	defer c.mu.Unlock()
	return shares{c.shareRun, c.shareServer}
}

// Drain empties the buckets: the limit is shared with workers that already spend it, so this one
// starts at the rate, without a burst.
func (c *Control) Drain() {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.Now()
	c.req.lower(now, 0)
	c.tok.lower(now, 0)
}

// Tick lets latency estimates follow requests that are still out; the Runner calls it a few
// times a second.
func (c *Control) Tick() {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.Now()
	oldest := now
	for _, t := range c.onWire {
		if t.Before(oldest) {
			oldest = t
		}
	}
	age := now.Sub(oldest).Seconds()
	if p := c.lat.p90(); p > 0 {
		age = min(age, 2*p) // a stuck request must not inflate concurrency without end
	}
	c.ageFloor = age
	c.breaker.check(now, c.cfg.MaxOutage)
	c.retarget()
	c.poke()
}

// GaveUp returns why requests stopped being sent (the API failed for longer than MaxOutage), or "".
func (c *Control) GaveUp() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.breaker.gaveUp
}

// ticket is one admitted request, as Admit handed it out.
type ticket struct {
	sent    time.Time
	seq     uint64  // c.seq after this admission
	charged float64 // c.charged after this admission
	charge  float64 // tokens charged
	epoch   int     // search window it was sent in; -1 before the window filled its concurrency
	probe   bool    // sent as the breaker's probe
}

// Admit waits until one more request fits: no hold from the server, the breaker lets it through,
// and the request and token buckets hold one request and its tokens (prompt tokens + max_tokens,
// as OpenAI counts them at admission). Waiting requests are admitted in order. It fails only when
// ctx ends or the Control gave up.
func (c *Control) Admit(ctx context.Context, promptTokens, maxTokens int) (*ticket, error) {
	c.mu.Lock()
	me := &waiter{turn: make(chan struct{})}
	c.queue = append(c.queue, me)
	if len(c.queue) == 1 {
		close(me.turn)
	}
	var t *ticket
	for t == nil {
		var wait time.Duration
		var wake <-chan struct{}
		now := c.Now()
		switch {
		case c.breaker.gaveUp != "":
			c.leave(me)
			c.mu.Unlock()
			return nil, fmt.Errorf("%w: %s", ErrOutage, c.breaker.gaveUp)
		case c.queue[0] != me:
			wake = me.turn
		case now.Before(c.holdUntil):
			wait, wake = c.holdUntil.Sub(now), c.kick
		default:
			probe, bw := c.breaker.admit(now)
			if bw > 0 {
				wait, wake = bw, c.kick
				break
			}
			charge := float64(promptTokens + maxTokens)
			if maxTokens <= 0 {
				charge = float64(promptTokens) + c.avgOut
			}
			if charge > c.maxCharge {
				c.maxCharge = charge
				c.setRates(now)
			}
			if wait = max(c.req.wait(now, 1), c.tok.wait(now, charge)); wait > 0 {
				if probe {
					c.breaker.probing = false
				}
				wake = c.kick
				break
			}
			c.req.take(now, 1)
			c.tok.take(now, charge)
			c.seq++
			c.charged += charge
			t = &ticket{sent: now, seq: c.seq, charged: c.charged, charge: charge, probe: probe}
			c.leave(me)
			c.onWire[t.seq] = now
			c.search.wire(now, len(c.onWire))
			t.epoch = c.search.window()
			continue
		}
		c.mu.Unlock()
		var timer *time.Timer
		var fire <-chan time.Time
		if wait > 0 {
			timer = time.NewTimer(wait)
			fire = timer.C
		}
		select {
		case <-fire:
		case <-wake:
		case <-ctx.Done():
			c.mu.Lock()
			c.leave(me)
			c.mu.Unlock()
			return nil, ctx.Err()
		}
		if timer != nil {
			timer.Stop()
		}
		c.mu.Lock()
	}
	c.mu.Unlock()
	return t, nil
}

// waiter is a request waiting for admission; turn is closed when it heads the queue.
type waiter struct{ turn chan struct{} }

// leave takes w out of the queue and hands the turn on; c.mu is held.
func (c *Control) leave(w *waiter) {
	for i, q := range c.queue {
		if q == w {
			c.queue = append(c.queue[:i], c.queue[i+1:]...)
			if i == 0 && len(c.queue) > 0 {
				close(c.queue[0].turn)
			}
			return
		}
	}
}

// poke wakes the head of the queue: the buckets, a hold or the breaker changed; c.mu is held.
func (c *Control) poke() {
	close(c.kick)
	c.kick = make(chan struct{})
}

// answer is what became of one admitted request.
type answer struct {
	outcome    Outcome
	latency    time.Duration
	tokens     int // prompt + completion tokens the answer used; 0 when unknown
	completion int
	header     http.Header
}

// Outcome is what one request came to.
type Outcome int

// Request outcomes.
const (
	Succeeded   Outcome = iota
	RateLimited         // 429: a pacing signal, not a failure
	Failed              // 5xx, timeout, reset: counts towards the breaker
	ignored             // cancelled, or refused for a reason pacing has nothing to learn from
)

// Done records what became of an admitted request: it corrects the tokens charged, learns limits and
// remaining counts from the headers, honours a 429's hint, and adapts concurrency.
func (c *Control) Done(t *ticket, a answer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.Now()
	delete(c.onWire, t.seq)
	c.search.wire(now, len(c.onWire))
	if a.outcome == ignored {
		c.tok.give(now, t.charge)
		c.charged -= t.charge
		if t.probe {
			c.breaker.probing = false
		}
		c.poke()
		return
	}
	c.requests++
	c.recent[c.recentN%len(c.recent)] = a.outcome == RateLimited
	c.recentN++

	// the server charged what the answer used, or nothing for a refused request
	used := float64(a.tokens)
	if a.outcome != Succeeded {
		used = 0
	} else if a.tokens > 0 {
		c.avgTokens = ewma(c.avgTokens, used, 0.1)
		c.avgOut = ewma(c.avgOut, float64(a.completion), 0.1)
	} else {
		used = t.charge
	}
	if diff := t.charge - used; diff > 0 {
		c.tok.give(now, diff)
		c.charged -= diff
	} else if diff < 0 {
		c.tok.take(now, -diff)
		c.charged -= diff
	}
	c.learn(a.header, t, now)

	switch a.outcome {
	case Succeeded:
		c.lat.add(a.latency.Seconds())
		c.factor = min(1, c.factor+0.02)
		c.search.sample(t.epoch, a.latency.Seconds(), now, c.cfg.Max)
	case RateLimited:
		c.rateLimited++
		hint, what := retryHint(a.header, now)
		if hint <= 0 {
			hint = time.Second
		}
		c.holdFor(now, hint, what)
		if c.rateKnown() {
			c.factor = max(0.25, c.factor*0.9)
			c.setRates(now)
		} else {
			c.search.backOff()
		}
	}
	c.breaker.record(t.probe, a.outcome, now, c.cfg.MaxOutage)
	c.retarget()
	c.poke()
}

// holdFor stops every request for the server's hint, capped at HintCap; the progress line shows the
// full hint.
func (c *Control) holdFor(now time.Time, hint time.Duration, what string) {
	until := now.Add(min(hint, c.cfg.HintCap))
	if until.After(c.holdUntil) {
		c.holdUntil = until
	}
	if shown := now.Add(hint); shown.After(c.holdShown) || now.After(c.holdShown) {
		c.holdShown, c.holdWhat = shown, what
	}
}

// learn takes the limits an answer's headers advertise and keeps the buckets within what the server
// says remains. The server counted its remaining when it admitted the request: since then the
// bucket refilled for the time the answer took, and we sent c.seq - t.seq requests more.
func (c *Control) learn(h http.Header, t *ticket, now time.Time) {
	if h == nil {
		return
	}
	l := parseServerLimits(h, now)
	if (l.RPM > 0 && l.RPM != c.learnt.RPM) || (l.TPM > 0 && l.TPM != c.learnt.TPM) {
		if l.RPM > 0 {
			c.learnt.RPM = l.RPM
		}
		if l.TPM > 0 {
			c.learnt.TPM = l.TPM
		}
		c.setRates(now)
	}
	since := now.Sub(t.sent).Seconds()
	if l.HasRemainingReq && c.learnt.RPM > 0 && c.req.limited() {
		left := l.RemainingReq + c.learnt.RPM/60*since - float64(c.seq-t.seq)
		c.req.lower(now, left*c.shareServer)
	}
	if l.HasRemainingTok && c.learnt.TPM > 0 && c.tok.limited() {
		left := l.RemainingTok + c.learnt.TPM/60*since - (c.charged - t.charged)
		c.tok.lower(now, left*c.shareServer)
	}
}

// inForce returns the limits this worker paces at: the lower of the given and the learnt, each
// times its share, times the backoff of unforeseen 429s.
func (c *Control) inForce() Limits {
	pick := func(given, learnt float64) float64 {
		g, l := given*c.shareRun, learnt*c.shareServer
		switch {
		case given > 0 && learnt > 0:
			return min(g, l) * c.factor
		case given > 0:
			return g * c.factor
		case learnt > 0:
			return l * c.factor
		}
		return 0
	}
	return Limits{RPM: pick(c.given.RPM, c.learnt.RPM), TPM: pick(c.given.TPM, c.learnt.TPM)}
}

func (c *Control) rateKnown() bool {
	l := c.inForce()
	return l.RPM > 0 || l.TPM > 0
}

// setRates sets the buckets to the limits in force, each holding a second's worth, as providers
// enforce a minute's limit at least per second (and the token bucket at least the largest request).
func (c *Control) setRates(now time.Time) {
	l := c.inForce()
	c.req.set(now, l.RPM/60, max(1, l.RPM/60))
	c.tok.set(now, l.TPM/60, max(l.TPM/60, c.maxCharge))
}

// requestRate is the rate, in requests per second, that the limits in force allow; +Inf when none
// is known.
func (c *Control) requestRate() float64 {
	l := c.inForce()
	r := math.Inf(1)
	if l.RPM > 0 {
		r = l.RPM / 60
	}
	if l.TPM > 0 {
		per := c.avgTokens
		if per <= 0 {
			per = c.maxCharge
		}
		if per > 0 {
			r = min(r, l.TPM/60/per)
		}
	}
	return r
}

// retarget recomputes the concurrency target.
func (c *Control) retarget() {
	old := int(c.limit)
	switch {
	case c.cfg.Fixed > 0:
		c.limit = float64(c.cfg.Fixed)
	case c.rateKnown() && !math.IsInf(c.requestRate(), 1):
		// Little's law: requests in flight = rate × latency; the headroom covers latency above the
		// 90th percentile and the time a slot spends between its requests
		l := max(c.lat.p90(), c.ageFloor)
		if l <= 0 {
			l = 1
		}
		c.limit = math.Ceil(c.requestRate()*l*1.25) + 2
	default:
		c.limit = c.search.limit
	}
	c.limit = clamp(math.Floor(c.limit), 1, float64(c.cfg.Max))
	if int(c.limit) != old {
		close(c.changed)
		c.changed = make(chan struct{})
	}
}

// Pace is a snapshot of a Control, for progress lines and run summaries.
type Pace struct {
	Concurrency int     `json:"concurrency"`
	InFlight    int     `json:"requests_in_flight"`
	Waiting     int     `json:"requests_waiting"`
	RPM         float64 `json:"rpm_limit"` // the request limit this worker paces at; 0 = none known
	TPM         float64 `json:"tpm_limit"`
	LimitSource string  `json:"limit_source"` // flags, headers, flags+headers, or none
	Share       float64 `json:"share"`        // this worker's share of the limits
	Answers     int     `json:"answers"`      // HTTP answers received, any status
	RateLimited int     `json:"rate_limited"` // of which 429
	Recent429   float64 `json:"recent_429_share"`
	LatencyP90  float64 `json:"latency_p90_s"`
	WaitingFor  string  `json:"waiting_for,omitempty"` // e.g. "the token limit until 14:32:05"
	Outage      string  `json:"outage,omitempty"`
}

// Snapshot returns the Control's state now.
func (c *Control) Snapshot() Pace {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.Now()
	l := c.inForce()
	p := Pace{
		Concurrency: int(c.limit), InFlight: len(c.onWire), Waiting: len(c.queue), RPM: l.RPM, TPM: l.TPM,
		Answers: c.requests, RateLimited: c.rateLimited, LatencyP90: c.lat.p90(), Outage: c.breaker.gaveUp,
	}
	given, learnt := c.given.RPM > 0 || c.given.TPM > 0, c.learnt.RPM > 0 || c.learnt.TPM > 0
	switch {
	case given && learnt:
		p.LimitSource, p.Share = "flags+headers", min(c.shareRun, c.shareServer)
	case given:
		p.LimitSource, p.Share = "flags", c.shareRun
	case learnt:
		p.LimitSource, p.Share = "headers", c.shareServer
	default:
		p.LimitSource, p.Share = "none", 1
	}
	n := min(c.recentN, len(c.recent))
	if n > 0 {
		k := 0
		for i := 0; i < n; i++ {
			if c.recent[i] {
				k++
			}
		}
		p.Recent429 = float64(k) / float64(n)
	}
	if c.holdShown.Sub(now) > 2*time.Second {
		p.WaitingFor = fmt.Sprintf("the %s until %s", c.holdWhat, c.holdShown.Local().Format("15:04:05"))
	}
	if c.breaker.tripped && c.breaker.gaveUp == "" {
		p.WaitingFor = fmt.Sprintf("the API to recover (probing since %s)", c.breaker.since.Local().Format("15:04:05"))
	}
	return p
}

// latencies keeps the last answers' latencies, in seconds.
type latencies struct {
	v [128]float64
	n int
}

func (l *latencies) add(s float64) {
	l.v[l.n%len(l.v)] = s
	l.n++
}

func (l *latencies) p90() float64 {
	n := min(l.n, len(l.v))
	if n == 0 {
		return 0
	}
	s := make([]float64, n)
	copy(s, l.v[:n])
	sort.Float64s(s)
	return s[int(math.Ceil(0.9*float64(n)))-1]
}

// search looks for the concurrency of best throughput of a server that advertises no limit. A window
// opens once the requests out reach the concurrency tried, and gathers the latencies of requests
// sent from then on; throughput is the window's average number of requests out over their mean
// latency (Little's law). Until the requests out reach the concurrency (too little work, or the
// pool still growing) nothing is learnt.
type search struct {
	limit     float64
	slowStart bool
	epoch     int
	open      bool // the window's concurrency was reached

	samples    []float64
	area       float64 // ∫ requests out dt since the window opened
	start      time.Time
	lastChange time.Time
	out        int

	bestX, bestC float64
	medians      [20]float64
	nMedians     int
}

// wire notes a change of the number of requests out, for the window's time average.
func (s *search) wire(now time.Time, out int) {
	if s.open && !s.lastChange.IsZero() {
		s.area += float64(s.out) * now.Sub(s.lastChange).Seconds()
	}
	s.lastChange, s.out = now, out
	if !s.open && float64(out) >= math.Ceil(0.9*s.limit) {
		s.open, s.start, s.area = true, now, 0
	}
}

// window is the epoch a request sent now belongs to: -1 while the window is not open.
func (s *search) window() int {
	if !s.open {
		return -1
	}
	return s.epoch
}

func (s *search) sample(epoch int, latency float64, now time.Time, maxLimit int) {
	if epoch != s.epoch || !s.open {
		return
	}
	s.samples = append(s.samples, latency)
	if len(s.samples) < max(8, int(s.limit)) {
		return
	}
	s.wire(now, s.out)
	span := now.Sub(s.start).Seconds()
	mean, med := meanMedian(s.samples)
	if span <= 0 || mean <= 0 {
		s.next()
		return
	}
	avgOut := s.area / span
	x := avgOut / mean
	s.medians[s.nMedians%len(s.medians)] = med
	s.nMedians++
	minLat := math.Inf(1)
	for i := 0; i < min(s.nMedians, len(s.medians)); i++ {
		minLat = min(minLat, s.medians[i])
	}
	switch {
	case med > minLat*1.2 && x < s.bestX*1.3:
		// latency grows and throughput hardly does: requests queue at the server; back to just
		// above the best concurrency seen
		s.slowStart = false
		s.limit = max(1, math.Ceil(s.bestC*1.1))
	case x > s.bestX*1.05:
		s.bestX, s.bestC = x, max(avgOut, 1)
		if s.slowStart {
			s.limit *= 2
		} else {
			s.limit += max(1, s.limit*0.1)
		}
	default:
		s.limit += max(1, math.Sqrt(s.limit))
	}
	s.limit = min(s.limit, float64(maxLimit))
	s.bestX *= 0.99 // old bests fade: servers and prompts change
	s.next()
}

// backOff answers a 429 from a server that advertises no limit.
func (s *search) backOff() {
	s.slowStart = false
	s.limit = max(1, math.Floor(s.limit*0.75))
	s.next()
}

// next starts a new window at the current limit.
func (s *search) next() {
	s.epoch++
	s.samples = s.samples[:0]
	s.open = false
	s.wire(s.lastChange, s.out)
}

// breaker pauses requests when most fail, and probes the API one request at a time until it answers.
type breaker struct {
	window [50]bool // true = failed
	n      int
	next   int
	fails  int

	tripped bool
	since   time.Time
	probeAt time.Time
	backoff time.Duration
	probing bool
	gaveUp  string
}

func (b *breaker) admit(now time.Time) (probe bool, wait time.Duration) {
	if !b.tripped {
		return false, 0
	}
	if b.probing {
		return false, time.Second // one probe at a time; look again soon
	}
	if now.Before(b.probeAt) {
		return false, b.probeAt.Sub(now)
	}
	b.probing = true
	return true, 0
}

func (b *breaker) record(probe bool, o Outcome, now time.Time, maxOutage time.Duration) {
	if o == RateLimited {
		return // pacing, not failure
	}
	failed := o == Failed
	if b.tripped {
		if !probe {
			return
		}
		b.probing = false
		if !failed {
			*b = breaker{}
			return
		}
		b.backoff = min(2*b.backoff, 2*time.Minute)
		b.probeAt = now.Add(b.backoff)
		b.check(now, maxOutage)
		return
	}
	if b.n == len(b.window) && b.window[b.next] {
		b.fails--
	}
	b.window[b.next] = failed
	if failed {
		b.fails++
	}
	b.next = (b.next + 1) % len(b.window)
	if b.n < len(b.window) {
		b.n++
	}
	if b.n >= 10 && b.fails*2 > b.n {
		b.tripped, b.since, b.backoff = true, now, 2*time.Second
		b.probeAt = now.Add(b.backoff)
	}
}

func (b *breaker) check(now time.Time, maxOutage time.Duration) {
	if b.tripped && b.gaveUp == "" && now.Sub(b.since) >= maxOutage {
		b.gaveUp = fmt.Sprintf("more than half of the requests failed, and probes kept failing for %s", maxOutage.Round(time.Second))
	}
}

func meanMedian(v []float64) (float64, float64) {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	sum := 0.0
	for _, x := range s {
		sum += x
	}
	return sum / float64(len(s)), s[len(s)/2]
}

func ewma(old, v, alpha float64) float64 {
	if old <= 0 {
		return v
	}
	return old + alpha*(v-old)
}

func clamp(v, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, v)) }
