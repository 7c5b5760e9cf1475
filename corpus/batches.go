package corpus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Collections of runs made through a provider's Batch API (generate --batch).
const (
	Batches    = "batches"
	BatchLines = "batch_lines"
)

// Batch states, as this tool knows them: written before and after every provider call, so that a
// process killed at any moment leaves enough to go on without paying twice.
const (
	BatchCreated   = "created"   // lines recorded; the file may or may not have reached the provider
	BatchUploaded  = "uploaded"  // the input file is at the provider; the batch may or may not exist
	BatchSubmitted = "submitted" // the provider's batch exists: poll it
	BatchDone      = "done"      // its output and errors are read: answers stored, failed lines marked
	BatchAbandoned = "abandoned" // never submitted; its lines are sent again in another batch
)

// Batch is one provider batch of a run. The key itself is never stored: KeyFingerprint tells which key
// made it, for when another key cannot see it.
type Batch struct {
	ID             string    `bson:"_id" json:"id"`
	RunID          string    `bson:"run_id" json:"run_id"`
	State          string    `bson:"state" json:"state"`
	FileName       string    `bson:"file_name" json:"file_name"`
	InputFileID    string    `bson:"input_file_id,omitempty" json:"input_file_id,omitempty"`
	BatchID        string    `bson:"batch_id,omitempty" json:"batch_id,omitempty"`
	BaseURL        string    `bson:"base_url" json:"base_url"`
	KeyFingerprint string    `bson:"key_fingerprint" json:"key_fingerprint"`
	Lines          int       `bson:"lines" json:"lines"`
	EstCost        float64   `bson:"est_cost" json:"est_cost_usd"`
	Status         string    `bson:"status,omitempty" json:"status,omitempty"` // the provider's status
	Completed      int       `bson:"completed" json:"completed"`
	Failed         int       `bson:"failed" json:"failed"`
	Answered       int       `bson:"answered" json:"answered"` // lines whose answers were stored
	Error          string    `bson:"error,omitempty" json:"error,omitempty"`
	CreatedAt      time.Time `bson:"created_at" json:"created_at"`
	UpdatedAt      time.Time `bson:"updated_at" json:"updated_at"`
}

// BatchLine is one request of a batch: its custom_id (the ID, which names the step answer it asks
// for) and the slot, attempt, step and try it belongs to. A line sent again after a failure is the
// same document, pointed at its new batch, with Sends counting how often it went out.
type BatchLine struct {
	ID        string    `bson:"_id" json:"custom_id"`
	RunID     string    `bson:"run_id" json:"run_id"`
	Batch     string    `bson:"batch" json:"batch"`
	Slot      int       `bson:"slot" json:"slot"`
	Attempt   int       `bson:"attempt" json:"attempt"`
	Step      string    `bson:"step" json:"step"`
	Try       int       `bson:"try" json:"try"`
	Sends     int       `bson:"sends" json:"sends"`
	Failed    bool      `bson:"failed,omitempty" json:"failed,omitempty"` // the last send came back without an answer
	CreatedAt time.Time `bson:"created_at" json:"created_at"`
}

// PutBatch writes a batch whole (insert or replace).
func (s *Store) PutBatch(ctx context.Context, b *Batch) error {
	if err := s.docs.replace(ctx, Batches, b.ID, b); err != nil {
		return fmt.Errorf("store batch %s: %w", b.ID, err)
	}
	return nil
}

// RunBatches returns a run's batches, oldest first.
func (s *Store) RunBatches(ctx context.Context, runID string) ([]Batch, error) {
	var out []Batch
	q := query{filter: filter{eq("run_id", runID)}, sort: []order{{"run_id", false}, {"created_at", false}}}
	if err := decodeAll(ctx, s.docs, Batches, q, &out); err != nil {
		return nil, fmt.Errorf("list batches of run %s: %w", runID, err)
	}
	return out, nil
}

// PutBatchLines records lines before their batch goes out: new lines are inserted, lines sent again
// replaced.
func (s *Store) PutBatchLines(ctx context.Context, lines []BatchLine) error {
	var fresh []any
	for i := range lines {
		if lines[i].Sends > 1 {
			if err := s.docs.replace(ctx, BatchLines, lines[i].ID, &lines[i]); err != nil {
				return fmt.Errorf("store batch line %s: %w", lines[i].ID, err)
			}
			continue
		}
		fresh = append(fresh, &lines[i])
	}
	for start := 0; start < len(fresh); start += 1000 {
		for i, err := range s.docs.insert(ctx, BatchLines, fresh[start:min(start+1000, len(fresh))]) {
			if err != nil {
				return fmt.Errorf("store batch line %s: %w", fresh[start+i].(*BatchLine).ID, err)
			}
		}
	}
	return nil
}

// GetBatchLine returns the line of a custom_id, or ErrNotFound.
func (s *Store) GetBatchLine(ctx context.Context, id string) (*BatchLine, error) {
	var l BatchLine
	if err := decodeOne(ctx, s.docs, BatchLines, byID(id), &l); err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, err
		}
		return nil, fmt.Errorf("read batch line %s: %w", id, err)
	}
	return &l, nil
}

// EachBatchLine calls fn with every line last sent in a batch.
func (s *Store) EachBatchLine(ctx context.Context, runID, batch string, fn func(*BatchLine) error) error {
	q := query{filter: filter{eq("run_id", runID), eq("batch", batch)}}
	err := s.docs.find(ctx, BatchLines, q, func(raw bson.Raw) error {
		var l BatchLine
		if err := bson.Unmarshal(raw, &l); err != nil {
			return fmt.Errorf("decode batch line: %w", err)
		}
		return fn(&l)
	})
	if err != nil {
		return fmt.Errorf("read lines of batch %s: %w", batch, err)
	}
	return nil
}

// FailBatchLines marks lines whose last send came back without an answer: they are sent again.
func (s *Store) FailBatchLines(ctx context.Context, ids []string) error {
	for start := 0; start < len(ids); start += 500 {
		f := filter{in("_id", ids[start:min(start+500, len(ids))])}
		if _, err := s.docs.update(ctx, BatchLines, f, bson.D{{Key: "failed", Value: true}}, nil, false); err != nil {
			return fmt.Errorf("mark failed batch lines: %w", err)
		}
	}
	return nil
}

// BatchLineSends sums how many times a run's lines were sent, and how many lines there are.
func (s *Store) BatchLineSends(ctx context.Context, runID string) (sends, lines int, err error) {
	q := query{filter: filter{eq("run_id", runID)}}
	err = s.docs.find(ctx, BatchLines, q, func(raw bson.Raw) error {
		var l BatchLine
		if err := bson.Unmarshal(raw, &l); err != nil {
			return err
		}
		sends += l.Sends
		lines++
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("count batch lines of run %s: %w", runID, err)
	}
	return sends, lines, nil
}

// BatchLinesByID returns the lines of ids that exist, by custom_id.
func (s *Store) BatchLinesByID(ctx context.Context, ids []string) (map[string]*BatchLine, error) {
	out := make(map[string]*BatchLine, len(ids))
	for start := 0; start < len(ids); start += 500 {
		var ls []BatchLine
		q := query{filter: filter{in("_id", ids[start:min(start+500, len(ids))])}}
		if err := decodeAll(ctx, s.docs, BatchLines, q, &ls); err != nil {
			return nil, fmt.Errorf("read batch lines: %w", err)
		}
		for i := range ls {
			out[ls[i].ID] = &ls[i]
		}
	}
	return out, nil
}

// AddSteps stores step answers in one write; an answer stored already is kept as it was.
func (s *Store) AddSteps(ctx context.Context, steps []*Step) error {
	docs := make([]any, len(steps))
	for i, st := range steps {
		docs[i] = st
	}
	for i, err := range s.docs.insert(ctx, Steps, docs) {
		if err != nil && !IsDuplicate(err) {
			return fmt.Errorf("store answer %s: %w", steps[i].ID, err)
		}
	}
	return nil
}
