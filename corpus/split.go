package corpus

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"syscall"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// ErrSplitExists is returned by CreateSplit when a split of that name is already stored: splits are
// immutable, so a new one needs a new name.
var ErrSplitExists = errors.New("split already exists")

// PartRatio is one part of a split and the share of records it aims at.
type PartRatio struct {
	Part  string  `bson:"part" json:"part"`
	Ratio float64 `bson:"ratio" json:"ratio"`
}

// Split is one immutable division of accepted records into parts (train, val, test, ...). Its ID is its
// name. Membership lives in the split_members collection, one document per record.
type Split struct {
	ID        string      `bson:"_id" json:"name"`
	Ratios    []PartRatio `bson:"ratios" json:"ratios"`
	Seed      int64       `bson:"seed" json:"seed"`
	Prompt    string      `bson:"prompt,omitempty" json:"prompt,omitempty"` // the --prompt filter, NAME[@VERSION]
	Runs      []string    `bson:"runs,omitempty" json:"runs,omitempty"`     // the --run filter
	GroupBy   string      `bson:"group_by" json:"group_by"`                 // cluster, key_expression or none
	Stratify  []string    `bson:"stratify,omitempty" json:"stratify,omitempty"`
	Tolerance float64     `bson:"tolerance" json:"tolerance"`
	// Near-duplicate settings the clusters were built with (and that `split check` uses).
	Embedder  string   `bson:"embedder,omitempty" json:"embedder,omitempty"`
	Fields    []string `bson:"fields,omitempty" json:"fields,omitempty"`
	Threshold float64  `bson:"threshold,omitempty" json:"threshold,omitempty"`

	Records      int            `bson:"records" json:"records"`
	Counts       map[string]int `bson:"counts" json:"counts"` // records per part
	Groups       int            `bson:"groups" json:"groups"`
	LargestGroup int            `bson:"largest_group" json:"largest_group"`
	NearPairs    int            `bson:"near_pairs" json:"near_pairs"`       // near-duplicate pairs found among the records
	MaxDeviation float64        `bson:"max_deviation" json:"max_deviation"` // worst stratum deviation, in records beyond rounding
	WithinTol    bool           `bson:"within_tolerance" json:"within_tolerance"`
	Status       string         `bson:"status" json:"status"` // SplitCreating, then SplitReady
	Host         string         `bson:"host,omitempty" json:"host,omitempty"`
	PID          int            `bson:"pid,omitempty" json:"pid,omitempty"` // of the process that created it
	CreatedAt    time.Time      `bson:"created_at" json:"created_at"`

	Extra map[string]any `bson:",inline" json:"extra,omitempty"`
}

// SplitMember puts one record in one part of one split.
type SplitMember struct {
	Split    string `bson:"split" json:"split"`
	RecordID string `bson:"record_id" json:"record_id"`
	Part     string `bson:"part" json:"part"`
	Group    int    `bson:"group" json:"group"` // the record's group (cluster) number within the split
}

// Split statuses: a split is written in two steps, its document first (claiming the name), then
// its members; only a ready split can be read.
const (
	SplitCreating = "creating"
	SplitReady    = "ready"
)

// splitBatch is how many members one InsertMany carries.
const splitBatch = 1000

// staleSplitClaim is how old an unfinished split must be before another host may take its name over;
// on the same host, a claim whose process is gone is taken over at once.
const staleSplitClaim = 24 * time.Hour

// CreateSplit stores a new split and its members. It refuses (ErrSplitExists) a name that is taken.
// The split document is inserted first, with status creating: its unique name is the claim, so two
// processes never write members of one name. The members follow in batches, then the status turns
// ready. A creation that fails removes what it wrote; one whose process died is taken over by the
// next attempt at the name.
func (s *Store) CreateSplit(ctx context.Context, sp *Split, members []SplitMember) error {
	if sp.ID == "" {
		return errors.New("create split: empty name")
	}
	for _, m := range members {
		if m.Split != sp.ID {
			return fmt.Errorf("create split %q: member %s names split %q", sp.ID, m.RecordID, m.Split)
		}
	}
	if sp.CreatedAt.IsZero() {
		sp.CreatedAt = time.Now().UTC()
	}
	sp.Status = SplitCreating
	sp.Host, _ = os.Hostname()
	sp.PID = os.Getpid()
	if err := s.claimSplit(ctx, sp); err != nil {
		return err
	}
	release := func() {
		// leave the name free again; a fresh context, as ctx may be what failed
		c, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, _ = s.docs.remove(c, SplitMembers, filter{eq("split", sp.ID)})
		_, _ = s.docs.remove(c, Splits, filter{eq("_id", sp.ID), eq("status", SplitCreating)})
	}
	for lo := 0; lo < len(members); lo += splitBatch {
		hi := min(lo+splitBatch, len(members))
		docs := make([]any, 0, hi-lo)
		for i := lo; i < hi; i++ {
			docs = append(docs, members[i])
		}
		for _, err := range s.docs.insert(ctx, SplitMembers, docs) {
			if err == nil {
				continue
			}
			release()
			if IsDuplicate(err) {
				return fmt.Errorf("create split %q: a record is listed twice: %w", sp.ID, err)
			}
			return fmt.Errorf("create split %q: store members %d-%d: %w", sp.ID, lo, hi, err)
		}
	}
	_, err := s.docs.update(ctx, Splits, filter{eq("_id", sp.ID)}, bson.D{{Key: "status", Value: SplitReady}}, nil, false)
	if err != nil {
		release()
		return fmt.Errorf("create split %q: mark it ready: %w", sp.ID, err)
	}
	sp.Status = SplitReady
	return nil
}

// claimSplit inserts the split document with status creating, taking over the name from an
// unfinished split whose process is gone.
func (s *Store) claimSplit(ctx context.Context, sp *Split) error {
	for try := 0; ; try++ {
		err := s.docs.insert(ctx, Splits, []any{sp})[0]
		if err == nil {
			break
		}
		if !IsDuplicate(err) {
			return fmt.Errorf("create split %q: %w", sp.ID, err)
		}
		var old Split
		if err := decodeOne(ctx, s.docs, Splits, byID(sp.ID), &old); err != nil {
			return fmt.Errorf("create split %q: read the split of that name: %w", sp.ID, err)
		}
		if old.Status != SplitCreating {
			return fmt.Errorf("create split %q: %w: splits are immutable, pick another name (`correctly split list` shows the taken ones)", sp.ID, ErrSplitExists)
		}
		host, _ := os.Hostname()
		dead := old.Host == host && !processAlive(old.PID)
		if try > 0 || !(dead || time.Since(old.CreatedAt) > staleSplitClaim) {
			return fmt.Errorf("create split %q: %w: process %d on %s has been creating it since %s; wait for it, or pick another name",
				sp.ID, ErrSplitExists, old.PID, old.Host, old.CreatedAt.Format(time.RFC3339))
		}
		// an interrupted creation: remove what it left, then claim the name again
		if _, err := s.docs.remove(ctx, SplitMembers, filter{eq("split", sp.ID)}); err != nil {
			return fmt.Errorf("create split %q: clear an interrupted attempt: %w", sp.ID, err)
		}
		if _, err := s.docs.remove(ctx, Splits, filter{eq("_id", sp.ID), eq("status", SplitCreating), eq("pid", old.PID)}); err != nil {
			return fmt.Errorf("create split %q: clear an interrupted attempt: %w", sp.ID, err)
		}
	}
	// members of a name whose document was gone (an attempt killed before its cleanup) are orphans
	if _, err := s.docs.remove(ctx, SplitMembers, filter{eq("split", sp.ID)}); err != nil {
		return fmt.Errorf("create split %q: clear members of an interrupted attempt: %w", sp.ID, err)
	}
	return nil
}

func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// GetSplit loads a ready split by name; ErrNotFound when there is none (or it is still being created).
func (s *Store) GetSplit(ctx context.Context, name string) (*Split, error) {
	var sp Split
	err := decodeOne(ctx, s.docs, Splits, byID(name), &sp)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("split %q: %w (see `correctly split list`)", name, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("load split %q: %w", name, err)
	}
	if sp.Status == SplitCreating {
		return nil, fmt.Errorf("split %q: %w: it is still being created (by process %d on %s)", name, ErrNotFound, sp.PID, sp.Host)
	}
	return &sp, nil
}

// SplitList returns every ready split, newest first.
func (s *Store) SplitList(ctx context.Context) ([]Split, error) {
	out := []Split{}
	q := query{filter: filter{ne("status", SplitCreating)}, sort: []order{{"created_at", true}}}
	if err := decodeAll(ctx, s.docs, Splits, q, &out); err != nil {
		return nil, fmt.Errorf("list splits: %w", err)
	}
	return out, nil
}

// SplitMembers returns the record IDs in one part of a split, sorted; part "" returns the records of
// every part. A split that does not exist gives ErrNotFound; a part with no records gives an empty list.
func (s *Store) SplitMembers(ctx context.Context, name, part string) ([]string, error) {
	ms, err := s.SplitMembership(ctx, name, part)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(ms))
	for i, m := range ms {
		ids[i] = m.RecordID
	}
	return ids, nil
}

// SplitMembership returns the members of one part of a split (every part for part ""), sorted by
// record ID. A split that does not exist gives ErrNotFound.
func (s *Store) SplitMembership(ctx context.Context, name, part string) ([]SplitMember, error) {
	if _, err := s.GetSplit(ctx, name); err != nil {
		return nil, err
	}
	f := filter{eq("split", name)}
	if part != "" {
		f = append(f, eq("part", part))
	}
	out := []SplitMember{}
	if err := decodeAll(ctx, s.docs, SplitMembers, query{filter: f, omit: []string{"_id"}}, &out); err != nil {
		return nil, fmt.Errorf("read members of split %q: %w", name, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].RecordID < out[j].RecordID })
	return out, nil
}

// EachRecordByID streams the records with the given IDs to fn in the order of ids, leaving out step
// answers. IDs whose record is gone are skipped and counted in the returned number.
func (s *Store) EachRecordByID(ctx context.Context, ids []string, fn func(*Record) error) (missing int, err error) {
	const batch = 500
	for lo := 0; lo < len(ids); lo += batch {
		hi := min(lo+batch, len(ids))
		var recs []Record
		if err := decodeAll(ctx, s.docs, Records, query{filter: filter{in("_id", ids[lo:hi])}, omit: []string{"steps"}}, &recs); err != nil {
			return missing, fmt.Errorf("read records by id: %w", err)
		}
		byID := make(map[string]*Record, len(recs))
		for i := range recs {
			byID[recs[i].ID] = &recs[i]
		}
		for _, id := range ids[lo:hi] {
			r, ok := byID[id]
			if !ok {
				missing++
				continue
			}
			if err := fn(r); err != nil {
				return missing, err
			}
		}
	}
	return missing, nil
}

// PromptVersions returns the distinct prompt versions of the records q selects, sorted: those of
// the selected runs that hold such records.
func (s *Store) PromptVersions(ctx context.Context, q RecordQuery) ([]string, error) {
	runs, err := s.selectedRuns(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("list prompt versions of records: %w", err)
	}
	seen := map[string]bool{}
	for _, id := range runs {
		n, err := s.CountRecords(ctx, RecordQuery{RunIDs: []string{id}, Status: q.Status})
		if err != nil {
			return nil, fmt.Errorf("list prompt versions of records: %w", err)
		}
		if n == 0 {
			continue
		}
		r, err := s.GetRun(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("list prompt versions of records: %w", err)
		}
		seen[r.PromptVersion] = true
	}
	vs := make([]string, 0, len(seen))
	for v := range seen {
		vs = append(vs, v)
	}
	sort.Strings(vs)
	return vs, nil
}

// CountRecords counts the records q selects (its Limit aside), on the record indexes, or from the
// runs' summaries when q selects every record.
func (s *Store) CountRecords(ctx context.Context, q RecordQuery) (int64, error) {
	f, none, err := s.recordFilter(ctx, q)
	if err != nil || none {
		return 0, err
	}
	if len(f) == 0 {
		c, err := s.CountRecordsBy(ctx, q, nil)
		if err != nil {
			return 0, err
		}
		return int64(c.Total), nil
	}
	n, err := s.docs.count(ctx, Records, f)
	if err != nil {
		return 0, fmt.Errorf("count records: %w", err)
	}
	return n, nil
}
