package vectors

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	openai "github.com/sashabaranov/go-openai"
)

// MaxOpenAIBatch is the most inputs one /v1/embeddings request may carry.
const MaxOpenAIBatch = 2048

// maxBatchChars keeps one request well under the API's per-request token limit
// (300k tokens) even for texts of about 2 characters per token.
const maxBatchChars = 500_000

// OpenAIConfig configures an OpenAI-compatible embeddings endpoint.
type OpenAIConfig struct {
	BaseURL    string       // e.g. https://api.openai.com/v1; empty means go-openai's default
	APIKey     string       // sent as a bearer token; never logged
	Model      string       // e.g. text-embedding-3-small
	HTTPClient *http.Client // nil means a client with a 2-minute timeout
	BatchSize  int          // inputs per request; 0 or more than MaxOpenAIBatch means MaxOpenAIBatch
}

// OpenAIEmbedder embeds texts through an OpenAI-compatible /v1/embeddings
// endpoint with go-openai's CreateEmbeddings. Requests are batched; 429 and 5xx
// answers and transport errors are retried with exponential backoff and full
// jitter, honouring Retry-After. It is safe for concurrent use.
type OpenAIEmbedder struct {
	// MaxRetries is how many times one request is retried (default 6).
	MaxRetries int
	// BaseDelay and MaxDelay bound the backoff: before retry n the wait is
	// uniform in [0, min(MaxDelay, BaseDelay*2^n)), or Retry-After when the
	// server sent one (capped at MaxWait).
	BaseDelay, MaxDelay, MaxWait time.Duration
	// Sleep waits for d or until ctx is done; tests replace it.
	Sleep func(ctx context.Context, d time.Duration) error

	cfg    OpenAIConfig
	client *openai.Client
	dim    atomic.Int64
}

// NewOpenAI returns an embedder for cfg.Model at cfg.BaseURL. It does not
// contact the server.
func NewOpenAI(cfg OpenAIConfig) *OpenAIEmbedder {
	if cfg.BatchSize <= 0 || cfg.BatchSize > MaxOpenAIBatch {
		cfg.BatchSize = MaxOpenAIBatch
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 2 * time.Minute}
	}
	// Wrap the transport to read Retry-After, which go-openai's errors drop.
	wrapped := *hc
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	wrapped.Transport = retryAfterTransport{base: base}
	oc := openai.DefaultConfig(cfg.APIKey)
	if cfg.BaseURL != "" {
		oc.BaseURL = cfg.BaseURL
	}
	oc.HTTPClient = &wrapped
	e := &OpenAIEmbedder{
		MaxRetries: 6,
		BaseDelay:  500 * time.Millisecond,
		MaxDelay:   30 * time.Second,
		MaxWait:    2 * time.Minute,
		Sleep:      sleepCtx,
		cfg:        cfg,
		client:     openai.NewClientWithConfig(oc),
	}
	switch cfg.Model {
	case "text-embedding-3-small", "text-embedding-ada-002":
		e.dim.Store(1536)
	case "text-embedding-3-large":
		e.dim.Store(3072)
	}
	return e
}

// ID returns "openai:" followed by the model name.
func (e *OpenAIEmbedder) ID() string { return "openai:" + e.cfg.Model }

// Dim returns the vector dimension: known for OpenAI's own models, otherwise 0
// until the first successful Embed.
func (e *OpenAIEmbedder) Dim() int { return int(e.dim.Load()) }

// Embed returns one vector per text, in order. An empty texts slice makes no
// request.
func (e *OpenAIEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, 0, len(texts))
	for start := 0; start < len(texts); {
		end, chars := start, 0
		for end < len(texts) && end-start < e.cfg.BatchSize && (end == start || chars+len(texts[end]) <= maxBatchChars) {
			chars += len(texts[end])
			end++
		}
		vecs, err := e.embedBatch(ctx, texts[start:end])
		if err != nil {
			return nil, fmt.Errorf("embed texts %d-%d of %d with %s: %w", start, end-1, len(texts), e.ID(), err)
		}
		out = append(out, vecs...)
		start = end
	}
	return out, nil
}

func (e *OpenAIEmbedder) embedBatch(ctx context.Context, batch []string) ([][]float32, error) {
	for attempt := 0; ; attempt++ {
		var hint retryHint
		rctx := context.WithValue(ctx, retryHintKey{}, &hint)
		resp, err := e.client.CreateEmbeddings(rctx, openai.EmbeddingRequestStrings{
			Input: batch,
			Model: openai.EmbeddingModel(e.cfg.Model),
		})
		if err == nil {
			return e.collect(resp, len(batch))
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		status, retryable := classify(err)
		if !retryable {
			return nil, describe(status, err)
		}
		if attempt >= e.MaxRetries {
			return nil, fmt.Errorf("giving up after %d attempts: %w", attempt+1, describe(status, err))
		}
		wait := e.backoff(attempt)
		if hint.after > 0 {
			wait = min(hint.after, e.MaxWait)
		}
		if err := e.Sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

func (e *OpenAIEmbedder) collect(resp openai.EmbeddingResponse, n int) ([][]float32, error) {
	if len(resp.Data) != n {
		return nil, fmt.Errorf("server returned %d embeddings for %d inputs", len(resp.Data), n)
	}
	out := make([][]float32, n)
	for _, d := range resp.Data {
		if d.Index < 0 || d.Index >= n || out[d.Index] != nil {
			return nil, fmt.Errorf("server returned embedding index %d for %d inputs", d.Index, n)
		}
		if len(d.Embedding) == 0 {
			return nil, fmt.Errorf("server returned an empty embedding for input %d", d.Index)
		}
		out[d.Index] = d.Embedding
	}
	dim := len(out[0])
	for i, v := range out {
		if len(v) != dim {
			return nil, fmt.Errorf("server returned embeddings of %d and %d dimensions (inputs 0 and %d)", dim, len(v), i)
		}
	}
	if known := e.dim.Load(); known == 0 {
		e.dim.CompareAndSwap(0, int64(dim))
	} else if int(known) != dim {
		return nil, fmt.Errorf("server returned %d-dimensional embeddings, expected %d for %s", dim, known, e.cfg.Model)
	}
	return out, nil
}

func (e *OpenAIEmbedder) backoff(attempt int) time.Duration {
	ceil := e.BaseDelay << min(attempt, 30)
	if ceil <= 0 || ceil > e.MaxDelay {
		ceil = e.MaxDelay
	}
	if ceil <= 0 {
		return 0
	}
	return rand.N(ceil)
}

// classify returns the HTTP status of err (0 for transport errors) and whether
// the request is worth retrying.
func classify(err error) (int, bool) {
	var apiErr *openai.APIError
	if errors.As(err, &apiErr) {
		return apiErr.HTTPStatusCode, retryableStatus(apiErr.HTTPStatusCode)
	}
	var reqErr *openai.RequestError
	if errors.As(err, &reqErr) && reqErr.HTTPStatusCode != 0 {
		return reqErr.HTTPStatusCode, retryableStatus(reqErr.HTTPStatusCode)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return 0, false
	}
	// Connection refused, reset, timeouts: worth another try.
	return 0, true
}

func retryableStatus(code int) bool {
	return code == http.StatusTooManyRequests || code == http.StatusRequestTimeout || code >= 500
}

func describe(status int, err error) error {
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden:
		return fmt.Errorf("%w (check the embeddings API key)", err)
	case http.StatusNotFound:
		return fmt.Errorf("%w (check the embeddings base URL and model name)", err)
	}
	return err
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

type retryHintKey struct{}

type retryHint struct{ after time.Duration }

// retryAfterTransport records the Retry-After of a response into the
// retryHint carried by the request context.
type retryAfterTransport struct{ base http.RoundTripper }

func (t retryAfterTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil || resp.StatusCode < 400 {
		return resp, err
	}
	if hint, ok := req.Context().Value(retryHintKey{}).(*retryHint); ok {
		hint.after = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	return resp, err
}

// parseRetryAfter reads delay-seconds or an HTTP date; 0 when absent or invalid.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
