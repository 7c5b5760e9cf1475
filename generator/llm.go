package generator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rs/zerolog"
	openai "github.com/sashabaranov/go-openai"

	"github.com/correctly/correctly/corpus"
)

// LLM calls an OpenAI-compatible chat API (OpenAI, vLLM, Ollama, llama.cpp) through go-openai, with
// retries, backoff honouring Retry-After and x-ratelimit-reset-*, and the pacing of a Control.
type LLM struct {
	Client  *openai.Client
	Control *Control
	Backoff Backoff
	Log     zerolog.Logger
	// Sleep waits d or until ctx ends; tests replace it.
	Sleep func(ctx context.Context, d time.Duration) error
}

// LLMConfig says where the API is.
type LLMConfig struct {
	BaseURL    string // empty = https://api.openai.com/v1
	APIKey     string
	HTTPClient *http.Client
}

// NewLLM returns an LLM client. The HTTP transport records each response's headers, which go-openai
// hides on errors, so that 429s can honour Retry-After.
func NewLLM(cfg LLMConfig, control *Control, log zerolog.Logger) *LLM {
	oc := openai.DefaultConfig(cfg.APIKey)
	if cfg.BaseURL != "" {
		oc.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 5 * time.Minute}
	}
	base := hc.Transport
	if base == nil {
		// the default keeps 2 idle connections per host: with more requests in flight, every other
		// request would pay a new TCP and TLS handshake
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConns, t.MaxIdleConnsPerHost = 256, 256
		base = t
	}
	wrapped := *hc
	wrapped.Transport = headerCapture{base}
	oc.HTTPClient = &wrapped
	return &LLM{
		Client:  openai.NewClientWithConfig(oc),
		Control: control,
		Backoff: Backoff{Base: 500 * time.Millisecond, Cap: 30 * time.Second, Retries: 8},
		Log:     log,
		Sleep:   sleepCtx,
	}
}

// Backoff is exponential backoff with full jitter.
type Backoff struct {
	Base, Cap time.Duration
	Retries   int // attempts after the first
}

// Delay returns the wait before retry number attempt (0-based): uniform in [0, min(Cap, Base·2^attempt)],
// but never shorter than the server's hint.
func (b Backoff) Delay(attempt int, hint time.Duration) time.Duration {
	ceil := b.Cap
	if attempt < 30 {
		if d := b.Base << attempt; d > 0 && d < ceil {
			ceil = d
		}
	}
	d := time.Duration(rand.Int64N(int64(ceil) + 1))
	return max(d, hint)
}

// ChatRequest is one chat completion to ask for.
type ChatRequest struct {
	Model       string
	System      string
	User        string
	Temperature *float64
	TopP        *float64
	MaxTokens   int
	Seed        *int
	// JSONSchema, when set, asks for structured output (strict json_schema) named SchemaName.
	JSONSchema map[string]any
	SchemaName string
	JSONObject bool // json_object mode for servers without json_schema
}

// ChatResult is one answer.
type ChatResult struct {
	Content  string
	Model    string
	Usage    corpus.Usage
	Latency  time.Duration
	Requests int // HTTP requests made, retries included
}

// FatalError is an API error that retrying cannot fix (bad key, unknown model, bad request): the run
// stops at once and stays resumable.
type FatalError struct {
	Status int
	Msg    string
}

func (e *FatalError) Error() string {
	hint := ""
	switch e.Status {
	case http.StatusUnauthorized:
		hint = ": check OPENAI_API_KEY"
	case http.StatusForbidden:
		hint = ": the key has no access to this model or project"
	case http.StatusNotFound:
		hint = ": check the model name (CORRECTLY_MODEL or the schema's params.model) and OPENAI_BASE_URL"
	case http.StatusBadRequest:
		hint = ": the server rejected the request; if it lacks json_schema support set `json_mode: object` on the step's output"
	}
	return fmt.Sprintf("LLM API answered %d: %s%s", e.Status, e.Msg, hint)
}

// TransientError is a retryable failure that outlasted every retry.
type TransientError struct{ Err error }

func (e *TransientError) Error() string { return "LLM API kept failing: " + e.Err.Error() }
func (e *TransientError) Unwrap() error { return e.Err }

// EstimateTokens guesses a text's token count without a tokenizer: about four ASCII characters per
// token, one token per other character (Hangul, for instance).
func EstimateTokens(s string) int {
	ascii, other := 0, 0
	for _, r := range s {
		if r < utf8.RuneSelf {
			ascii++
		} else {
			other++
		}
	}
	return ascii/4 + other + 4
}

// Chat asks for one completion, retrying 429s, 5xx, timeouts and resets.
func (l *LLM) Chat(ctx context.Context, req ChatRequest) (ChatResult, error) {
	msgs := []openai.ChatCompletionMessage{}
	if req.System != "" {
		msgs = append(msgs, openai.ChatCompletionMessage{Role: openai.ChatMessageRoleSystem, Content: req.System})
	}
	msgs = append(msgs, openai.ChatCompletionMessage{Role: openai.ChatMessageRoleUser, Content: req.User})
	creq := openai.ChatCompletionRequest{Model: req.Model, Messages: msgs, MaxTokens: req.MaxTokens, Seed: req.Seed}
	if req.Temperature != nil {
		creq.Temperature = float32(*req.Temperature)
	}
	if req.TopP != nil {
		creq.TopP = float32(*req.TopP)
	}
	switch {
	case req.JSONSchema != nil:
		raw, err := json.Marshal(req.JSONSchema)
		if err != nil {
			return ChatResult{}, fmt.Errorf("encode JSON schema: %w", err)
		}
		name := req.SchemaName
		if name == "" {
			name = "answer"
		}
		creq.ResponseFormat = &openai.ChatCompletionResponseFormat{
			Type:       openai.ChatCompletionResponseFormatTypeJSONSchema,
			JSONSchema: &openai.ChatCompletionResponseFormatJSONSchema{Name: name, Schema: json.RawMessage(raw), Strict: true},
		}
	case req.JSONObject:
		creq.ResponseFormat = &openai.ChatCompletionResponseFormat{Type: openai.ChatCompletionResponseFormatTypeJSONObject}
	}
	estimate := EstimateTokens(req.System) + EstimateTokens(req.User) + max(req.MaxTokens/2, 64)

	var res ChatResult
	var lastErr error
	for attempt := 0; ; attempt++ {
		if err := l.Control.Wait(ctx, estimate); err != nil {
			return res, err
		}
		var cap capture
		start := time.Now()
		resp, err := l.Client.CreateChatCompletion(withCapture(ctx, &cap), creq)
		res.Requests++
		if err == nil {
			if len(resp.Choices) == 0 {
				err = errors.New("answer has no choices")
			} else {
				l.Control.Observe(Succeeded)
				res.Content = resp.Choices[0].Message.Content
				res.Model = resp.Model
				res.Usage = corpus.Usage{PromptTokens: resp.Usage.PromptTokens, CompletionTokens: resp.Usage.CompletionTokens}
				res.Latency = time.Since(start)
				l.Control.Charge(resp.Usage.TotalTokens - estimate)
				return res, nil
			}
		}
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		status := cap.status
		var apiErr *openai.APIError
		var reqErr *openai.RequestError
		switch {
		case errors.As(err, &apiErr):
			status = apiErr.HTTPStatusCode
		case errors.As(err, &reqErr):
			status = reqErr.HTTPStatusCode
		}
		if isFatal(status) {
			l.Control.Observe(Failed)
			return res, &FatalError{Status: status, Msg: apiMessage(err)}
		}
		if status == http.StatusTooManyRequests {
			l.Control.Observe(RateLimited)
		} else {
			l.Control.Observe(Failed)
		}
		lastErr = err
		if attempt >= l.Backoff.Retries {
			return res, &TransientError{Err: lastErr}
		}
		wait := l.Backoff.Delay(attempt, retryHint(cap.header))
		l.Log.Debug().Int("status", status).Err(err).Dur("wait", wait).Int("attempt", attempt+1).Msg("retrying LLM request")
		if err := l.Sleep(ctx, wait); err != nil {
			return res, err
		}
	}
}

func isFatal(status int) bool {
	switch status {
	case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound:
		return true
	}
	return false
}

func apiMessage(err error) string {
	var apiErr *openai.APIError
	if errors.As(err, &apiErr) && apiErr.Message != "" {
		return apiErr.Message
	}
	return err.Error()
}

// retryHint reads how long the server asks us to wait: Retry-After (seconds or an HTTP date), or the
// longest of x-ratelimit-reset-requests and x-ratelimit-reset-tokens ("1s", "6m0s", "20ms").
func retryHint(h http.Header) time.Duration {
	if h == nil {
		return 0
	}
	if v := h.Get("Retry-After-Ms"); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	if v := h.Get("Retry-After"); v != "" {
		if s, err := strconv.ParseFloat(v, 64); err == nil {
			return time.Duration(s * float64(time.Second))
		}
		if t, err := http.ParseTime(v); err == nil {
			return max(0, time.Until(t))
		}
	}
	var d time.Duration
	for _, k := range []string{"X-Ratelimit-Reset-Requests", "X-Ratelimit-Reset-Tokens"} {
		if v := h.Get(k); v != "" {
			if x, err := time.ParseDuration(v); err == nil && x > d {
				d = x
			}
		}
	}
	return d
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// capture holds the status and headers of the last HTTP response of one request.
type capture struct {
	status int
	header http.Header
}

type captureKey struct{}

func withCapture(ctx context.Context, c *capture) context.Context {
	return context.WithValue(ctx, captureKey{}, c)
}

// headerCapture is an http.RoundTripper that records response headers into the request's capture.
type headerCapture struct{ base http.RoundTripper }

func (h headerCapture) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := h.base.RoundTrip(r)
	if c, ok := r.Context().Value(captureKey{}).(*capture); ok {
		if resp != nil {
			c.status, c.header = resp.StatusCode, resp.Header.Clone()
		} else {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				c.status = 0
			}
		}
	}
	return resp, err
}
