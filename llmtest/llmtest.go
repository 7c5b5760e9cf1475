// Package llmtest serves a fake OpenAI-compatible chat API on 127.0.0.1 for tests and benchmarks. It
// answers the default schema's two steps with plausible, self-consistent learner texts and corrections,
// and behaves like the servers users meet: answers that take seconds, request and token limits
// enforced at admission (optionally advertised in x-ratelimit-* headers, as OpenAI does), 429s with
// Retry-After, 500s, malformed or oversized answers, an exhausted quota, or a batching server whose
// latency grows past its best concurrency.
package llmtest

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"time"

	openai "github.com/sashabaranov/go-openai"
)

// Faults are the chances (0..1) that a request is answered with a fault instead of an answer.
type Faults struct {
	RateLimit  float64       // 429 with Retry-After
	RetryAfter time.Duration // the Retry-After sent with injected 429s (default 1s)
	Server     float64       // 500
	Malformed  float64       // 200 with an unusable answer
	Huge       float64       // 200 with an answer of HugeBytes bytes
	HugeBytes  int           // default 50 MB
}

// Server is a fake chat-completions server. Set its fields before the first request.
type Server struct {
	*httptest.Server
	// Latency is how long an answer takes after admission; Jitter spreads it uniformly by ±Jitter
	// (a fraction of Latency).
	Latency time.Duration
	Jitter  float64
	// Batch, when > 0, makes a batching server (vLLM, TGI): an answer takes Latency × max(1,
	// running/Batch), where running counts the requests being answered, so throughput is best at
	// Batch requests in flight and flat beyond, at ever longer latency.
	Batch  int
	Faults Faults
	// RPM and TPM, when > 0, limit requests and tokens per minute with token buckets holding Burst's
	// worth (default one second). Requests are counted at admission; tokens are charged at
	// admission as prompt tokens + max_tokens and corrected by the answer's usage when it is sent,
	// as OpenAI counts them. Excess requests get a 429 whose Retry-After says when they would fit.
	RPM, TPM float64
	Burst    time.Duration
	// Headers sends x-ratelimit-limit|remaining|reset-{requests,tokens} with every answer.
	Headers bool
	// Quota answers every request 429 insufficient_quota, as OpenAI does for an account out of credit.
	Quota bool
	// Refuse, when set, answers every request with this status (400, 403...).
	Refuse int
	// Key, when set, is the only API key accepted (others get 401).
	Key string
	// Model, when set, is the only model known (others get 404).
	Model string
	// Completion, when set, is the range of completion tokens an answer reports using (and is
	// charged), uniform, like real answers of a few hundred words; by default an answer reports its
	// length / 4.
	Completion [2]int
	// Reply, when set, writes the content of every usable answer from the request's system and user
	// messages (a model under evaluation, say); it is called with the server's lock held. By default
	// a request holding a "### 교정 전 ###" section is answered with the correction of the text the
	// server made up, and any other request with its user message as the correction, unchanged.
	Reply func(system, user string) string
	// NearDuplicates is the chance that a learner text repeats an earlier one with a name changed,
	// the way LLMs repeat themselves; dedup must catch those.
	NearDuplicates float64

	// BatchDelay is how long a batch of the Batch API (Files and Batches endpoints) takes to end.
	// BatchFail and BatchExpire are how many lines, first received first, end with a 500 or are
	// left unanswered when their batch expires; NoBatchAPI answers 404 there, as vLLM and Ollama do.
	BatchDelay             time.Duration
	BatchFail, BatchExpire int
	NoBatchAPI             bool
	// BatchInvalid fails every batch's validation, with an error for its first line.
	BatchInvalid bool

	mu       sync.Mutex
	batchAPI batchAPI
	rng      *rand.Rand
	req, tok bucket
	running  int
	seen     map[[32]byte]int
	fixes    map[string]story
	stories  []story
	counts   Counts
	answers  []Answer
}

// Counts tallies what the server did.
type Counts struct {
	Requests    int // every request received
	Answered    int // 200 with a usable answer
	Malformed   int
	Huge        int
	RateLimited int
	Failed      int
	MaxRunning  int // most requests being answered at once
}

// Answer is one usable answer: when its request was admitted, when the answer was sent, the tokens
// it used, and whether the request asked for structured output (the first step of the default schema).
type Answer struct {
	Admitted, Sent time.Time
	Tokens         int
	JSON           bool
}

// New starts a server; close it with Close.
func New() *Server {
	s := &Server{rng: rand.New(rand.NewPCG(1, 2)), seen: map[[32]byte]int{}, fixes: map[string]story{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.handle))
	return s
}

// BaseURL returns the base URL to give clients (OPENAI_BASE_URL).
func (s *Server) BaseURL() string { return s.Server.URL + "/v1" }

// Counts returns a snapshot of the tallies.
func (s *Server) Counts() Counts {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts
}

// AnsweredTimes returns when each usable answer was sent.
func (s *Server) AnsweredTimes() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]time.Time, len(s.answers))
	for i, a := range s.answers {
		out[i] = a.Sent
	}
	return out
}

// SetFaults changes the faults while the server runs.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Faults = f
}

// Answers returns every usable answer so far, in the order they were sent.
func (s *Server) Answers() []Answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Answer(nil), s.answers...)
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/v1/files") || strings.HasPrefix(r.URL.Path, "/v1/batches") {
		s.handleBatchAPI(w, r)
		return
	}
	if r.URL.Path != "/v1/chat/completions" {
		http.Error(w, `{"error":{"message":"not found","type":"invalid_request_error"}}`, http.StatusNotFound)
		return
	}
	var req openai.ChatCompletionRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeErr(w, http.StatusBadRequest, "bad json: "+err.Error(), "")
		return
	}
	admitted := time.Now()
	s.mu.Lock()
	s.counts.Requests++
	switch {
	case s.Key != "" && r.Header.Get("Authorization") != "Bearer "+s.Key:
		s.mu.Unlock()
		writeErr(w, http.StatusUnauthorized, "Incorrect API key provided", "invalid_api_key")
		return
	case s.Model != "" && req.Model != s.Model:
		s.mu.Unlock()
		writeErr(w, http.StatusNotFound, fmt.Sprintf("The model `%s` does not exist", req.Model), "model_not_found")
		return
	case s.Refuse != 0:
		s.mu.Unlock()
		writeErr(w, s.Refuse, fmt.Sprintf("refused with %d", s.Refuse), "")
		return
	case s.Quota:
		s.counts.RateLimited++
		s.mu.Unlock()
		writeErr(w, http.StatusTooManyRequests, "You exceeded your current quota, please check your plan and billing details.", "insufficient_quota")
		return
	}
	charge := promptTokens(req) + maxTokens(req)
	wait, ok := s.admit(admitted, charge)
	s.limitHeaders(w.Header(), admitted)
	if !ok {
		s.counts.RateLimited++
		s.mu.Unlock()
		w.Header().Set("Retry-After", fmt.Sprintf("%.3f", wait.Seconds()))
		writeErr(w, http.StatusTooManyRequests, "Rate limit reached for requests", "rate_limit_exceeded")
		return
	}
	roll := s.rng.Float64()
	s.running++
	s.counts.MaxRunning = max(s.counts.MaxRunning, s.running)
	latency := s.latency()
	s.mu.Unlock()
	if latency > 0 {
		select {
		case <-time.After(latency):
		case <-r.Context().Done():
			s.mu.Lock()
			s.running--
			s.refund(time.Now(), charge)
			s.mu.Unlock()
			return
		}
	}
	s.mu.Lock()
	s.running--
	f := s.Faults
	switch {
	case roll < f.RateLimit:
		s.counts.RateLimited++
		s.refund(time.Now(), charge)
		s.mu.Unlock()
		ra := f.RetryAfter
		if ra == 0 {
			ra = time.Second
		}
		w.Header().Set("Retry-After", fmt.Sprintf("%.3f", ra.Seconds()))
		writeErr(w, http.StatusTooManyRequests, "Rate limit reached for requests", "rate_limit_exceeded")
		return
	case roll < f.RateLimit+f.Server:
		s.counts.Failed++
		s.refund(time.Now(), charge)
		s.mu.Unlock()
		writeErr(w, http.StatusInternalServerError, "The server had an error while processing your request", "")
		return
	case roll < f.RateLimit+f.Server+f.Malformed:
		s.counts.Malformed++
		bad := "I'm sorry, I can only help with that later."
		s.refund(time.Now(), charge-promptTokens(req)-len(bad)/4)
		s.mu.Unlock()
		writeAnswer(w, req, bad, len(bad)/4)
		return
	case roll < f.RateLimit+f.Server+f.Malformed+f.Huge:
		s.counts.Huge++
		n := f.HugeBytes
		if n <= 0 {
			n = 50 << 20
		}
		s.mu.Unlock()
		writeHuge(w, req, n)
		return
	}
	content, completion := s.content(req)
	used := promptTokens(req) + completion
	s.refund(time.Now(), charge-used)
	s.counts.Answered++
	s.answers = append(s.answers, Answer{Admitted: admitted, Sent: time.Now(), Tokens: used, JSON: req.ResponseFormat != nil})
	s.mu.Unlock()
	writeAnswer(w, req, content, completion)
}

// content writes a usable answer to req and the completion tokens it reports; s.mu is held.
func (s *Server) content(req openai.ChatCompletionRequest) (string, int) {
	key := sha256.Sum256([]byte(fmt.Sprint(req.Messages)))
	n := s.seen[key]
	s.seen[key]++
	content := s.answer(req, key, n)
	if s.Reply != nil {
		content = s.Reply(message(req, openai.ChatMessageRoleSystem), message(req, openai.ChatMessageRoleUser))
	}
	completion := len(content) / 4
	if lo, hi := s.Completion[0], s.Completion[1]; hi > 0 {
		completion = min(lo+s.rng.IntN(hi-lo+1), maxTokens(req))
	}
	return content, completion
}

// latency draws how long the next answer takes; s.mu is held.
func (s *Server) latency() time.Duration {
	d := float64(s.Latency)
	if s.Jitter > 0 {
		d *= 1 + s.Jitter*(2*s.rng.Float64()-1)
	}
	if s.Batch > 0 && s.running > s.Batch {
		d *= float64(s.running) / float64(s.Batch)
	}
	return time.Duration(d)
}

// admit spends one request and charge tokens of the buckets, or says how long until they would fit.
func (s *Server) admit(now time.Time, charge int) (time.Duration, bool) {
	burst := s.Burst
	if burst <= 0 {
		burst = time.Second
	}
	s.req.init(s.RPM, burst, 1)
	s.tok.init(s.TPM, burst, float64(charge))
	wr, okr := s.req.check(now, 1)
	wt, okt := s.tok.check(now, float64(charge))
	if !okr || !okt {
		return max(wr, wt), false
	}
	s.req.take(1)
	s.tok.take(float64(charge))
	return 0, true
}

func (s *Server) refund(now time.Time, n int) {
	if n > 0 {
		s.tok.fill(now)
		s.tok.level = math.Min(s.tok.capacity, s.tok.level+float64(n))
	}
}

// limitHeaders writes OpenAI's x-ratelimit-* headers when the server advertises its limits.
func (s *Server) limitHeaders(h http.Header, now time.Time) {
	if !s.Headers {
		return
	}
	for _, l := range []struct {
		name string
		b    *bucket
		per  float64
	}{{"requests", &s.req, s.RPM}, {"tokens", &s.tok, s.TPM}} {
		if l.per <= 0 {
			continue
		}
		l.b.fill(now)
		h.Set("X-Ratelimit-Limit-"+l.name, fmt.Sprint(int(l.per)))
		h.Set("X-Ratelimit-Remaining-"+l.name, fmt.Sprint(int(math.Max(0, l.b.level))))
		reset := time.Duration((l.b.capacity - math.Max(0, l.b.level)) / l.b.rate * float64(time.Second))
		h.Set("X-Ratelimit-Reset-"+l.name, reset.Round(time.Millisecond).String())
	}
}

// bucket is the server's view of one limit: capacity tokens refilled at rate per second.
type bucket struct {
	rate, capacity, level float64
	last                  time.Time
}

func (b *bucket) init(perMinute float64, burst time.Duration, least float64) {
	if perMinute <= 0 || b.rate > 0 {
		return
	}
	b.rate = perMinute / 60
	b.capacity = math.Max(least, b.rate*burst.Seconds())
	b.level = b.capacity
}

func (b *bucket) fill(now time.Time) {
	if b.rate <= 0 {
		return
	}
	if !b.last.IsZero() {
		b.level = math.Min(b.capacity, b.level+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
}

func (b *bucket) check(now time.Time, n float64) (time.Duration, bool) {
	if b.rate <= 0 {
		return 0, true
	}
	b.fill(now)
	if b.level >= n {
		return 0, true
	}
	return time.Duration((n - b.level) / b.rate * float64(time.Second)), false
}

func (b *bucket) take(n float64) {
	if b.rate > 0 {
		b.level -= n
	}
}

func promptTokens(req openai.ChatCompletionRequest) int {
	n := 0
	for _, m := range req.Messages {
		n += len(m.Content) / 4
	}
	return n
}

func maxTokens(req openai.ChatCompletionRequest) int {
	if req.MaxTokens > 0 {
		return req.MaxTokens
	}
	return 1024
}

func writeErr(w http.ResponseWriter, status int, msg, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	e := map[string]any{"message": msg, "type": "test_error"}
	if code != "" {
		e["code"] = code
		if code == "insufficient_quota" {
			e["type"] = code
		}
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"error": e})
}

func writeAnswer(w http.ResponseWriter, req openai.ChatCompletionRequest, content string, completion int) {
	prompt := promptTokens(req)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(openai.ChatCompletionResponse{
		ID: "chatcmpl-test", Object: "chat.completion", Created: time.Now().Unix(), Model: req.Model,
		Choices: []openai.ChatCompletionChoice{{Index: 0, Message: openai.ChatCompletionMessage{Role: "assistant", Content: content}, FinishReason: "stop"}},
		Usage:   openai.Usage{PromptTokens: prompt, CompletionTokens: completion, TotalTokens: prompt + completion},
	})
}

// writeHuge streams a well-formed answer whose content is n bytes, without holding it.
func writeHuge(w http.ResponseWriter, req openai.ChatCompletionRequest, n int) {
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"id":"chatcmpl-huge","object":"chat.completion","model":%q,"choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"`, req.Model)
	chunk := []byte(strings.Repeat("a", 64<<10))
	for sent := 0; sent < n; sent += len(chunk) {
		if _, err := w.Write(chunk[:min(len(chunk), n-sent)]); err != nil {
			return
		}
	}
	fmt.Fprintf(w, `"}}],"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}}`, promptTokens(req), n/4, promptTokens(req)+n/4)
}

var (
	keyExprRe = regexp.MustCompile(`key expression[^"]*"([^"]+)"`)
	beforeRe  = regexp.MustCompile(`(?s)###\s*교정 전\s*###\s*\n(.*)$`)
	markerRe  = regexp.MustCompile(`(?m)^###\s*(.+?)\s*###\s*$`)
)

// message returns the content of the request's last message of role.
func message(req openai.ChatCompletionRequest, role string) string {
	out := ""
	for _, m := range req.Messages {
		if m.Role == role {
			out = m.Content
		}
	}
	return out
}

// answer writes the content of a usable answer: a learner text for a JSON step, the correction
// sections for a sections step.
func (s *Server) answer(req openai.ChatCompletionRequest, key [32]byte, n int) string {
	user := ""
	for _, m := range req.Messages {
		if m.Role == openai.ChatMessageRoleUser {
			user = m.Content
		}
	}
	seed := binary.LittleEndian.Uint64(key[:8]) ^ uint64(n)*0x9e3779b97f4a7c15
	rng := rand.New(rand.NewPCG(seed, uint64(n)))
	if req.ResponseFormat != nil {
		expr := "look forward to"
		if m := keyExprRe.FindStringSubmatch(user); m != nil {
			expr = m[1]
		}
		st := makeStory(rng, expr)
		if len(s.stories) > 0 && rng.Float64() < s.NearDuplicates {
			st = retell(s.stories[rng.IntN(len(s.stories))], rng, expr)
		}
		if strings.Contains(user, "no mistakes") {
			// asked for a text that needs no correction (a schema's negatives): the clean text
			st.before, st.points = st.after, []string{"고칠 부분이 없습니다: 이미 자연스러운 영어입니다."}
		}
		s.fixes[st.before] = st
		s.stories = append(s.stories, st)
		b, _ := json.Marshal(map[string]string{"before": st.before})
		return string(b)
	}
	before := strings.TrimSpace(user) // a plain request to correct a text: the trained format
	if m := beforeRe.FindStringSubmatch(user); m != nil {
		before = strings.TrimSpace(markerRe.Split(m[1], 2)[0])
		before, _, _ = strings.Cut(before, "\n\n") // the learner text is one paragraph; instructions follow
	}
	st, ok := s.fixes[before]
	if !ok {
		st = story{before: before, after: before}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "### 교정 후 ###\n%s\n\n### 해석 ###\n%s\n\n### 교정 지점 ###\n", st.after, st.korean)
	for i, p := range st.points {
		fmt.Fprintf(&b, "%d. %s\n", i+1, p)
	}
	return b.String()
}
