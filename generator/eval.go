package generator

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/correctly/correctly/corpus"
)

// EvalRequest is one item of an eval as the model is asked it: the schema's training prompt for the
// item's source text, so that a fine-tuned model is asked what it was trained on.
type EvalRequest struct {
	Index        int
	System, User string
}

// Evaluator asks a model for its answer to each item of an eval through an LLM (pacing, retries,
// learnt limits and fatal errors as for generate) and stores every answer the moment it arrives
// under the unique (eval, item): an eval interrupted in any way is resumed by running it again,
// and only the items without a stored answer are asked. One process works on an eval at a time.
type Evaluator struct {
	Store     *corpus.Store
	LLM       *LLM
	Control   *Control
	Model     string
	MaxTokens int
	Log       zerolog.Logger
	Now       func() time.Time
	// ItemRetries is how many times an item whose requests kept failing is queued again before the
	// eval ends without its answer (resumable).
	ItemRetries int
	// OnAnswer, when set, is called after every stored answer with the counts so far.
	OnAnswer func(EvalProgress)
}

// EvalProgress counts what an Evaluator did.
type EvalProgress struct {
	Total    int          `json:"total"`    // items of the eval
	Stored   int          `json:"stored"`   // items with an answer, from before and from this run
	Asked    int          `json:"asked"`    // answers received by this run
	Requests int          `json:"requests"` // HTTP requests of this run, retries included
	Usage    corpus.Usage `json:"usage"`
	Status   string       `json:"status"`
	Message  string       `json:"message,omitempty"`
}

// NewEvaluator returns an Evaluator with defaults for clock, logger and retries.
func NewEvaluator(store *corpus.Store, llm *LLM, control *Control, model string, maxTokens int) *Evaluator {
	return &Evaluator{Store: store, LLM: llm, Control: control, Model: model, MaxTokens: maxTokens,
		Log: zerolog.Nop(), Now: time.Now, ItemRetries: 3}
}

var zero = 0.0

// Ask sends one item's request and returns its answer, ready to store under evalID, and the HTTP
// requests it took. The model is asked greedily (temperature 0), as train.py predicts. An answer
// far larger than max_tokens comes back with Error set and no text: paid for, kept out. A
// *FatalError (unknown model, bad key, no credit) is returned as is: callers ask one item alone
// before any other, so that a wrong model or key costs one refused request.
func (e *Evaluator) Ask(ctx context.Context, evalID string, r EvalRequest) (*corpus.Prediction, int, error) {
	res, err := e.LLM.Chat(ctx, ChatRequest{Model: e.Model, System: r.System, User: r.User, Temperature: &zero, MaxTokens: e.MaxTokens})
	p := &corpus.Prediction{EvalID: evalID, Index: r.Index, Model: res.Model, Raw: res.Content, Usage: res.Usage,
		LatencyMS: res.Latency.Milliseconds(), CreatedAt: e.Now().UTC()}
	var big *OversizedError
	if errors.As(err, &big) {
		p.Error, p.Model = err.Error(), e.Model
		return p, res.Requests, nil
	}
	if err != nil {
		return nil, res.Requests, err
	}
	return p, res.Requests, nil
}

// Run asks every request whose item has no stored answer yet, as many at once as the Control allows,
// and stores each answer as it arrives. It ends when every item has an answer (status done), ctx
// ends (stopped), the API keeps failing (paused), or a fatal API error comes back (failed, and the
// error is returned); items whose requests kept failing are left for a resume (stopped).
func (e *Evaluator) Run(ctx context.Context, evalID string, reqs []EvalRequest) (EvalProgress, error) {
	prog := EvalProgress{Total: len(reqs)}
	stored, err := e.Store.EvalPredictions(ctx, evalID)
	if err != nil {
		return prog, err
	}
	have := make(map[int]bool, len(stored))
	for _, p := range stored {
		have[p.Index] = true
	}
	var queue []EvalRequest
	for _, r := range reqs {
		if !have[r.Index] {
			queue = append(queue, r)
		}
	}
	prog.Stored = len(reqs) - len(queue)

	work, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	failures := map[int]int{}
	var fatal error
	stopWith := func(status, msg string) {
		mu.Lock()
		if prog.Status == "" {
			prog.Status, prog.Message = status, msg
		}
		mu.Unlock()
		cancel()
	}
	next := func() (EvalRequest, bool) {
		mu.Lock()
		defer mu.Unlock()
		if len(queue) == 0 || work.Err() != nil {
			return EvalRequest{}, false
		}
		r := queue[0]
		queue = queue[1:]
		return r, true
	}
	var wg sync.WaitGroup
	var poolMu sync.Mutex
	workers := 0
	idle := make(chan struct{})
	var idleOnce sync.Once
	leave := func() bool {
		poolMu.Lock()
		defer poolMu.Unlock()
		if workers > e.Control.Limit() {
			workers--
			return true
		}
		return false
	}
	worker := func() {
		defer wg.Done()
		for !leave() {
			r, ok := next()
			if !ok {
				poolMu.Lock()
				workers--
				poolMu.Unlock()
				idleOnce.Do(func() { close(idle) })
				return
			}
			p, n, err := e.Ask(work, evalID, r)
			mu.Lock()
			prog.Requests += n
			mu.Unlock()
			if err == nil {
				if _, err = e.Store.AddPrediction(context.WithoutCancel(work), p); err == nil {
					mu.Lock()
					prog.Stored++
					prog.Asked++
					prog.Usage = prog.Usage.Add(p.Usage)
					snap := prog
					mu.Unlock()
					if e.OnAnswer != nil {
						e.OnAnswer(snap)
					}
					continue
				}
			}
			var fe *FatalError
			switch {
			case errors.As(err, &fe):
				mu.Lock()
				if fatal == nil {
					fatal = err
				}
				mu.Unlock()
				stopWith(corpus.EvalFailed, err.Error())
			case errors.Is(err, ErrOutage):
				stopWith(corpus.EvalPaused, fmt.Sprintf("paused: %s; check the endpoint, then `correctly eval --resume %s`", e.Control.GaveUp(), evalID))
			case work.Err() != nil:
			default:
				mu.Lock()
				failures[r.Index]++
				retry := failures[r.Index] <= e.ItemRetries
				if retry {
					queue = append(queue, r)
				}
				mu.Unlock()
				e.Log.Warn().Err(err).Int("item", r.Index).Bool("retry", retry).Msg("item failed")
			}
		}
	}
	tick := time.NewTicker(200 * time.Millisecond)
spawn:
	for {
		poolMu.Lock()
		for workers < e.Control.Limit() {
			workers++
			wg.Add(1)
			go worker()
		}
		poolMu.Unlock()
		select {
		case <-idle:
			break spawn
		case <-work.Done():
			break spawn
		case <-e.Control.Changed():
		case <-tick.C:
			e.Control.Tick()
			if msg := e.Control.GaveUp(); msg != "" {
				stopWith(corpus.EvalPaused, fmt.Sprintf("paused: %s; check the endpoint, then `correctly eval --resume %s`", msg, evalID))
			}
		}
	}
	tick.Stop()
	wg.Wait()
	cancel()

	switch {
	case prog.Status != "":
	case ctx.Err() != nil:
		prog.Status, prog.Message = corpus.EvalStopped, fmt.Sprintf("interrupted; resume with `correctly eval --resume %s`", evalID)
	case prog.Stored < prog.Total:
		prog.Status = corpus.EvalStopped
		prog.Message = fmt.Sprintf("%d items still have no answer (their requests kept failing); resume with `correctly eval --resume %s`", prog.Total-prog.Stored, evalID)
	default:
		prog.Status = corpus.EvalDone
	}
	if fatal != nil {
		return prog, fatal
	}
	if ctx.Err() != nil {
		return prog, fmt.Errorf("eval %s: %w", evalID, ErrInterrupted)
	}
	return prog, nil
}
