package generator

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Control paces requests and sizes concurrency: token buckets for requests and tokens per minute,
// an adaptive concurrency limit (×0.75 on a 429, +1 after a streak of successes, between 1 and Max),
// and a window of the last 50 request outcomes that trips when more than half failed.
type Control struct {
	rpm *rate.Limiter
	tpm *rate.Limiter

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced whenever inflight or limit changes
	limit    float64
	max      int
	inflight int
	streak   int

	window [50]bool // true = failed
	n      int      // outcomes recorded (saturates at len(window))
	next   int
	fails  int
}

// NewControl returns a Control starting at concurrency start, growing to at most max; rpm and tpm of 0
// mean unlimited.
func NewControl(start, max int, rpm, tpm float64) *Control {
	if max < 1 {
		max = 1
	}
	if start < 1 {
		start = 1
	}
	if start > max {
		start = max
	}
	c := &Control{limit: float64(start), max: max, changed: make(chan struct{})}
	if rpm > 0 {
		c.rpm = rate.NewLimiter(rate.Limit(rpm/60), 1)
	}
	if tpm > 0 {
		// a bucket of one minute's worth lets a large request through while holding the average
		c.tpm = rate.NewLimiter(rate.Limit(tpm/60), int(tpm))
	}
	return c
}

// Limit returns the current concurrency limit.
func (c *Control) Limit() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return int(c.limit)
}

func (c *Control) broadcast() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// Max returns the upper bound of the concurrency limit.
func (c *Control) Max() int { return c.max }

// Acquire waits for a concurrency slot; it fails only when ctx ends.
func (c *Control) Acquire(ctx context.Context) error {
	for {
		c.mu.Lock()
		if c.inflight < int(c.limit) {
			c.inflight++
			c.mu.Unlock()
			return nil
		}
		ch := c.changed
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Release returns a concurrency slot taken by Acquire.
func (c *Control) Release() {
	c.mu.Lock()
	c.inflight--
	c.broadcast()
	c.mu.Unlock()
}

// Wait blocks until one more request, estimated at tokens tokens, fits the rate limits.
func (c *Control) Wait(ctx context.Context, tokens int) error {
	if c.rpm != nil {
		if err := c.rpm.Wait(ctx); err != nil {
			return err
		}
	}
	if c.tpm != nil && tokens > 0 {
		if tokens > c.tpm.Burst() {
			tokens = c.tpm.Burst()
		}
		if err := c.tpm.WaitN(ctx, tokens); err != nil {
			return err
		}
	}
	return nil
}

// Charge books tokens used beyond an estimate, so the next requests wait for them.
func (c *Control) Charge(extra int) {
	if c.tpm != nil && extra > 0 {
		c.tpm.ReserveN(time.Now(), min(extra, c.tpm.Burst()))
	}
}

// Outcome is what one request came to.
type Outcome int

// Request outcomes.
const (
	Succeeded Outcome = iota
	RateLimited
	Failed
)

// Observe records one request's outcome and adapts the concurrency limit.
func (c *Control) Observe(o Outcome) {
	c.mu.Lock()
	defer c.mu.Unlock()
	failed := o != Succeeded
	if c.n == len(c.window) && c.window[c.next] {
		c.fails--
	}
	c.window[c.next] = failed
	if failed {
		c.fails++
	}
	c.next = (c.next + 1) % len(c.window)
	if c.n < len(c.window) {
		c.n++
	}
	switch o {
	case RateLimited:
		c.limit = max(1, c.limit*0.75)
		c.streak = 0
	case Failed:
		c.streak = 0
	case Succeeded:
		c.streak++
		if c.streak >= max(4, int(c.limit)) && int(c.limit) < c.max {
			c.limit = float64(int(c.limit) + 1)
			c.streak = 0
		}
	}
	c.broadcast()
}

// Tripped reports whether more than half of the last 50 requests failed (after at least 10 requests),
// the point at which a run pauses instead of burning its budget.
func (c *Control) Tripped() (bool, int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n >= 10 && c.fails*2 > c.n, c.fails, c.n
}
