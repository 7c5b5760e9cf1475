package corpus

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Summary counts the records of one run, kept up to date as records are written, so that counting
// a corpus of a million records reads one small document a run instead of every record.
type Summary struct {
	RunID   string                               `bson:"_id" json:"run_id"`
	Records int                                  `bson:"records" json:"records"`
	Status  map[string]int                       `bson:"status" json:"status"`
	Reasons map[string]map[string]int            `bson:"reasons" json:"reasons"` // status → reason code → records
	Dims    map[string]map[string]map[string]int `bson:"dims" json:"dims"`       // status → dimension → value → records
	Usage   Usage                                `bson:"usage" json:"usage"`
	Cost    float64                              `bson:"cost" json:"cost"`
}

// key escapes a name for a field path: dimension values may hold dots and dollars.
func key(s string) string {
	return strings.NewReplacer("%", "%25", ".", "%2E", "$", "%24").Replace(s)
}

func unkey(s string) string {
	return strings.NewReplacer("%2E", ".", "%24", "$", "%25", "%").Replace(s)
}

// contribution is what one record adds to its run's summary, as $inc paths; sign -1 takes it away.
func contribution(r *Record, sign int) bson.D {
	st := key(r.Status)
	inc := bson.D{{Key: "records", Value: sign}, {Key: "status." + st, Value: sign}}
	for _, x := range r.Reasons {
		inc = append(inc, bson.E{Key: "reasons." + st + "." + key(x.Code), Value: sign})
	}
	for d, v := range r.Dims {
		inc = append(inc, bson.E{Key: "dims." + st + "." + key(d) + "." + key(v), Value: sign})
	}
	if sign > 0 {
		inc = append(inc, bson.E{Key: "usage.prompt_tokens", Value: r.Usage.PromptTokens},
			bson.E{Key: "usage.completion_tokens", Value: r.Usage.CompletionTokens}, bson.E{Key: "cost", Value: r.Cost})
	}
	return mergeInc(inc)
}

// mergeInc adds up increments of the same path (two reasons of one code).
func mergeInc(inc bson.D) bson.D {
	out := bson.D{}
	at := map[string]int{}
	for _, e := range inc {
		if i, ok := at[e.Key]; ok {
			out[i].Value = addNumbers(out[i].Value, e.Value)
			continue
		}
		at[e.Key] = len(out)
		out = append(out, e)
	}
	return out
}

// countRecords adds records just stored to their runs' summaries, one update a run. A summary that
// misses a record (the process died between the two writes) is rebuilt when next read.
func (s *Store) countRecords(ctx context.Context, stored []any) {
	byRun := map[string]bson.D{}
	var runs []string
	for _, d := range stored {
		r, ok := d.(*Record)
		if !ok {
			continue
		}
		if _, seen := byRun[r.RunID]; !seen {
			runs = append(runs, r.RunID)
		}
		byRun[r.RunID] = append(byRun[r.RunID], contribution(r, 1)...)
	}
	for _, run := range runs {
		_, _ = s.docs.update(ctx, Summaries, filter{eq("_id", run)}, nil, mergeInc(byRun[run]), true)
	}
}

// recount moves a relabelled record from its old counts to its new ones.
func (s *Store) recount(ctx context.Context, old, now *Record) error {
	inc := mergeInc(append(contribution(old, -1), contribution(now, 1)...))
	// usage and cost are unchanged by a relabel: contribution(+1) added them again
	inc = dropKeys(inc, "usage.prompt_tokens", "usage.completion_tokens", "cost")
	if _, err := s.docs.update(ctx, Summaries, filter{eq("_id", old.RunID)}, nil, inc, true); err != nil {
		return fmt.Errorf("recount run %s: %w", old.RunID, err)
	}
	return nil
}

func dropKeys(d bson.D, keys ...string) bson.D {
	out := d[:0]
	for _, e := range d {
		drop := false
		for _, k := range keys {
			drop = drop || e.Key == k
		}
		if !drop {
			out = append(out, e)
		}
	}
	return out
}

// RunSummary returns the counts of one run's records. A summary that disagrees with the number of
// records stored (records written by an earlier version, or a crash between a record and its count)
// is rebuilt from the records first; that of a running run may lag behind its last group commits.
func (s *Store) RunSummary(ctx context.Context, runID string) (*Summary, error) {
	return s.runSummary(ctx, runID, false)
}

// RunCounts is RunSummary exactly: it never lags, whatever the run's state.
func (s *Store) RunCounts(ctx context.Context, runID string) (*Summary, error) {
	return s.runSummary(ctx, runID, true)
}

func (s *Store) runSummary(ctx context.Context, runID string, exact bool) (*Summary, error) {
	var sum Summary
	err := decodeOne(ctx, s.docs, Summaries, byID(runID), &sum)
	if err != nil && err != ErrNotFound {
		return nil, fmt.Errorf("read counts of run %s: %w", runID, err)
	}
	n, err := s.docs.count(ctx, Records, filter{eq("run_id", runID)})
	if err != nil {
		return nil, err
	}
	if lag := n - int64(sum.Records); lag != 0 {
		// a run being written counts its last group commits a moment after storing them
		if exact || lag < 0 || lag > inFlightRecords || !s.running(ctx, runID) {
			return s.rebuildSummary(ctx, runID)
		}
	}
	sum.RunID = runID
	sum.unescape()
	return &sum, nil
}

// inFlightRecords is how many records a running run may have stored and not yet counted.
const inFlightRecords = 2048

func (s *Store) running(ctx context.Context, runID string) bool {
	r, err := s.GetRun(ctx, runID)
	return err == nil && r.Status == RunRunning
}

func (s *Store) rebuildSummary(ctx context.Context, runID string) (*Summary, error) {
	inc := bson.D{}
	err := s.docs.find(ctx, Records, query{filter: filter{eq("run_id", runID)}, omit: []string{"fields", "edits", "steps", "flags"}}, func(raw bson.Raw) error {
		var r Record
		if err := bson.Unmarshal(raw, &r); err != nil {
			return err
		}
		inc = append(inc, contribution(&r, 1)...)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("recount run %s: %w", runID, err)
	}
	doc := applyChange(bson.D{{Key: "_id", Value: runID}, {Key: "records", Value: 0}}, nil, mergeInc(inc))
	if err := s.docs.replace(ctx, Summaries, runID, doc); err != nil {
		return nil, fmt.Errorf("recount run %s: %w", runID, err)
	}
	var sum Summary
	b, _ := bson.Marshal(doc)
	if err := bson.Unmarshal(b, &sum); err != nil {
		return nil, err
	}
	sum.unescape()
	return &sum, nil
}

func (sum *Summary) unescape() {
	un := func(m map[string]int) map[string]int {
		out := make(map[string]int, len(m))
		for k, v := range m {
			if v != 0 {
				out[unkey(k)] = v
			}
		}
		return out
	}
	sum.Status = un(sum.Status)
	reasons := map[string]map[string]int{}
	for st, m := range sum.Reasons {
		reasons[unkey(st)] = un(m)
	}
	sum.Reasons = reasons
	dims := map[string]map[string]map[string]int{}
	for st, byDim := range sum.Dims {
		dm := map[string]map[string]int{}
		for d, m := range byDim {
			dm[unkey(d)] = un(m)
		}
		dims[unkey(st)] = dm
	}
	sum.Dims = dims
}

// Counts are the counts of the records a RecordQuery selects (its limit aside).
type Counts struct {
	Total    int                       `json:"total"`
	ByStatus map[string]int            `json:"by_status"`
	ByReason map[string]int            `json:"by_reason"`
	ByDim    map[string]map[string]int `json:"by_dim,omitempty"` // dimension → value → records; "(none)" for records without it
}

// CountRecordsBy counts the records q selects by status, reason and the values of dims, from the
// runs' summaries: as fast for a million records as for ten.
func (s *Store) CountRecordsBy(ctx context.Context, q RecordQuery, dims []string) (*Counts, error) {
	runs, err := s.selectedRuns(ctx, q)
	if err != nil {
		return nil, err
	}
	c := &Counts{ByStatus: map[string]int{}, ByReason: map[string]int{}}
	if len(dims) > 0 {
		c.ByDim = map[string]map[string]int{}
		for _, d := range dims {
			c.ByDim[d] = map[string]int{}
		}
	}
	for _, run := range runs {
		sum, err := s.RunSummary(ctx, run)
		if err != nil {
			return nil, err
		}
		for st, n := range sum.Status {
			if q.Status != "" && st != q.Status {
				continue
			}
			c.Total += n
			c.ByStatus[st] += n
			for code, k := range sum.Reasons[st] {
				c.ByReason[code] += k
			}
			for _, d := range dims {
				with := 0
				for v, k := range sum.Dims[st][d] {
					c.ByDim[d][v] += k
					with += k
				}
				if n > with {
					c.ByDim[d]["(none)"] += n - with
				}
			}
		}
	}
	return c, nil
}

// selectedRuns returns the runs whose records q may select, sorted.
func (s *Store) selectedRuns(ctx context.Context, q RecordQuery) ([]string, error) {
	switch {
	case q.Prompt != "":
		ids, err := s.runsOfPrompt(ctx, q.Prompt)
		if err != nil || len(q.RunIDs) == 0 {
			return ids, err
		}
		keep := map[string]bool{}
		for _, id := range q.RunIDs {
			keep[id] = true
		}
		var both []string
		for _, id := range ids {
			if keep[id] {
				both = append(both, id)
			}
		}
		return both, nil
	case len(q.RunIDs) > 0:
		out := append([]string(nil), q.RunIDs...)
		sort.Strings(out)
		return out, nil
	}
	var ids []string
	err := s.docs.find(ctx, Runs, query{}, func(raw bson.Raw) error {
		if v, err := raw.LookupErr("_id"); err == nil {
			ids = append(ids, v.StringValue())
		}
		return nil
	})
	sort.Strings(ids)
	return ids, err
}
