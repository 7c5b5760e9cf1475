package corpus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// AddPrompt stores a prompt version; adding a version that exists is a no-op (versions are immutable).
// It reports whether the version is new.
func (s *Store) AddPrompt(ctx context.Context, p *Prompt) (bool, error) {
	if p.CreatedAt.IsZero() {
		p.CreatedAt = time.Now().UTC()
	}
	_, err := s.C(Prompts).InsertOne(ctx, p)
	if IsDuplicate(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store prompt %s@%s: %w", p.Name, short(p.ID), err)
	}
	return true, nil
}

// FindPrompt resolves NAME (the latest version) or NAME@PREFIX (a version whose hex starts with
// PREFIX, at least 8 characters).
func (s *Store) FindPrompt(ctx context.Context, ref string) (*Prompt, error) {
	name, ver, hasVer := strings.Cut(ref, "@")
	filter := bson.D{{Key: "name", Value: name}}
	if hasVer {
		if len(ver) < 8 {
			return nil, fmt.Errorf("prompt %q: give at least 8 hex digits of the version (see `correctly prompts list`)", ref)
		}
		filter = append(filter, bson.E{Key: "_id", Value: bson.D{{Key: "$gte", Value: ver}, {Key: "$lt", Value: ver + "g"}}})
	}
	cur, err := s.C(Prompts).Find(ctx, filter, options.Find().SetSort(bson.D{{Key: "created_at", Value: -1}}).SetLimit(2))
	if err != nil {
		return nil, fmt.Errorf("find prompt %q: %w", ref, err)
	}
	var found []Prompt
	if err := cur.All(ctx, &found); err != nil {
		return nil, fmt.Errorf("find prompt %q: %w", ref, err)
	}
	switch {
	case len(found) == 0:
		return nil, fmt.Errorf("prompt %q: %w: add it with `correctly prompts add FILE` (or `correctly init` for the built-in schemas); `correctly prompts list` shows what is stored", ref, ErrNotFound)
	case hasVer && len(found) > 1:
		return nil, fmt.Errorf("prompt %q is ambiguous: give more hex digits of the version", ref)
	}
	return &found[0], nil
}

// PromptByVersion loads one prompt version by its full hex.
func (s *Store) PromptByVersion(ctx context.Context, version string) (*Prompt, error) {
	var p Prompt
	err := s.C(Prompts).FindOne(ctx, bson.D{{Key: "_id", Value: version}}).Decode(&p)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, fmt.Errorf("prompt version %s: %w", short(version), ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("load prompt version %s: %w", short(version), err)
	}
	return &p, nil
}

// PromptList returns every stored prompt version, newest first.
func (s *Store) PromptList(ctx context.Context) ([]Prompt, error) {
	var out []Prompt
	if err := s.findAll(ctx, Prompts, bson.D{}, options.Find().SetSort(bson.D{{Key: "created_at", Value: -1}}), &out); err != nil {
		return nil, fmt.Errorf("list prompts: %w", err)
	}
	return out, nil
}

// CreateRun inserts a new run.
func (s *Store) CreateRun(ctx context.Context, r *Run) error {
	if _, err := s.C(Runs).InsertOne(ctx, r); err != nil {
		return fmt.Errorf("create run %s: %w", r.ID, err)
	}
	return nil
}

// GetRun loads a run.
func (s *Store) GetRun(ctx context.Context, id string) (*Run, error) {
	var r Run
	err := s.C(Runs).FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&r)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, fmt.Errorf("run %s: %w (see `correctly runs list`)", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("load run %s: %w", id, err)
	}
	return &r, nil
}

// UpdateRunSettings saves a run's settings and target (a resume may raise caps).
func (s *Store) UpdateRunSettings(ctx context.Context, r *Run) error {
	_, err := s.C(Runs).UpdateOne(ctx, bson.D{{Key: "_id", Value: r.ID}}, bson.D{{Key: "$set", Value: bson.D{
		{Key: "settings", Value: r.Settings}, {Key: "max_attempts", Value: r.MaxAttempts}, {Key: "updated_at", Value: time.Now().UTC()},
	}}})
	if err != nil {
		return fmt.Errorf("update run %s: %w", r.ID, err)
	}
	return nil
}

// RunList returns runs, newest first.
func (s *Store) RunList(ctx context.Context, limit int) ([]Run, error) {
	opts := options.Find().SetSort(bson.D{{Key: "created_at", Value: -1}})
	if limit > 0 {
		opts.SetLimit(int64(limit))
	}
	var out []Run
	if err := s.findAll(ctx, Runs, bson.D{}, opts, &out); err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	return out, nil
}

// RecordOutcomes returns the outcome fields (slot, status, reasons, usage, cost, latency) of every
// record of a run: what a run's counters are derived from.
func (s *Store) RecordOutcomes(ctx context.Context, runID string) ([]Record, error) {
	var out []Record
	opts := options.Find().SetProjection(bson.D{
		{Key: "slot", Value: 1}, {Key: "status", Value: 1}, {Key: "reasons", Value: 1},
		{Key: "usage", Value: 1}, {Key: "cost", Value: 1}, {Key: "latency_ms", Value: 1},
	})
	if err := s.findAll(ctx, Records, bson.D{{Key: "run_id", Value: runID}}, opts, &out); err != nil {
		return nil, fmt.Errorf("read outcomes of run %s: %w", runID, err)
	}
	return out, nil
}

// RunClaims returns every claim of a run.
func (s *Store) RunClaims(ctx context.Context, runID string) ([]Claim, error) {
	var out []Claim
	if err := s.findAll(ctx, Claims, bson.D{{Key: "run_id", Value: runID}}, nil, &out); err != nil {
		return nil, fmt.Errorf("read claims of run %s: %w", runID, err)
	}
	return out, nil
}

// SlotSteps returns the step answers stored for one slot, oldest first.
func (s *Store) SlotSteps(ctx context.Context, runID string, slot int) ([]Step, error) {
	var out []Step
	err := s.findAll(ctx, Steps, bson.D{{Key: "run_id", Value: runID}, {Key: "slot", Value: slot}},
		options.Find().SetSort(bson.D{{Key: "created_at", Value: 1}}), &out)
	if err != nil {
		return nil, fmt.Errorf("read steps of slot %d: %w", slot, err)
	}
	return out, nil
}

// RecordQuery selects records; empty fields match everything.
type RecordQuery struct {
	RunIDs  []string
	Prompt  string // schema name, or name@version-prefix
	Status  string
	Limit   int
	Project bool // leave out step answers (the bulk of a record)
}

func (q RecordQuery) filter() bson.D {
	f := bson.D{}
	if len(q.RunIDs) == 1 {
		f = append(f, bson.E{Key: "run_id", Value: q.RunIDs[0]})
	} else if len(q.RunIDs) > 1 {
		f = append(f, bson.E{Key: "run_id", Value: bson.D{{Key: "$in", Value: q.RunIDs}}})
	}
	if q.Prompt != "" {
		name, ver, ok := strings.Cut(q.Prompt, "@")
		f = append(f, bson.E{Key: "prompt", Value: name})
		if ok {
			f = append(f, bson.E{Key: "prompt_version", Value: bson.D{{Key: "$gte", Value: ver}, {Key: "$lt", Value: ver + "g"}}})
		}
	}
	if q.Status != "" {
		f = append(f, bson.E{Key: "status", Value: q.Status})
	}
	return f
}

// Records returns the records matching q in (run, slot) order.
func (s *Store) Records(ctx context.Context, q RecordQuery) ([]Record, error) {
	opts := options.Find().SetSort(bson.D{{Key: "run_id", Value: 1}, {Key: "slot", Value: 1}})
	if q.Limit > 0 {
		opts.SetLimit(int64(q.Limit))
	}
	if q.Project {
		opts.SetProjection(bson.D{{Key: "steps", Value: 0}})
	}
	var out []Record
	if err := s.findAll(ctx, Records, q.filter(), opts, &out); err != nil {
		return nil, fmt.Errorf("list records: %w", err)
	}
	return out, nil
}

// EachRecord streams the records matching q to fn, in (run, slot) order, without holding them all.
func (s *Store) EachRecord(ctx context.Context, q RecordQuery, fn func(*Record) error) error {
	opts := options.Find().SetSort(bson.D{{Key: "run_id", Value: 1}, {Key: "slot", Value: 1}}).SetProjection(bson.D{{Key: "steps", Value: 0}})
	if q.Limit > 0 {
		opts.SetLimit(int64(q.Limit))
	}
	cur, err := s.C(Records).Find(ctx, q.filter(), opts)
	if err != nil {
		return fmt.Errorf("read records: %w", err)
	}
	defer cur.Close(ctx)
	for cur.Next(ctx) {
		var r Record
		if err := cur.Decode(&r); err != nil {
			return fmt.Errorf("decode record: %w", err)
		}
		if err := fn(&r); err != nil {
			return err
		}
	}
	return cur.Err()
}

// GetRecord loads one record.
func (s *Store) GetRecord(ctx context.Context, id string) (*Record, error) {
	var r Record
	err := s.C(Records).FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&r)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, fmt.Errorf("record %s: %w (see `correctly corpus list`)", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("load record %s: %w", id, err)
	}
	return &r, nil
}

// SetRecordStatus relabels records (dedup scan --apply); it is the only update of a written record.
func (s *Store) SetRecordStatus(ctx context.Context, id, status, dupOf string, distance float64) error {
	_, err := s.C(Records).UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "$set", Value: bson.D{
		{Key: "status", Value: status}, {Key: "dup_of", Value: dupOf}, {Key: "distance", Value: distance},
	}}})
	if err != nil {
		return fmt.Errorf("relabel record %s: %w", id, err)
	}
	return nil
}

func (s *Store) findAll(ctx context.Context, coll string, filter bson.D, opts *options.FindOptionsBuilder, out any) error {
	var cur *mongo.Cursor
	var err error
	if opts == nil {
		cur, err = s.C(coll).Find(ctx, filter)
	} else {
		cur, err = s.C(coll).Find(ctx, filter, opts)
	}
	if err != nil {
		return err
	}
	return cur.All(ctx, out)
}

func short(v string) string {
	if len(v) > 12 {
		return v[:12]
	}
	return v
}
