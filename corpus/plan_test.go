package corpus

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// recorder wraps a store's documents and notes every query it is asked.
type recorder struct {
	docs
	mu      sync.Mutex
	queries []recorded
}

type recorded struct {
	coll string
	f    filter
	sort []order
	op   string
}

func (r *recorder) note(op, coll string, f filter, sort []order) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.queries = append(r.queries, recorded{coll, f, sort, op})
}

func (r *recorder) find(ctx context.Context, coll string, q query, fn func(bson.Raw) error) error {
	r.note("find", coll, q.filter, q.sort)
	return r.docs.find(ctx, coll, q, fn)
}

func (r *recorder) count(ctx context.Context, coll string, f filter) (int64, error) {
	r.note("count", coll, f, nil)
	return r.docs.count(ctx, coll, f)
}

func (r *recorder) update(ctx context.Context, coll string, f filter, set, inc bson.D, upsert bool) (int64, error) {
	r.note("update", coll, f, nil)
	return r.docs.update(ctx, coll, f, set, inc, upsert)
}

func (r *recorder) remove(ctx context.Context, coll string, f filter) (int64, error) {
	r.note("remove", coll, f, nil)
	return r.docs.remove(ctx, coll, f)
}

// exercise calls every exported method of the store that reads or writes, the way the CLI and the
// generator do; it returns the names it called.
func exercise(t *testing.T, st *Store) []string {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	var called []string
	call := func(name string, err error) {
		t.Helper()
		called = append(called, name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	_, err := st.AddPrompt(ctx, &Prompt{ID: "abcdef0123456789", Name: "p", CreatedAt: now})
	call("AddPrompt", err)
	_, err = st.FindPrompt(ctx, "p@abcdef01")
	call("FindPrompt", err)
	_, err = st.PromptByVersion(ctx, "abcdef0123456789")
	call("PromptByVersion", err)
	_, err = st.PromptList(ctx)
	call("PromptList", err)
	run := &Run{ID: "r", Prompt: "p", PromptVersion: "abcdef0123456789", Status: RunRunning, CreatedAt: now}
	call("CreateRun", st.CreateRun(ctx, run))
	_, err = st.GetRun(ctx, "r")
	call("GetRun", err)
	call("UpdateRunSettings", st.UpdateRunSettings(ctx, run))
	call("SetRunStatus", st.SetRunStatus(ctx, "r", RunDone, "", now))
	_, err = st.RunList(ctx, 10)
	call("RunList", err)
	call("Inserter", st.Inserter(Claims).Insert(ctx, Claim{ID: "r/0/0", RunID: "r", Slot: 0, Owner: "o"}))
	_, err = st.RunClaims(ctx, "r")
	call("RunClaims", err)
	call("RenewClaims", st.RenewClaims(ctx, "r", "o", []int{0}, now))
	call("ReleaseClaims", st.ReleaseClaims(ctx, "r", "o", []int{0}))
	call("Inserter", st.Inserter(Steps).Insert(ctx, Step{ID: "r/0/draft/0", RunID: "r", Slot: 0, Step: "draft", CreatedAt: now}))
	_, err = st.SlotSteps(ctx, "r", 0)
	call("SlotSteps", err)
	_, err = st.RunSteps(ctx, "r")
	call("RunSteps", err)
	_, err = st.CountSteps(ctx, "r")
	call("CountSteps", err)
	call("InsertRecord", st.InsertRecord(ctx, record("r", 0, StatusAccepted, map[string]string{"style": "casual"})))
	call("AddRecords", st.AddRecords(ctx, []*Record{record("r", 1, StatusRejected, nil, "too_short")}))
	_, err = st.RecordOutcomes(ctx, "r")
	call("RecordOutcomes", err)
	_, err = st.RecordSlots(ctx, "r", []int{0, 1, 2})
	call("RecordSlots", err)
	_, err = st.AllRecordSlots(ctx, "r")
	call("AllRecordSlots", err)
	_, err = st.MaxSlot(ctx, "r")
	call("MaxSlot", err)
	_, err = st.RunCounts(ctx, "r")
	call("RunCounts", err)
	call("FinishClaim", st.FinishClaim(ctx, "r/0/0"))
	call("FinishClaims", st.FinishClaims(ctx, []string{"r/0/1"}))
	call("Remover", st.Remover(Steps).Remove(ctx, "nothing"))
	for _, q := range []RecordQuery{{}, {Status: StatusAccepted}, {Prompt: "p"}, {Prompt: "p@abcdef01", Status: StatusRejected},
		{RunIDs: []string{"r"}}, {RunIDs: []string{"r", "s"}, Status: StatusAccepted}, {Limit: 20}} {
		call("EachRecord", st.EachRecord(ctx, q, func(*Record) error { return nil }))
		_, err = st.Records(ctx, q)
		call("Records", err)
		_, err = st.CountRecords(ctx, q)
		call("CountRecords", err)
		_, err = st.CountRecordsBy(ctx, q, []string{"style"})
		call("CountRecordsBy", err)
		_, err = st.PromptVersions(ctx, q)
		call("PromptVersions", err)
	}
	_, err = st.GetRecord(ctx, "r-00000")
	call("GetRecord", err)
	call("SetRecordStatus", st.SetRecordStatus(ctx, "r-00000", StatusDuplicate, "x", 0.1))
	_, err = st.RunSummary(ctx, "r")
	call("RunSummary", err)
	call("CreateSplit", st.CreateSplit(ctx, &Split{ID: "s"}, []SplitMember{{Split: "s", RecordID: "r-00000", Part: "train"}}))
	_, err = st.GetSplit(ctx, "s")
	call("GetSplit", err)
	_, err = st.SplitList(ctx)
	call("SplitList", err)
	_, err = st.SplitMembers(ctx, "s", "train")
	call("SplitMembers", err)
	_, err = st.SplitMembership(ctx, "s", "")
	call("SplitMembership", err)
	_, err = st.EachRecordByID(ctx, []string{"r-00000", "r-00001"}, func(*Record) error { return nil })
	call("EachRecordByID", err)
	call("SaveTrainRun", st.SaveTrainRun(ctx, &TrainRun{ID: "t", CreatedAt: now}))
	_, err = st.TrainRun(ctx, "t")
	call("TrainRun", err)
	_, err = st.TrainRunList(ctx)
	call("TrainRunList", err)
	call("PutWorker", st.PutWorker(ctx, &Worker{ID: "w", RunID: "r", Endpoint: "e", ExpiresAt: now.Add(time.Minute)}))
	_, _, err = st.LiveWorkers(ctx, "r", "e", now)
	call("LiveWorkers", err)
	_, err = st.RunWorkers(ctx, "r")
	call("RunWorkers", err)
	call("RemoveWorker", st.RemoveWorker(ctx, "w"))
	unlock, err := st.Lock(ctx, "dedup", time.Minute)
	call("Lock", err)
	unlock()
	call("AddFingerprints", firstErr(st.AddFingerprints(ctx, []Fingerprint{{ID: "f", RecordID: "r-00000"}})))
	_, err = st.FingerprintOwners(ctx, []string{"f"})
	call("FingerprintOwners", err)
	call("AddUnindexed", st.AddUnindexed(ctx, "c", 1))
	call("SetUnindexed", st.SetUnindexed(ctx, "c", 2))
	_, err = st.Unindexed(ctx, "c")
	call("Unindexed", err)
	_, err = st.PastMigration(ctx)
	call("PastMigration", err)
	ev := &Eval{ID: "e", Model: "m", CreatedAt: time.Now()}
	call("CreateEval", st.CreateEval(ctx, ev))
	call("SaveEval", st.SaveEval(ctx, ev))
	_, err = st.GetEval(ctx, "e")
	call("GetEval", err)
	_, err = st.EvalList(ctx, 20)
	call("EvalList", err)
	_, err = st.AddPrediction(ctx, &Prediction{EvalID: "e", Index: 0})
	call("AddPrediction", err)
	_, err = st.AddPredictions(ctx, []Prediction{{EvalID: "e", Index: 1}})
	call("AddPredictions", err)
	_, err = st.EvalPredictions(ctx, "e")
	call("EvalPredictions", err)
	call("AddSteps", st.AddSteps(ctx, []*Step{{ID: "r/1/draft/0", RunID: "r", Slot: 1, Step: "draft", CreatedAt: now}}))
	call("PutBatch", st.PutBatch(ctx, &Batch{ID: "b", RunID: "r", State: BatchCreated, CreatedAt: now}))
	_, err = st.RunBatches(ctx, "r")
	call("RunBatches", err)
	call("PutBatchLines", st.PutBatchLines(ctx, []BatchLine{{ID: "r/1/draft/0", RunID: "r", Batch: "b", Slot: 1, Step: "draft", Sends: 1},
		{ID: "r/2/draft/0", RunID: "r", Batch: "b", Slot: 2, Step: "draft", Sends: 2}}))
	_, err = st.GetBatchLine(ctx, "r/1/draft/0")
	call("GetBatchLine", err)
	_, err = st.BatchLinesByID(ctx, []string{"r/1/draft/0", "r/2/draft/0"})
	call("BatchLinesByID", err)
	call("EachBatchLine", st.EachBatchLine(ctx, "r", "b", func(*BatchLine) error { return nil }))
	call("FailBatchLines", st.FailBatchLines(ctx, []string{"r/2/draft/0"}))
	_, _, err = st.BatchLineSends(ctx, "r")
	call("BatchLineSends", err)
	return called
}

// small collections hold a document a run, prompt, split or train run: listing them whole is their
// purpose, and they stay small whatever the corpus size.
var small = []string{Prompts, Runs, Splits, TrainRuns, Summaries, metaColl, Locks, Workers}

// TestEveryQueryTheCorpusMakesIsServedByAnIndex calls every method of the store and checks each query
// it makes: SQLite's own plan for the embedded store must search an index, never scan a large
// collection, and for MongoDB an index must serve the query by the equality-sort-range rule its
// planner follows (explain needs a real mongod, which no registry here serves; the rule is
// checked against the same index declarations MongoDB is given).
func TestEveryQueryTheCorpusMakesIsServedByAnIndex(t *testing.T) {
	st, err := Open(context.Background(), Options{DataDir: t.TempDir(), Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rec := &recorder{docs: st.docs}
	st.docs = rec
	called := exercise(t, st)

	// every method of the store is exercised: a new one must be added to exercise
	skip := []string{"Close"}
	ty := reflect.TypeOf(st)
	for i := 0; i < ty.NumMethod(); i++ {
		name := ty.Method(i).Name
		if !slices.Contains(called, name) && !slices.Contains(skip, name) {
			t.Errorf("Store.%s is not exercised: add it to exercise so that its queries are checked", name)
		}
	}

	sq := rec.docs.(*sqliteDocs)
	seen := map[string]bool{}
	for _, q := range rec.queries {
		if slices.Contains(small, q.coll) {
			continue
		}
		key := fmt.Sprint(q)
		if seen[key] {
			continue
		}
		seen[key] = true
		plan := sqlitePlan(t, sq, q)
		if strings.Contains(plan, "SCAN c_"+q.coll) && !strings.Contains(plan, "USING") {
			t.Errorf("embedded: %s %s filter %v sort %v scans the collection: %s", q.op, q.coll, q.f, q.sort, plan)
		}
		if !mongoServes(q) {
			t.Errorf("mongodb: no declared index serves %s %s filter %v sort %v", q.op, q.coll, q.f, q.sort)
		}
	}
}

func sqlitePlan(t *testing.T, d *sqliteDocs, q recorded) string {
	t.Helper()
	tb, err := d.table(context.Background(), q.coll)
	if err != nil {
		t.Fatal(err)
	}
	w, args, err := tb.where(q.f)
	if err != nil {
		t.Fatal(err)
	}
	s := "SELECT doc FROM " + tb.name + w
	if q.op == "find" {
		ob, err := tb.orderBy(q.sort)
		if err != nil {
			t.Fatal(err)
		}
		if len(q.sort) > 0 {
			s += ob
		}
	}
	rows, err := d.db.Query("EXPLAIN QUERY PLAN "+s, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var parts []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		parts = append(parts, strings.ReplaceAll(detail, `"`, ""))
	}
	return strings.Join(parts, "; ")
}

// mongoServes applies MongoDB's rule for an index that serves a query without a collection scan and
// without sorting in memory: its leading fields are the query's equality fields (in any order),
// then the sort fields in order (or all reversed), then any range field; a lookup by _id always is.
func mongoServes(q recorded) bool {
	eqs, ranges := map[string]bool{}, map[string]bool{}
	for _, c := range q.f {
		switch c.op {
		case "$eq", "$in":
			eqs[c.field] = true
		default:
			ranges[c.field] = true
		}
	}
	if eqs["_id"] {
		return true
	}
	c, _ := collectionNamed(q.coll)
	for _, ix := range c.indexes {
		if servesWith(ix, eqs, ranges, q.sort) {
			return true
		}
	}
	return len(q.f) == 0 && len(q.sort) == 0 && q.op != "find" // a count or change of everything
}

func servesWith(ix index, eqs, ranges map[string]bool, sortBy []order) bool {
	fields := ix.fields
	i := 0
	for i < len(fields) && eqs[fields[i].field] {
		i++
	}
	if i != len(eqs) {
		return false // an equality field is not in the index's prefix
	}
	if len(eqs) == 0 && len(sortBy) == 0 && len(ranges) == 0 {
		return false
	}
	// the sort may repeat equality fields; they are fixed, so skip them
	var rest []order
	for _, o := range sortBy {
		if !eqs[o.field] {
			rest = append(rest, o)
		}
	}
	if len(rest) > 0 {
		if i+len(rest) > len(fields) {
			return false
		}
		flip := rest[0].desc != fields[i].desc
		for k, o := range rest {
			f := fields[i+k]
			if f.field != o.field || (o.desc != f.desc) != flip {
				return false
			}
		}
		i += len(rest)
	}
	left := map[string]bool{}
	for _, f := range fields[i:] {
		left[f.field] = true
	}
	for r := range ranges {
		if !left[r] && !slices.ContainsFunc(rest, func(o order) bool { return o.field == r }) {
			return false
		}
	}
	return true
}

func TestMongoRuleFindsMissingIndexes(t *testing.T) {
	byStatus := recorded{coll: Records, f: filter{eq("status", "accepted")}, sort: recordOrder, op: "find"}
	byBackend := recorded{coll: Records, f: filter{eq("backend", "rules")}, sort: recordOrder, op: "find"}
	sortedWrong := recorded{coll: Records, f: filter{eq("run_id", "r")}, sort: []order{{"created_at", false}}, op: "find"}
	got := []bool{mongoServes(byStatus), mongoServes(byBackend), mongoServes(sortedWrong)}
	if !slices.Equal(got, []bool{true, false, false}) {
		t.Errorf("mongoServes(status, backend, run sorted by time) = %v, want served, not, not", got)
	}
}
