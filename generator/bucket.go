package generator

import (
	"math"
	"time"
)

// bucket is a token bucket with reservations, like golang.org/x/time/rate's Limiter, plus the two
// things pacing against a provider needs and rate.Limiter lacks: giving tokens back (a request is
// charged its max_tokens at admission, then only what it used) and lowering the level to what the
// server says remains. It is not safe for concurrent use: Control guards it.
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

// reserve takes n tokens now and returns how long the caller must wait before using them: zero when
// the bucket held them, else the time until the refill covers the debt of every earlier reservation.
func (b *bucket) reserve(now time.Time, n float64) time.Duration {
	if !b.limited() || n <= 0 {
		return 0
	}
	b.advance(now)
	b.level -= n
	if b.level >= 0 {
		return 0
	}
	return time.Duration(-b.level / b.rate * float64(time.Second))
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
