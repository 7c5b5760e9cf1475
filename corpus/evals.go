package corpus

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Collections of model evaluations.
const (
	Evals       = "evals"
	Predictions = "predictions"
)

// Eval statuses.
const (
	EvalRunning = "running"
	EvalDone    = "done"
	EvalStopped = "stopped" // interrupted, or some items still without an answer; resumable
	EvalPaused  = "paused"  // the endpoint kept failing; resumable
	EvalFailed  = "failed"  // a fatal API error (unknown model, bad key); resumable once fixed
)

// Eval is one evaluation of a correction model on a test set: what was asked of which model, and
// how its corrections score against the references. Its scores are filled when it ends.
type Eval struct {
	ID    string `bson:"_id" json:"id"`
	Label string `bson:"label,omitempty" json:"label,omitempty"` // the user's name for the model
	Model string `bson:"model" json:"model"`
	// Endpoint is the API's base URL with credentials masked; empty when the predictions were made
	// elsewhere (a train run's predictions.jsonl, a file). EndpointID fingerprints URL and key.
	Endpoint   string `bson:"endpoint,omitempty" json:"endpoint,omitempty"`
	EndpointID string `bson:"endpoint_id,omitempty" json:"endpoint_id,omitempty"`
	// Source says where the answers come from: endpoint, train_run or file.
	Source  string      `bson:"source" json:"source"`
	TestSet EvalTestSet `bson:"test_set" json:"test_set"`
	// TrainRun is the training run that made the model, when known; PromptVersions are the prompt
	// versions whose records trained it.
	TrainRun       string   `bson:"train_run,omitempty" json:"train_run,omitempty"`
	PromptVersions []string `bson:"prompt_versions,omitempty" json:"prompt_versions,omitempty"`
	// RequestPrompt is the prompt version whose train templates built the requests of an M2 test set.
	RequestPrompt string       `bson:"request_prompt,omitempty" json:"request_prompt,omitempty"`
	Settings      EvalSettings `bson:"settings" json:"settings"`
	Status        string       `bson:"status" json:"status"`
	Message       string       `bson:"message,omitempty" json:"message,omitempty"`

	EvalScores `bson:",inline"`
	// Unreadable lists answers that could not be read as a correction (counted as no correction),
	// at most MaxListed of them.
	Unreadable []EvalItem `bson:"unreadable,omitempty" json:"unreadable,omitempty"`

	CreatedAt time.Time `bson:"created_at" json:"created_at"`
	UpdatedAt time.Time `bson:"updated_at" json:"updated_at"`
}

// MaxListed is how many unreadable answers an Eval lists.
const MaxListed = 50

// EvalTestSet names the test set an eval ran on. Hash is the hex SHA-256 of its items (each
// source and its references, in order): two evals with the same hash saw the same sentences.
type EvalTestSet struct {
	Kind  string `bson:"kind" json:"kind"`                     // split or m2
	Name  string `bson:"name" json:"name"`                     // the split's name, or the M2 file as given
	File  string `bson:"file,omitempty" json:"file,omitempty"` // the M2 file's absolute path
	Part  string `bson:"part,omitempty" json:"part,omitempty"`
	Hash  string `bson:"hash" json:"hash"`
	Items int    `bson:"items" json:"items"`
}

// EvalSettings are the request parameters and pacing an eval was started with; a resume reuses them.
type EvalSettings struct {
	MaxTokens      int     `bson:"max_tokens,omitempty" json:"max_tokens,omitempty"`
	Concurrency    int     `bson:"fixed_concurrency,omitempty" json:"concurrency,omitempty"`
	MaxConcurrency int     `bson:"concurrency_bound,omitempty" json:"max_concurrency,omitempty"`
	RPM            float64 `bson:"rpm,omitempty" json:"rpm,omitempty"`
	TPM            float64 `bson:"tpm,omitempty" json:"tpm,omitempty"`
	PriceIn        float64 `bson:"price_in" json:"price_in"`   // USD per 1M prompt tokens
	PriceOut       float64 `bson:"price_out" json:"price_out"` // USD per 1M completion tokens
}

// EvalScores are how a model's corrections compare with the references. Edits are spans of the
// source's tokens with their correction; a hypothesis edit is right when a reference has the same
// start, end and correction. Precision is 1 when the model made no edit and recall 1 when the
// references have none, as ERRANT and the M2 scorer count them.
type EvalScores struct {
	Items     int     `bson:"items" json:"items"`         // sentences of the test set
	Answered  int     `bson:"answered" json:"answered"`   // sentences scored: an answer came back
	TP        int     `bson:"tp" json:"tp"`               // hypothesis edits a reference has
	FP        int     `bson:"fp" json:"fp"`               // hypothesis edits no reference has
	FN        int     `bson:"fn" json:"fn"`               // reference edits the model did not make
	Precision float64 `bson:"precision" json:"precision"` // TP / (TP + FP)
	Recall    float64 `bson:"recall" json:"recall"`       // TP / (TP + FN)
	F05       float64 `bson:"f05" json:"f0.5"`            // F-beta with beta 0.5: precision weighs twice recall
	// Exact counts sentences corrected exactly as a reference; ExactMatch is its share of answered.
	Exact      int     `bson:"exact" json:"exact"`
	ExactMatch float64 `bson:"exact_match" json:"exact_match"`
	// NoEdit counts sentences a reference leaves as they are; OverCorrected, those of them the model
	// changed anyway; OverCorrection = OverCorrected / NoEdit.
	NoEdit         int             `bson:"no_edit" json:"no_edit"`
	OverCorrected  int             `bson:"over_corrected" json:"over_corrected"`
	OverCorrection float64         `bson:"over_correction" json:"over_correction"`
	Unreadables    int             `bson:"unreadables" json:"unreadables"` // answers that could not be read: scored as no correction
	Types          []EvalTypeScore `bson:"types,omitempty" json:"types"`

	Requests     int     `bson:"requests" json:"requests"`
	Usage        Usage   `bson:"usage" json:"usage"`
	Cost         float64 `bson:"cost" json:"cost_usd"`
	LatencyP50MS int64   `bson:"latency_p50_ms" json:"latency_p50_ms"` // over answers from an endpoint
	LatencyP95MS int64   `bson:"latency_p95_ms" json:"latency_p95_ms"`
}

// EvalTypeScore is the span score of one error type: true positives and misses are typed by the
// reference edit, false positives by the model's.
type EvalTypeScore struct {
	Type      string  `bson:"type" json:"type"`
	TP        int     `bson:"tp" json:"tp"`
	FP        int     `bson:"fp" json:"fp"`
	FN        int     `bson:"fn" json:"fn"`
	Precision float64 `bson:"precision" json:"precision"`
	Recall    float64 `bson:"recall" json:"recall"`
	F05       float64 `bson:"f05" json:"f0.5"`
}

// EvalItem is one sentence of an eval as listed: its number in the test set, what the model was
// given, and what it answered.
type EvalItem struct {
	Index  int    `bson:"index" json:"index"`
	Source string `bson:"source" json:"source"`
	Answer string `bson:"answer" json:"answer"`
}

// Prediction is one answer of the model to one item of an eval, stored the moment it arrives under
// the unique (eval, index): a resumed eval never asks for it again.
type Prediction struct {
	ID     string `bson:"_id" json:"id"`
	EvalID string `bson:"eval_id" json:"eval_id"`
	Index  int    `bson:"index" json:"index"`
	Raw    string `bson:"raw" json:"raw"`
	Model  string `bson:"model,omitempty" json:"model,omitempty"`
	// Error is set for an answer that was paid for but not kept (far larger than max_tokens).
	Error     string    `bson:"error,omitempty" json:"error,omitempty"`
	Usage     Usage     `bson:"usage" json:"usage"`
	LatencyMS int64     `bson:"latency_ms" json:"latency_ms"`
	CreatedAt time.Time `bson:"created_at" json:"created_at"`
}

// PredictionID names the prediction of item index of an eval.
func PredictionID(evalID string, index int) string { return fmt.Sprintf("%s/%06d", evalID, index) }

// CreateEval inserts a new eval; an ID that exists is an error.
func (s *Store) CreateEval(ctx context.Context, e *Eval) error {
	if err := s.docs.insert(ctx, Evals, []any{e})[0]; err != nil {
		return fmt.Errorf("create eval %s: %w", e.ID, err)
	}
	return nil
}

// SaveEval replaces a stored eval with e (its status, scores and settings).
func (s *Store) SaveEval(ctx context.Context, e *Eval) error {
	n, err := s.docs.count(ctx, Evals, filter{eq("_id", e.ID)})
	if err != nil {
		return fmt.Errorf("save eval %s: %w", e.ID, err)
	}
	if n == 0 {
		return fmt.Errorf("save eval %s: %w", e.ID, ErrNotFound)
	}
	if err := s.docs.replace(ctx, Evals, e.ID, e); err != nil {
		return fmt.Errorf("save eval %s: %w", e.ID, err)
	}
	return nil
}

// GetEval loads one eval; ErrNotFound when there is none with that ID.
func (s *Store) GetEval(ctx context.Context, id string) (*Eval, error) {
	var e Eval
	err := decodeOne(ctx, s.docs, Evals, byID(id), &e)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("eval %s: %w (see `correctly eval list`)", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("load eval %s: %w", id, err)
	}
	return &e, nil
}

// EvalList returns evals newest first, at most limit of them (0: all).
func (s *Store) EvalList(ctx context.Context, limit int) ([]Eval, error) {
	out := []Eval{}
	q := query{sort: []order{{"created_at", true}}, limit: limit}
	if err := decodeAll(ctx, s.docs, Evals, q, &out); err != nil {
		return nil, fmt.Errorf("list evals: %w", err)
	}
	return out, nil
}

// AddPrediction stores one answer under its (eval, index). It reports false, and no error, when that
// item already has one: the first answer stored wins. Concurrent calls are folded into group commits.
func (s *Store) AddPrediction(ctx context.Context, p *Prediction) (bool, error) {
	p.ID = PredictionID(p.EvalID, p.Index)
	if p.CreatedAt.IsZero() {
		p.CreatedAt = time.Now().UTC()
	}
	err := s.Inserter(Predictions).Insert(ctx, p)
	if IsDuplicate(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store answer %d of eval %s: %w", p.Index, p.EvalID, err)
	}
	return true, nil
}

// EvalPredictions returns every answer stored for an eval, by item index.
func (s *Store) EvalPredictions(ctx context.Context, evalID string) ([]Prediction, error) {
	out := []Prediction{}
	q := query{filter: filter{eq("eval_id", evalID)}, sort: []order{{"index", false}}}
	if err := decodeAll(ctx, s.docs, Predictions, q, &out); err != nil {
		return nil, fmt.Errorf("read answers of eval %s: %w", evalID, err)
	}
	return out, nil
}

// AddPredictions stores many answers at once (predictions made elsewhere), under their (eval,
// index); items that already have an answer keep it. It returns how many were stored.
func (s *Store) AddPredictions(ctx context.Context, ps []Prediction) (int, error) {
	const batch = 1000
	stored := 0
	now := time.Now().UTC()
	for lo := 0; lo < len(ps); lo += batch {
		hi := min(lo+batch, len(ps))
		docs := make([]any, 0, hi-lo)
		for i := lo; i < hi; i++ {
			p := &ps[i]
			p.ID = PredictionID(p.EvalID, p.Index)
			if p.CreatedAt.IsZero() {
				p.CreatedAt = now
			}
			docs = append(docs, p)
		}
		for _, err := range s.docs.insert(ctx, Predictions, docs) {
			switch {
			case err == nil:
				stored++
			case IsDuplicate(err):
			default:
				return stored, fmt.Errorf("store answers of eval %s: %w", ps[lo].EvalID, err)
			}
		}
	}
	return stored, nil
}
