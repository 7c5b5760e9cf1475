package generator

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/correctly/correctly/llmtest"
)

func evalRig(tb testing.TB, srv *llmtest.Server, cfg ControlConfig) *Evaluator {
	tb.Helper()
	st := openStore(tb)
	ctl := NewControl(cfg)
	llm := NewLLM(LLMConfig{BaseURL: srv.BaseURL(), APIKey: "test"}, ctl, zerolog.Nop())
	llm.Backoff = Backoff{Base: 2 * time.Millisecond, Cap: 20 * time.Millisecond, Retries: 8}
	return NewEvaluator(st, llm, ctl, "m", 256)
}

func evalRequests(n int) []EvalRequest {
	out := make([]EvalRequest, n)
	for i := range out {
		out[i] = EvalRequest{Index: i, System: "correct it", User: fmt.Sprintf("Sentence number %d go wrong.", i)}
	}
	return out
}

func TestEvalResumeAsksOnlyForItemsWithoutAnAnswer(t *testing.T) {
	srv := llmtest.New()
	t.Cleanup(srv.Close)
	srv.Latency = 5 * time.Millisecond
	ev := evalRig(t, srv, ControlConfig{Fixed: 8})
	reqs := evalRequests(120)
	ctx, cancel := context.WithCancel(context.Background())
	var once sync.Once
	ev.OnAnswer = func(p EvalProgress) {
		if p.Stored >= 40 {
			once.Do(cancel)
		}
	}
	first, err := ev.Run(ctx, "ev1", reqs)
	if !errors.Is(err, ErrInterrupted) || first.Status != "stopped" {
		t.Fatalf("interrupted Run = %+v, %v; want stopped, ErrInterrupted", first, err)
	}
	stored, err := ev.Store.EvalPredictions(context.Background(), "ev1")
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) < 40 || len(stored) >= len(reqs) {
		t.Fatalf("%d answers stored after the interruption, want 40 to %d", len(stored), len(reqs)-1)
	}
	// requests the interrupted run sent may reach the server after Run returned: count them first
	before := settledRequests(srv)
	ev.OnAnswer = nil
	second, err := ev.Run(context.Background(), "ev1", reqs)
	if err != nil || second.Status != "done" || second.Stored != len(reqs) {
		t.Fatalf("resumed Run = %+v, %v; want done with %d stored", second, err, len(reqs))
	}
	if asked := srv.Counts().Requests - before; asked != len(reqs)-len(stored) {
		t.Errorf("the resume sent %d requests, want %d: one per item without an answer", asked, len(reqs)-len(stored))
	}
	all, _ := ev.Store.EvalPredictions(context.Background(), "ev1")
	for i, p := range all {
		if p.Index != i || !strings.Contains(p.Raw, fmt.Sprintf("Sentence number %d go wrong.", i)) {
			t.Fatalf("answer %d = %+v, want the answer to item %d", i, p, i)
		}
	}
}

// settledRequests waits until the server has seen no new request for 100 ms and returns its count.
func settledRequests(srv *llmtest.Server) int {
	n := srv.Counts().Requests
	for {
		time.Sleep(100 * time.Millisecond)
		m := srv.Counts().Requests
		if m == n {
			return n
		}
		n = m
	}
}

func TestEvalOfAnUnknownModelFailsOnTheFirstRequest(t *testing.T) {
	srv := llmtest.New()
	t.Cleanup(srv.Close)
	srv.Model = "served-model"
	ev := evalRig(t, srv, ControlConfig{})
	ev.Model = "no-such-model"
	_, _, err := ev.Ask(context.Background(), "ev", evalRequests(1)[0])
	var fe *FatalError
	if !errors.As(err, &fe) || fe.Status != http.StatusNotFound || !strings.Contains(err.Error(), "check the model name") {
		t.Fatalf("Ask with an unknown model = %v, want a 404 FatalError saying to check the model", err)
	}
	if n := srv.Counts().Requests; n != 1 {
		t.Errorf("server received %d requests, want 1", n)
	}
	// a run that meets the fatal error stops at once, resumable
	prog, err := ev.Run(context.Background(), "ev", evalRequests(50))
	if !errors.As(err, &fe) || prog.Status != "failed" {
		t.Fatalf("Run with an unknown model = %+v, %v; want failed with the FatalError", prog, err)
	}
	if n := srv.Counts().Requests; n > 1+ev.Control.Limit()+8 {
		t.Errorf("server received %d requests after a 404, want the run to stop at once", n)
	}
}

func TestEvalKeepsOversizedAnswersOutButCountsThem(t *testing.T) {
	srv := llmtest.New()
	t.Cleanup(srv.Close)
	srv.Faults = llmtest.Faults{Huge: 1, HugeBytes: 4 << 20}
	ev := evalRig(t, srv, ControlConfig{Fixed: 2})
	ev.MaxTokens = 64
	p, _, err := ev.Ask(context.Background(), "ev", evalRequests(1)[0])
	if err != nil || p == nil || p.Raw != "" || !strings.Contains(p.Error, "larger than") {
		t.Fatalf("Ask of a huge answer = %+v, %v; want a prediction with Error and no text", p, err)
	}
}
