package vectors

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeEmbeddings is an OpenAI-compatible /v1/embeddings server. Each request
// is answered by the next scripted status (200 when the script is used up);
// a 200 answer embeds input i as a 3-d vector that encodes the text length.
type fakeEmbeddings struct {
	mu       sync.Mutex
	script   []int
	headers  []map[string]string
	batches  [][]string
	auth     []string
	dim      int
	reversed bool // answer data in reverse index order
}

func (f *fakeEmbeddings) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var req struct {
		Input []string `json:"input"`
		Model string   `json:"model"`
	}
	if r.URL.Path != "/v1/embeddings" || json.NewDecoder(r.Body).Decode(&req) != nil {
		http.Error(w, `{"error":{"message":"bad request"}}`, http.StatusBadRequest)
		return
	}
	f.batches = append(f.batches, req.Input)
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	status := http.StatusOK
	if len(f.script) > 0 {
		status = f.script[0]
		f.script = f.script[1:]
	}
	if status != http.StatusOK {
		if len(f.headers) > 0 {
			for k, v := range f.headers[0] {
				w.Header().Set(k, v)
			}
			f.headers = f.headers[1:]
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"error":{"message":"scripted %d","type":"test"}}`, status)
		return
	}
	type datum struct {
		Object    string    `json:"object"`
		Index     int       `json:"index"`
		Embedding []float32 `json:"embedding"`
	}
	data := make([]datum, len(req.Input))
	for i, text := range req.Input {
		v := make([]float32, f.dim)
		v[0] = float32(len(text))
		v[1] = 1
		data[i] = datum{Object: "embedding", Index: i, Embedding: v}
	}
	if f.reversed {
		for i, j := 0, len(data)-1; i < j; i, j = i+1, j-1 {
			data[i], data[j] = data[j], data[i]
		}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"object": "list", "model": req.Model, "data": data})
}

func newFakeOpenAI(t *testing.T, f *fakeEmbeddings, batch int) (*OpenAIEmbedder, *[]time.Duration) {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	e := NewOpenAI(OpenAIConfig{BaseURL: srv.URL + "/v1", APIKey: "sk-test", Model: "test-model", BatchSize: batch})
	var slept []time.Duration
	e.Sleep = func(_ context.Context, d time.Duration) error {
		slept = append(slept, d)
		return nil
	}
	return e, &slept
}

func TestOpenAIEmbedderBatchesAndKeepsOrder(t *testing.T) {
	f := &fakeEmbeddings{dim: 3, reversed: true}
	e, _ := newFakeOpenAI(t, f, 3)
	texts := []string{"a", "bb", "ccc", "dddd", "eeeee", "ffffff", "ggggggg"}
	vecs, err := e.Embed(context.Background(), texts)
	if err != nil {
		t.Fatalf("Embed: %v", err)
	}
	if got := fmt.Sprint(f.batches); got != "[[a bb ccc] [dddd eeeee ffffff] [ggggggg]]" {
		t.Errorf("request batches = %s, want 3+3+1 inputs in order", got)
	}
	for i, v := range vecs {
		if int(v[0]) != len(texts[i]) {
			t.Errorf("vector %d encodes length %v, want %d (answers out of order?)", i, v[0], len(texts[i]))
		}
	}
	if e.ID() != "openai:test-model" || e.Dim() != 3 {
		t.Errorf("ID, Dim = %q, %d; want openai:test-model, 3", e.ID(), e.Dim())
	}
	if f.auth[0] != "Bearer sk-test" {
		t.Errorf("Authorization = %q, want the API key as a bearer token", f.auth[0])
	}
}

func TestOpenAIEmbedderRetries429HonouringRetryAfter(t *testing.T) {
	f := &fakeEmbeddings{dim: 3, script: []int{429, 503}, headers: []map[string]string{{"Retry-After": "2"}}}
	e, slept := newFakeOpenAI(t, f, 0)
	e.BaseDelay = 100 * time.Millisecond
	vecs, err := e.Embed(context.Background(), []string{"hello"})
	if err != nil {
		t.Fatalf("Embed after 429 and 503: %v", err)
	}
	if len(vecs) != 1 || len(f.batches) != 3 {
		t.Fatalf("got %d vectors after %d requests, want 1 after 3", len(vecs), len(f.batches))
	}
	if len(*slept) != 2 {
		t.Fatalf("slept %v, want two waits", *slept)
	}
	if (*slept)[0] != 2*time.Second {
		t.Errorf("wait after 429 with Retry-After: 2 = %v, want 2s", (*slept)[0])
	}
	if w := (*slept)[1]; w < 0 || w >= 200*time.Millisecond {
		t.Errorf("second backoff = %v, want full jitter in [0, 200ms)", w)
	}
}

func TestOpenAIEmbedderStopsOn400(t *testing.T) {
	f := &fakeEmbeddings{dim: 3, script: []int{400}}
	e, slept := newFakeOpenAI(t, f, 0)
	_, err := e.Embed(context.Background(), []string{"hello"})
	if err == nil {
		t.Fatal("Embed succeeded on a 400 answer")
	}
	if len(f.batches) != 1 || len(*slept) != 0 {
		t.Errorf("made %d requests and %d waits on a 400, want 1 and 0", len(f.batches), len(*slept))
	}
	if !strings.Contains(err.Error(), "400") {
		t.Errorf("error %q does not carry the status", err)
	}
}

func TestOpenAIEmbedderGivesUpAfterMaxRetries(t *testing.T) {
	f := &fakeEmbeddings{dim: 3, script: []int{500, 500, 500, 500}}
	e, _ := newFakeOpenAI(t, f, 0)
	e.MaxRetries = 2
	if _, err := e.Embed(context.Background(), []string{"x"}); err == nil || !strings.Contains(err.Error(), "giving up after 3 attempts") {
		t.Errorf("Embed error = %v, want giving up after 3 attempts", err)
	}
	if len(f.batches) != 3 {
		t.Errorf("made %d requests, want 3", len(f.batches))
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"3", 3 * time.Second},
		{"0.5", 500 * time.Millisecond},
		{"-1", 0},
		{now.Add(10 * time.Second).Format(http.TimeFormat), 10 * time.Second},
		{"soon", 0},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
