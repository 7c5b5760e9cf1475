package generator

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
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

// Fingerprint names the API and key without revealing the key: workers with the same fingerprint
// share one provider limit.
func (c LLMConfig) Fingerprint() string {
	base := c.BaseURL
	if base == "" {
		base = openai.DefaultConfig("").BaseURL
	}
	sum := sha256.Sum256([]byte(strings.TrimRight(base, "/") + "\n" + c.APIKey))
	return hex.EncodeToString(sum[:8])
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

// FatalError is an API error that retrying cannot fix (bad key, unknown model, bad request, no
// credit left): the run stops at once and stays resumable.
type FatalError struct {
	Status int
	Code   string // the API's error code, e.g. insufficient_quota
	Msg    string
}

func (e *FatalError) Error() string {
	hint := ""
	switch {
	case e.Status == http.StatusTooManyRequests:
		hint = ": the account has no credit left or is over its budget; this is not a rate limit: add credit or raise the project's budget with the provider, then resume the run"
	case e.Status == http.StatusUnauthorized:
		hint = ": check OPENAI_API_KEY"
	case e.Status == http.StatusForbidden:
		hint = ": the key has no access to this model or project"
	case e.Status == http.StatusNotFound:
		hint = ": check the model name (CORRECTLY_MODEL or the schema's params.model) and OPENAI_BASE_URL"
	case e.Status == http.StatusBadRequest:
		hint = ": the server rejected the request; if it lacks json_schema support set `json_mode: object` on the step's output"
	}
	return fmt.Sprintf("LLM API answered %d: %s%s", e.Status, e.Msg, hint)
}

// TransientError is a retryable failure that outlasted every retry.
type TransientError struct{ Err error }

func (e *TransientError) Error() string { return "LLM API kept failing: " + e.Err.Error() }
func (e *TransientError) Unwrap() error { return e.Err }

// OversizedError is an answer larger than any answer of max_tokens can be: it is refused unread (a
// hostile or broken server can stream without end), not stored, and not asked again blindly.
type OversizedError struct {
	Limit     int64
	MaxTokens int
}

func (e *OversizedError) Error() string {
	return fmt.Sprintf("answer larger than %d bytes, far above what max_tokens %d allows: refused and not stored", e.Limit, e.MaxTokens)
}

// answerLimit is the most bytes an answer of maxTokens tokens may take: a token is a few bytes, even
// JSON-escaped Hangul, so 64 bytes a token leaves room for any real answer.
func answerLimit(maxTokens int) int64 {
	if maxTokens <= 0 {
		return 4 << 20
	}
	return min(8<<20, 256<<10+int64(maxTokens)*64)
}

// maxRateLimited is how many 429s one request waits out before it counts as failed: with waits of
// up to a couple of minutes, hours of rate limiting.
const maxRateLimited = 200

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
	creq, err := chatCompletion(req)
	if err != nil {
		return ChatResult{}, err
	}
	prompt := EstimateTokens(req.System) + EstimateTokens(req.User)
	limit := answerLimit(req.MaxTokens)

	var res ChatResult
	failures, limited := 0, 0
	for {
		t, err := l.Control.Admit(ctx, prompt, req.MaxTokens)
		if err != nil {
			return res, err
		}
		cap := capture{limit: limit, maxTokens: req.MaxTokens}
		start := time.Now()
		resp, err := l.Client.CreateChatCompletion(withCapture(ctx, &cap), creq)
		latency := time.Since(start)
		res.Requests++
		if err == nil && len(resp.Choices) == 0 {
			err = errors.New("answer has no choices")
		}
		if err == nil {
			l.Control.Done(t, answer{outcome: Succeeded, latency: latency, tokens: resp.Usage.TotalTokens,
				completion: resp.Usage.CompletionTokens, header: resp.Header()})
			res.Content = resp.Choices[0].Message.Content
			res.Model = resp.Model
			res.Usage = corpus.Usage{PromptTokens: resp.Usage.PromptTokens, CompletionTokens: resp.Usage.CompletionTokens}
			res.Latency = latency
			return res, nil
		}
		if ctx.Err() != nil {
			l.Control.Done(t, answer{outcome: ignored})
			return res, ctx.Err()
		}
		var big *OversizedError
		if errors.As(err, &big) {
			// the server answered, and we were billed for it: count what we can, store nothing
			l.Control.Done(t, answer{outcome: Succeeded, latency: latency, header: cap.header})
			res.Latency = latency
			res.Usage = corpus.Usage{PromptTokens: prompt, CompletionTokens: req.MaxTokens}
			return res, err
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
		if code := quotaCode(err); status == http.StatusTooManyRequests && code != "" {
			l.Control.Done(t, answer{outcome: ignored})
			return res, &FatalError{Status: status, Code: code, Msg: apiMessage(err)}
		}
		if isFatal(status) {
			l.Control.Done(t, answer{outcome: ignored})
			return res, &FatalError{Status: status, Msg: apiMessage(err)}
		}
		if status == http.StatusTooManyRequests {
			// a pacing signal: Done holds every request for the server's hint
			l.Control.Done(t, answer{outcome: RateLimited, header: cap.header})
			if limited++; limited > maxRateLimited {
				return res, &TransientError{Err: err}
			}
			l.Log.Debug().Err(err).Int("rate_limited", limited).Msg("rate limited; waiting for the server's hint")
			continue
		}
		l.Control.Done(t, answer{outcome: Failed, header: cap.header})
		if !t.probe { // a failed probe is the breaker's, not this request's
			failures++
		}
		if failures > l.Backoff.Retries {
			return res, &TransientError{Err: err}
		}
		hint, _ := retryHint(cap.header, time.Now())
		wait := l.Backoff.Delay(max(failures-1, 0), min(hint, DefaultHintCap))
		l.Log.Debug().Int("status", status).Err(err).Dur("wait", wait).Int("attempt", failures).Msg("retrying LLM request")
		if err := l.Sleep(ctx, wait); err != nil {
			return res, err
		}
	}
}

// chatCompletion is the API request of a ChatRequest, online or as a Batch API line.
func chatCompletion(req ChatRequest) (openai.ChatCompletionRequest, error) {
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
			return creq, fmt.Errorf("encode JSON schema: %w", err)
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
	return creq, nil
}

// quotaCode returns the error code of a 429 that means no credit is left (OpenAI's
// insufficient_quota, billing errors), or "" for a rate limit.
func quotaCode(err error) string {
	var apiErr *openai.APIError
	if !errors.As(err, &apiErr) {
		return ""
	}
	code, _ := apiErr.Code.(string)
	typ := ""
	if apiErr.Type != "" {
		typ = apiErr.Type
	}
	for _, c := range []string{code, typ} {
		switch c {
		case "insufficient_quota", "billing_hard_limit_reached", "billing_not_active", "quota_exceeded":
			return c
		}
	}
	msg := strings.ToLower(apiErr.Message)
	if strings.Contains(msg, "exceeded your current quota") || strings.Contains(msg, "billing") {
		return "insufficient_quota"
	}
	return ""
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

// capture holds the status and headers of the last HTTP response of one request, and the most
// bytes its body may have.
type capture struct {
	status    int
	header    http.Header
	limit     int64
	maxTokens int
}

type captureKey struct{}

func withCapture(ctx context.Context, c *capture) context.Context {
	return context.WithValue(ctx, captureKey{}, c)
}

// headerCapture is an http.RoundTripper that records response headers into the request's capture
// and cuts a body off at the capture's limit.
type headerCapture struct{ base http.RoundTripper }

func (h headerCapture) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := h.base.RoundTrip(r)
	c, ok := r.Context().Value(captureKey{}).(*capture)
	if !ok || resp == nil {
		return resp, err
	}
	c.status, c.header = resp.StatusCode, resp.Header.Clone()
	if c.limit > 0 {
		if resp.ContentLength > c.limit {
			resp.Body.Close()
			return nil, &OversizedError{Limit: c.limit, MaxTokens: c.maxTokens}
		}
		resp.Body = &limitedBody{ReadCloser: resp.Body, left: c.limit, err: &OversizedError{Limit: c.limit, MaxTokens: c.maxTokens}}
	}
	return resp, err
}

// limitedBody fails a read past its limit with an OversizedError.
type limitedBody struct {
	io.ReadCloser
	left int64
	err  *OversizedError
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, b.err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	return n, err
}
