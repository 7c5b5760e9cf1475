package generator

import (
	"math"
	"time"
)

// bucket is a token bucket that admits the way a provider's does: a request passes when the bucket
// holds its tokens. Unlike golang.org/x/time/rate's reservations, which queue debts and so keep
// refunds a full bucket would have lost, its level follows the server's own: it can give tokens
// back (a request is charged its max_tokens at admission, then only what it used) and be lowered to
// what the server says remains. It is not safe for concurrent use: Control guards it, and serves
// waiting requests in order.
type bucket struct {
	rate  float64 // tokens per second; 0 means unlimited
	burst float64 // most tokens the bucket holds
	level float64 // may be negative: reservations queue behind each other
	last  time.Time
}

func (b *bucket) limited() bool { return b.rate > 0 }

func (b *bucket) advance(now time.Time) {
	if !b.limited() {
		return
	}
	if b.last.IsZero() {
		b.last, b.level = now, b.burst
		return
	}
	if dt := now.Sub(b.last).Seconds(); dt > 0 {
		b.level = math.Min(b.burst, b.level+dt*b.rate)
		b.last = now
	}
}

// wait returns how long until the bucket holds n tokens, counting on refill alone: zero when it
// holds them now.
func (b *bucket) wait(now time.Time, n float64) time.Duration {
	if !b.limited() || n <= 0 {
		return 0
	}
	b.advance(now)
	if b.level >= n {
		return 0
	}
	return time.Duration((n - b.level) / b.rate * float64(time.Second))
}

// take spends n tokens; the level may go negative (an answer that used more than it was charged).
func (b *bucket) take(now time.Time, n float64) {
	if !b.limited() || n <= 0 {
		return
	}
	b.advance(now)
	b.level -= n
}

// give returns n tokens (a cancelled reservation, or tokens charged and not used).
func (b *bucket) give(now time.Time, n float64) {
	if !b.limited() || n <= 0 {
		return
	}
	b.advance(now)
	b.level = math.Min(b.burst, b.level+n)
}

// lower caps the level at n: the server counts fewer tokens left than we do.
func (b *bucket) lower(now time.Time, n float64) {
	if !b.limited() {
		return
	}
	b.advance(now)
	if n < b.level {
		b.level = n
	}
}

// set changes the rate and burst, keeping the level (within the new burst). A rate of 0 makes the
// bucket unlimited.
func (b *bucket) set(now time.Time, rate, burst float64) {
	if rate == b.rate && burst == b.burst {
		return
	}
	b.advance(now)
	full := !b.limited() || b.level >= b.burst
	b.rate, b.burst = rate, math.Max(burst, 1)
	if !b.limited() {
		b.last = time.Time{}
		return
	}
	if full { // a full bucket stays full as its burst grows
		b.last, b.level = now, b.burst
	}
	b.level = math.Min(b.level, b.burst)
}
