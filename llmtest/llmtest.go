// Package llmtest serves a fake OpenAI-compatible chat API on 127.0.0.1 for tests and benchmarks. It
// answers the default schema's two steps with plausible, self-consistent learner texts and corrections,
// and can be slow, rate-limit with 429 + Retry-After, fail with 500, or answer malformed.
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
}

// Server is a fake chat-completions server.
type Server struct {
	*httptest.Server
	Latency time.Duration
	Faults  Faults
	// RPM, when > 0, limits requests per minute with a token bucket; excess requests get a 429 whose
	// Retry-After says when the next token comes.
	RPM int
	// Key, when set, is the only API key accepted (others get 401).
	Key string
	// Model, when set, is the only model known (others get 404).
	Model string
	// NearDuplicates is the chance that a learner text repeats an earlier one with a name changed,
	// the way LLMs repeat themselves; dedup must catch those.
	NearDuplicates float64

	mu       sync.Mutex
	rng      *rand.Rand
	tokens   float64
	last     time.Time
	seen     map[[32]byte]int
	fixes    map[string]story
	stories  []story
	counts   Counts
	requests []time.Time
}

// Counts tallies what the server did.
type Counts struct {
	Requests    int // every request received
	Answered    int // 200 with a usable answer
	Malformed   int
	RateLimited int
	Failed      int
}

// New starts a server; close it with Close.
func New() *Server {
	s := &Server{rng: rand.New(rand.NewPCG(1, 2)), seen: map[[32]byte]int{}, fixes: map[string]story{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.handle))
	return s
}

// URL returns the base URL to give clients (OPENAI_BASE_URL).
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
	return append([]time.Time(nil), s.requests...)
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/chat/completions" {
		http.Error(w, `{"error":{"message":"not found","type":"invalid_request_error"}}`, http.StatusNotFound)
		return
	}
	var req openai.ChatCompletionRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeErr(w, http.StatusBadRequest, "bad json: "+err.Error())
		return
	}
	if s.Latency > 0 {
		select {
		case <-time.After(s.Latency):
		case <-r.Context().Done():
			return
		}
	}
	s.mu.Lock()
	s.counts.Requests++
	if s.Key != "" && r.Header.Get("Authorization") != "Bearer "+s.Key {
		s.mu.Unlock()
		writeErr(w, http.StatusUnauthorized, "Incorrect API key provided")
		return
	}
	if s.Model != "" && req.Model != s.Model {
		s.mu.Unlock()
		writeErr(w, http.StatusNotFound, fmt.Sprintf("The model `%s` does not exist", req.Model))
		return
	}
	if wait, ok := s.takeToken(); !ok {
		s.counts.RateLimited++
		s.mu.Unlock()
		w.Header().Set("Retry-After", fmt.Sprintf("%.3f", wait.Seconds()))
		w.Header().Set("X-Ratelimit-Reset-Requests", wait.String())
		writeErr(w, http.StatusTooManyRequests, "Rate limit reached for requests")
		return
	}
	roll := s.rng.Float64()
	f := s.Faults
	switch {
	case roll < f.RateLimit:
		s.counts.RateLimited++
		s.mu.Unlock()
		ra := f.RetryAfter
		if ra == 0 {
			ra = time.Second
		}
		w.Header().Set("Retry-After", fmt.Sprintf("%.3f", ra.Seconds()))
		writeErr(w, http.StatusTooManyRequests, "Rate limit reached for requests")
		return
	case roll < f.RateLimit+f.Server:
		s.counts.Failed++
		s.mu.Unlock()
		writeErr(w, http.StatusInternalServerError, "The server had an error while processing your request")
		return
	case roll < f.RateLimit+f.Server+f.Malformed:
		s.counts.Malformed++
		s.mu.Unlock()
		writeAnswer(w, req, "I'm sorry, I can only help with that later.")
		return
	}
	key := sha256.Sum256([]byte(fmt.Sprint(req.Messages)))
	n := s.seen[key]
	s.seen[key]++
	content := s.answer(req, key, n)
	s.counts.Answered++
	s.requests = append(s.requests, time.Now())
	s.mu.Unlock()
	writeAnswer(w, req, content)
}

// takeToken spends one request token of the per-minute bucket (capacity one second's worth).
func (s *Server) takeToken() (time.Duration, bool) {
	if s.RPM <= 0 {
		return 0, true
	}
	perSec := float64(s.RPM) / 60
	burst := math.Max(1, perSec)
	now := time.Now()
	if s.last.IsZero() {
		s.tokens = burst
	} else {
		s.tokens = math.Min(burst, s.tokens+now.Sub(s.last).Seconds()*perSec)
	}
	s.last = now
	if s.tokens >= 1 {
		s.tokens--
		return 0, true
	}
	return time.Duration((1 - s.tokens) / perSec * float64(time.Second)), false
}

func writeErr(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": msg, "type": "test_error"}})
}

func writeAnswer(w http.ResponseWriter, req openai.ChatCompletionRequest, content string) {
	prompt := 0
	for _, m := range req.Messages {
		prompt += len(m.Content) / 4
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(openai.ChatCompletionResponse{
		ID: "chatcmpl-test", Object: "chat.completion", Created: time.Now().Unix(), Model: req.Model,
		Choices: []openai.ChatCompletionChoice{{Index: 0, Message: openai.ChatCompletionMessage{Role: "assistant", Content: content}, FinishReason: "stop"}},
		Usage:   openai.Usage{PromptTokens: prompt, CompletionTokens: len(content) / 4, TotalTokens: prompt + len(content)/4},
	})
}

var (
	keyExprRe = regexp.MustCompile(`key expression[^"]*"([^"]+)"`)
	beforeRe  = regexp.MustCompile(`(?s)###\s*교정 전\s*###\s*\n(.*)$`)
	markerRe  = regexp.MustCompile(`(?m)^###\s*(.+?)\s*###\s*$`)
)

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
		s.fixes[st.before] = st
		s.stories = append(s.stories, st)
		b, _ := json.Marshal(map[string]string{"before": st.before})
		return string(b)
	}
	before := ""
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
