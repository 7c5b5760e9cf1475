package corpus

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// AddPrompt stores a prompt version; adding a version that exists is a no-op (versions are immutable).
// It reports whether the version is new.
func (s *Store) AddPrompt(ctx context.Context, p *Prompt) (bool, error) {
	if p.CreatedAt.IsZero() {
		p.CreatedAt = time.Now().UTC()
	}
	err := s.docs.insert(ctx, Prompts, []any{p})[0]
	if IsDuplicate(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store prompt %s@%s: %w", p.Name, short(p.ID), err)
	}
	return true, nil
}

// versionPrefix selects the hex versions that start with prefix.
func versionPrefix(field, prefix string) []cond {
	return []cond{gte(field, prefix), lt(field, prefix+"g")}
}

// FindPrompt resolves NAME (the latest version) or NAME@PREFIX (a version whose hex starts with
// PREFIX, at least 8 characters).
func (s *Store) FindPrompt(ctx context.Context, ref string) (*Prompt, error) {
	name, ver, hasVer := strings.Cut(ref, "@")
	f := filter{eq("name", name)}
	if hasVer {
		if len(ver) < 8 {
			return nil, fmt.Errorf("prompt %q: give at least 8 hex digits of the version (see `correctly prompts list`)", ref)
		}
		f = append(f, versionPrefix("_id", ver)...)
	}
	var found []Prompt
	if err := decodeAll(ctx, s.docs, Prompts, query{filter: f, sort: []order{{"created_at", true}}, limit: 2}, &found); err != nil {
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
	err := decodeOne(ctx, s.docs, Prompts, byID(version), &p)
	if errors.Is(err, ErrNotFound) {
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
	if err := decodeAll(ctx, s.docs, Prompts, query{sort: []order{{"created_at", true}}}, &out); err != nil {
		return nil, fmt.Errorf("list prompts: %w", err)
	}
	return out, nil
}

// CreateRun inserts a new run.
func (s *Store) CreateRun(ctx context.Context, r *Run) error {
	if err := s.docs.insert(ctx, Runs, []any{r})[0]; err != nil {
		return fmt.Errorf("create run %s: %w", r.ID, err)
	}
	return nil
}

// GetRun loads a run.
func (s *Store) GetRun(ctx context.Context, id string) (*Run, error) {
	var r Run
	err := decodeOne(ctx, s.docs, Runs, byID(id), &r)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("run %s: %w (see `correctly runs list`)", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("load run %s: %w", id, err)
	}
	return &r, nil
}

// UpdateRunSettings saves a run's settings and target (a resume may raise caps).
func (s *Store) UpdateRunSettings(ctx context.Context, r *Run) error {
	_, err := s.docs.update(ctx, Runs, filter{eq("_id", r.ID)}, bson.D{
		{Key: "settings", Value: r.Settings}, {Key: "max_attempts", Value: r.MaxAttempts}, {Key: "updated_at", Value: time.Now().UTC()},
	}, nil, false)
	if err != nil {
		return fmt.Errorf("update run %s: %w", r.ID, err)
	}
	return nil
}

// SetRunStatus records how a run stands (running, done, paused...) and why.
func (s *Store) SetRunStatus(ctx context.Context, id, status, message string, at time.Time) error {
	_, err := s.docs.update(ctx, Runs, filter{eq("_id", id)}, bson.D{
		{Key: "status", Value: status}, {Key: "message", Value: message}, {Key: "updated_at", Value: at},
	}, nil, false)
	if err != nil {
		return fmt.Errorf("update status of run %s: %w", id, err)
	}
	return nil
}

// RunList returns runs, newest first.
func (s *Store) RunList(ctx context.Context, limit int) ([]Run, error) {
	var out []Run
	if err := decodeAll(ctx, s.docs, Runs, query{sort: []order{{"created_at", true}}, limit: limit}, &out); err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	return out, nil
}

// RecordOutcomes returns the outcome fields (slot, status, reasons, usage, cost, latency) of every
// record of a run: what a run's counters are derived from.
func (s *Store) RecordOutcomes(ctx context.Context, runID string) ([]Record, error) {
	var out []Record
	q := query{filter: filter{eq("run_id", runID)}, sort: []order{{"run_id", false}, {"slot", false}}, omit: []string{"fields", "edits", "steps", "dims", "flags"}}
	if err := decodeAll(ctx, s.docs, Records, q, &out); err != nil {
		return nil, fmt.Errorf("read outcomes of run %s: %w", runID, err)
	}
	return out, nil
}

// RunClaims returns every claim of a run.
func (s *Store) RunClaims(ctx context.Context, runID string) ([]Claim, error) {
	var out []Claim
	if err := decodeAll(ctx, s.docs, Claims, query{filter: filter{eq("run_id", runID)}}, &out); err != nil {
		return nil, fmt.Errorf("read claims of run %s: %w", runID, err)
	}
	return out, nil
}

// FinishClaim removes the claim of a slot whose outcome is written: the record guards the slot from
// then on, so the claims of a run are only its unfinished slots, and reading them stays cheap
// however long the run.
func (s *Store) FinishClaim(ctx context.Context, claimID string) error {
	if err := s.Remover(Claims).Remove(ctx, claimID); err != nil {
		return fmt.Errorf("finish claim %s: %w", claimID, err)
	}
	return nil
}

// FinishClaims removes several claims of finished slots at once.
func (s *Store) FinishClaims(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	if _, err := s.docs.remove(ctx, Claims, filter{in("_id", ids)}); err != nil {
		return fmt.Errorf("finish claims: %w", err)
	}
	return nil
}

// RecordSlots returns which of the given slots of a run have an outcome.
func (s *Store) RecordSlots(ctx context.Context, runID string, slots []int) (map[int]bool, error) {
	out := map[int]bool{}
	const batch = 500
	for lo := 0; lo < len(slots); lo += batch {
		hi := min(lo+batch, len(slots))
		err := s.docs.find(ctx, Records, query{filter: filter{eq("run_id", runID), in("slot", slots[lo:hi])}, sort: recordOrder}, func(raw bson.Raw) error {
			if v, err := raw.LookupErr("slot"); err == nil {
				if n, ok := v.AsInt64OK(); ok {
					out[int(n)] = true
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read outcomes of run %s: %w", runID, err)
		}
	}
	return out, nil
}

// AllRecordSlots returns the slots of a run that have an outcome.
func (s *Store) AllRecordSlots(ctx context.Context, runID string) (map[int]bool, error) {
	out := map[int]bool{}
	err := s.docs.find(ctx, Records, query{filter: filter{eq("run_id", runID)}, sort: recordOrder}, func(raw bson.Raw) error {
		if v, err := raw.LookupErr("slot"); err == nil {
			if n, ok := v.AsInt64OK(); ok {
				out[int(n)] = true
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read outcomes of run %s: %w", runID, err)
	}
	return out, nil
}

// MaxSlot returns the highest slot of a run that was claimed or has an outcome, -1 when none.
func (s *Store) MaxSlot(ctx context.Context, runID string) (int, error) {
	top := -1
	read := func(raw bson.Raw) error {
		if v, err := raw.LookupErr("slot"); err == nil {
			if n, ok := v.AsInt64OK(); ok {
				top = max(top, int(n))
			}
		}
		return nil
	}
	byRun := filter{eq("run_id", runID)}
	if err := s.docs.find(ctx, Records, query{filter: byRun, sort: []order{{"run_id", true}, {"slot", true}}, limit: 1}, read); err != nil {
		return 0, fmt.Errorf("read the last slot of run %s: %w", runID, err)
	}
	if err := s.docs.find(ctx, Claims, query{filter: byRun, sort: []order{{"run_id", true}, {"slot", true}, {"attempt", true}}, limit: 1}, read); err != nil {
		return 0, fmt.Errorf("read the last slot of run %s: %w", runID, err)
	}
	return top, nil
}

// RenewClaims extends the leases of the given slots of a run that owner holds, until expires.
func (s *Store) RenewClaims(ctx context.Context, runID, owner string, slots []int, expires time.Time) error {
	_, err := s.docs.update(ctx, Claims, filter{eq("run_id", runID), eq("owner", owner), in("slot", slots)},
		bson.D{{Key: "expires_at", Value: expires}}, nil, false)
	if err != nil {
		return fmt.Errorf("renew claims of run %s: %w", runID, err)
	}
	return nil
}

// ReleaseClaims lets other workers take over the given slots of a run that owner holds, at once.
func (s *Store) ReleaseClaims(ctx context.Context, runID, owner string, slots []int) error {
	return s.RenewClaims(ctx, runID, owner, slots, time.Unix(0, 0).UTC())
}

// SlotSteps returns the step answers stored for one slot, oldest first.
func (s *Store) SlotSteps(ctx context.Context, runID string, slot int) ([]Step, error) {
	var out []Step
	q := query{filter: filter{eq("run_id", runID), eq("slot", slot)}, sort: []order{{"run_id", false}, {"slot", false}, {"created_at", false}}}
	if err := decodeAll(ctx, s.docs, Steps, q, &out); err != nil {
		return nil, fmt.Errorf("read steps of slot %d: %w", slot, err)
	}
	return out, nil
}

// RunSteps returns every step answer stored for a run, by slot, oldest first.
func (s *Store) RunSteps(ctx context.Context, runID string) ([]Step, error) {
	var out []Step
	q := query{filter: filter{eq("run_id", runID)}, sort: []order{{"run_id", false}, {"slot", false}, {"created_at", false}}}
	if err := decodeAll(ctx, s.docs, Steps, q, &out); err != nil {
		return nil, fmt.Errorf("read steps of run %s: %w", runID, err)
	}
	return out, nil
}

// CountSteps counts the step answers stored for a run.
func (s *Store) CountSteps(ctx context.Context, runID string) (int64, error) {
	return s.docs.count(ctx, Steps, filter{eq("run_id", runID)})
}

// RecordQuery selects records; empty fields match everything.
type RecordQuery struct {
	RunIDs  []string
	Prompt  string // schema name, or name@version-prefix
	Status  string
	Limit   int
	Project bool // leave out step answers (the bulk of a record)
}

// recordFilter turns q into a filter the record indexes serve: a prompt selects the runs of that
// prompt (and version), which the (run_id, slot) and (status, run_id, slot) indexes then read in
// order. none reports that q can match no record.
func (s *Store) recordFilter(ctx context.Context, q RecordQuery) (f filter, none bool, err error) {
	runs := q.RunIDs
	if q.Prompt != "" {
		ids, err := s.runsOfPrompt(ctx, q.Prompt)
		if err != nil {
			return nil, false, err
		}
		if len(q.RunIDs) > 0 {
			keep := map[string]bool{}
			for _, id := range ids {
				keep[id] = true
			}
			var both []string
			for _, id := range q.RunIDs {
				if keep[id] {
					both = append(both, id)
				}
			}
			ids = both
		}
		if len(ids) == 0 {
			return nil, true, nil
		}
		runs = ids
	}
	if q.Status != "" {
		f = append(f, eq("status", q.Status))
	}
	switch len(runs) {
	case 0:
	case 1:
		f = append(f, eq("run_id", runs[0]))
	default:
		sorted := append([]string(nil), runs...)
		sort.Strings(sorted)
		f = append(f, in("run_id", sorted))
	}
	return f, false, nil
}

// runsOfPrompt returns the IDs of the runs of a schema name, or of name@version-prefix, sorted.
func (s *Store) runsOfPrompt(ctx context.Context, ref string) ([]string, error) {
	name, ver, hasVer := strings.Cut(ref, "@")
	f := filter{eq("prompt", name)}
	if hasVer {
		f = append(f, versionPrefix("prompt_version", ver)...)
	}
	var ids []string
	err := s.docs.find(ctx, Runs, query{filter: f}, func(raw bson.Raw) error {
		if v, err := raw.LookupErr("_id"); err == nil {
			ids = append(ids, v.StringValue())
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("find the runs of prompt %q: %w", ref, err)
	}
	sort.Strings(ids)
	return ids, nil
}

var recordOrder = []order{{"run_id", false}, {"slot", false}}

// Records returns the records matching q in (run, slot) order.
func (s *Store) Records(ctx context.Context, q RecordQuery) ([]Record, error) {
	out := []Record{}
	err := s.eachRecord(ctx, q, q.Project, func(r *Record) error {
		out = append(out, *r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list records: %w", err)
	}
	return out, nil
}

// EachRecord streams the records matching q to fn, in (run, slot) order, without holding them all,
// and without their step accounting.
func (s *Store) EachRecord(ctx context.Context, q RecordQuery, fn func(*Record) error) error {
	return s.eachRecord(ctx, q, true, fn)
}

func (s *Store) eachRecord(ctx context.Context, q RecordQuery, omitSteps bool, fn func(*Record) error) error {
	f, none, err := s.recordFilter(ctx, q)
	if err != nil || none {
		return err
	}
	dq := query{filter: f, sort: recordOrder, limit: q.Limit}
	if omitSteps {
		dq.omit = []string{"steps"}
	}
	err = s.docs.find(ctx, Records, dq, func(raw bson.Raw) error {
		var r Record
		if err := bson.Unmarshal(raw, &r); err != nil {
			return fmt.Errorf("decode record: %w", err)
		}
		return fn(&r)
	})
	if err != nil {
		return fmt.Errorf("read records: %w", err)
	}
	return nil
}

// GetRecord loads one record.
func (s *Store) GetRecord(ctx context.Context, id string) (*Record, error) {
	var r Record
	err := decodeOne(ctx, s.docs, Records, byID(id), &r)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("record %s: %w (see `correctly corpus list`)", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("load record %s: %w", id, err)
	}
	return &r, nil
}

// InsertRecord writes a slot's outcome through the group-commit inserter; the unique (run_id, slot)
// index makes the first finisher win (IsDuplicate for the others).
func (s *Store) InsertRecord(ctx context.Context, r *Record) error {
	return s.Inserter(Records).Insert(ctx, r)
}

// AddRecords writes many records in one write (imports, fixtures), each counted in its run's
// summary; a record whose (run, slot) is taken fails the whole call with an IsDuplicate error.
func (s *Store) AddRecords(ctx context.Context, recs []*Record) error {
	const batch = 1000
	for lo := 0; lo < len(recs); lo += batch {
		hi := min(lo+batch, len(recs))
		docs := make([]any, 0, hi-lo)
		for _, r := range recs[lo:hi] {
			docs = append(docs, r)
		}
		var stored []any
		var first error
		for i, err := range s.docs.insert(ctx, Records, docs) {
			if err == nil {
				stored = append(stored, docs[i])
			} else if first == nil {
				first = fmt.Errorf("add record %s: %w", recs[lo+i].ID, err)
			}
		}
		s.countRecords(ctx, stored)
		if first != nil {
			return first
		}
	}
	return nil
}

// SetRecordStatus relabels a record (dedup scan --apply); it is the only update of a written record.
func (s *Store) SetRecordStatus(ctx context.Context, id, status, dupOf string, distance float64) error {
	old, err := s.GetRecord(ctx, id)
	if err != nil {
		return err
	}
	_, err = s.docs.update(ctx, Records, filter{eq("_id", id)}, bson.D{
		{Key: "status", Value: status}, {Key: "dup_of", Value: dupOf}, {Key: "distance", Value: distance},
	}, nil, false)
	if err != nil {
		return fmt.Errorf("relabel record %s: %w", id, err)
	}
	relabelled := *old
	relabelled.Status = status
	return s.recount(ctx, old, &relabelled)
}

func short(v string) string {
	if len(v) > 12 {
		return v[:12]
	}
	return v
}
