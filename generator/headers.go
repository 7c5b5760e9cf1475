package generator

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// serverLimits is what one answer's x-ratelimit-* headers say, as OpenAI, Azure OpenAI, Groq,
// Together and OpenRouter send them. Limits are per minute, as OpenAI counts them; a zero field was
// not sent.
type serverLimits struct {
	RPM, TPM                   float64 // x-ratelimit-limit-{requests,tokens}
	RemainingReq, RemainingTok float64 // x-ratelimit-remaining-{requests,tokens}
	HasRemainingReq            bool
	HasRemainingTok            bool
	ResetReq, ResetTok         time.Duration // x-ratelimit-reset-{requests,tokens}: until the bucket is full
}

func parseServerLimits(h http.Header, now time.Time) serverLimits {
	var l serverLimits
	if h == nil {
		return l
	}
	num := func(k string) (float64, bool) {
		v := strings.TrimSpace(h.Get(k))
		if v == "" {
			return 0, false
		}
		f, err := strconv.ParseFloat(v, 64)
		return f, err == nil && f >= 0
	}
	l.RPM, _ = num("X-Ratelimit-Limit-Requests")
	l.TPM, _ = num("X-Ratelimit-Limit-Tokens")
	l.RemainingReq, l.HasRemainingReq = num("X-Ratelimit-Remaining-Requests")
	l.RemainingTok, l.HasRemainingTok = num("X-Ratelimit-Remaining-Tokens")
	l.ResetReq = parseReset(h.Get("X-Ratelimit-Reset-Requests"), now)
	l.ResetTok = parseReset(h.Get("X-Ratelimit-Reset-Tokens"), now)
	return l
}

// parseReset reads a reset hint in any of the forms providers use: a Go-style duration ("1s",
// "6m0s", "20ms", OpenAI and Groq), plain seconds ("0.5", Together), or a Unix time in seconds or
// milliseconds (OpenRouter).
func parseReset(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if d, err := time.ParseDuration(v); err == nil {
		return max(d, 0)
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 {
		return 0
	}
	switch {
	case f > 1e11: // Unix milliseconds
		return max(0, time.UnixMilli(int64(f)).Sub(now))
	case f > 1e9: // Unix seconds
		return max(0, time.Unix(int64(f), 0).Sub(now))
	}
	return time.Duration(f * float64(time.Second))
}

// retryHint reads how long the server asks us to wait before trying again: Retry-After-Ms,
// Retry-After (seconds or an HTTP date), else the reset of the exhausted limit. It also names the
// limit that binds, for the progress line.
func retryHint(h http.Header, now time.Time) (time.Duration, string) {
	if h == nil {
		return 0, ""
	}
	l := parseServerLimits(h, now)
	what := "rate limit"
	switch {
	case l.HasRemainingTok && l.RemainingTok < 1 && l.ResetTok > 0:
		what = "token limit"
	case l.HasRemainingReq && l.RemainingReq < 1 && l.ResetReq > 0:
		what = "request limit"
	}
	if v := h.Get("Retry-After-Ms"); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms >= 0 {
			return time.Duration(ms * float64(time.Millisecond)), what
		}
	}
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 {
			return time.Duration(s * float64(time.Second)), what
		}
		if t, err := http.ParseTime(v); err == nil {
			return max(0, t.Sub(now)), what
		}
	}
	switch what {
	case "token limit":
		return l.ResetTok, what
	case "request limit":
		return l.ResetReq, what
	}
	return max(l.ResetReq, l.ResetTok), what
}
