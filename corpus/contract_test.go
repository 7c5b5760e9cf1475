package corpus

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/correctly/correctly/corpus/corpustest"
)

// eachStore runs a contract test against both implementations of the store: the embedded SQLite
// file and a MongoDB wire-protocol server (FerretDB, started by the test).
func eachStore(t *testing.T, test func(t *testing.T, st *Store)) {
	t.Run("embedded", func(t *testing.T) {
		st, err := Open(context.Background(), Options{DataDir: t.TempDir(), Log: zerolog.Nop()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		test(t, st)
	})
	t.Run("mongodb", func(t *testing.T) {
		st, err := Open(context.Background(), Options{URI: corpustest.MongoURI(t), DB: "contract", Log: zerolog.Nop()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		test(t, st)
	})
}

func record(run string, slot int, status string, dims map[string]string, reasons ...string) *Record {
	r := &Record{ID: fmt.Sprintf("%s-%05d", run, slot), RunID: run, Slot: slot, Prompt: "p", PromptVersion: "v",
		Status: status, Dims: dims, Fields: map[string]any{"before": fmt.Sprintf("text %s %d", run, slot)},
		Steps: []Step{{Step: "draft", Usage: Usage{PromptTokens: 10, CompletionTokens: 5}}}, Cost: 0.5, CreatedAt: time.Now().UTC()}
	for _, code := range reasons {
		r.Reasons = append(r.Reasons, Reason{Code: code, Message: code})
	}
	return r
}

func addRun(t *testing.T, st *Store, id, prompt, version string) {
	t.Helper()
	if err := st.CreateRun(context.Background(), &Run{ID: id, Prompt: prompt, PromptVersion: version, Status: RunDone, CreatedAt: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
}

func TestContractRecordsAreFilteredSortedAndLimitedByTheStore(t *testing.T) {
	eachStore(t, func(t *testing.T, st *Store) {
		ctx := context.Background()
		addRun(t, st, "r1", "alpha", "aaaa1111aaaa")
		addRun(t, st, "r2", "alpha", "bbbb2222bbbb")
		addRun(t, st, "r3", "beta", "cccc3333cccc")
		var recs []*Record
		for _, run := range []string{"r2", "r1", "r3"} {
			for slot := 9; slot >= 0; slot-- {
				status := StatusAccepted
				if slot%3 == 0 {
					status = StatusRejected
				}
				recs = append(recs, record(run, slot, status, nil))
			}
		}
		if err := st.AddRecords(ctx, recs); err != nil {
			t.Fatal(err)
		}
		ids := func(q RecordQuery) []string {
			t.Helper()
			var out []string
			if err := st.EachRecord(ctx, q, func(r *Record) error { out = append(out, r.ID); return nil }); err != nil {
				t.Fatal(err)
			}
			return out
		}
		if got := ids(RecordQuery{Limit: 3}); !slices.Equal(got, []string{"r1-00000", "r1-00001", "r1-00002"}) {
			t.Errorf("first 3 records = %v, want r1's slots 0-2 in (run, slot) order", got)
		}
		if got := ids(RecordQuery{Status: StatusRejected, Limit: 5}); !slices.Equal(got, []string{"r1-00000", "r1-00003", "r1-00006", "r1-00009", "r2-00000"}) {
			t.Errorf("first 5 rejected = %v", got)
		}
		if got := ids(RecordQuery{Prompt: "beta"}); len(got) != 10 || got[0] != "r3-00000" {
			t.Errorf("records of prompt beta = %v, want r3's 10", got)
		}
		if got := ids(RecordQuery{Prompt: "alpha@bbbb2222", Status: StatusAccepted}); len(got) != 6 || got[0] != "r2-00001" {
			t.Errorf("accepted records of alpha@bbbb2222 = %v, want r2's 6 accepted", got)
		}
		if got := ids(RecordQuery{Prompt: "alpha", RunIDs: []string{"r3"}}); len(got) != 0 {
			t.Errorf("records of alpha in run r3 = %v, want none", got)
		}
		if got := ids(RecordQuery{RunIDs: []string{"r3", "r1"}, Limit: 11}); len(got) != 11 || got[10] != "r3-00000" {
			t.Errorf("records of runs r3 and r1 = %v, want r1 then r3", got)
		}
		if n, err := st.CountRecords(ctx, RecordQuery{Prompt: "alpha", Status: StatusRejected}); err != nil || n != 8 {
			t.Errorf("CountRecords(alpha, rejected) = %d, %v; want 8", n, err)
		}
		full, err := st.Records(ctx, RecordQuery{RunIDs: []string{"r1"}, Limit: 1})
		if err != nil || len(full) != 1 || len(full[0].Steps) != 1 {
			t.Errorf("Records = %v, %v; want the record with its step accounting", full, err)
		}
		lean, err := st.Records(ctx, RecordQuery{RunIDs: []string{"r1"}, Limit: 1, Project: true})
		if err != nil || len(lean) != 1 || lean[0].Steps != nil || lean[0].Fields["before"] == nil {
			t.Errorf("Records(Project) = %v, %v; want the record without its steps", lean, err)
		}
		if err := st.AddRecords(ctx, []*Record{record("r1", 4, StatusAccepted, nil)}); !IsDuplicate(err) {
			t.Errorf("a second record for (r1, 4) = %v, want a duplicate-key error", err)
		}
	})
}

func TestContractCountsComeFromSummariesAndFollowRelabels(t *testing.T) {
	eachStore(t, func(t *testing.T, st *Store) {
		ctx := context.Background()
		addRun(t, st, "r1", "alpha", "aaaa1111")
		addRun(t, st, "r2", "beta", "bbbb2222")
		in := st.Inserter(Records)
		for slot := 0; slot < 6; slot++ {
			r := record("r1", slot, StatusAccepted, map[string]string{"style": "casual", "place": "Busan.station"})
			if slot >= 4 {
				r = record("r1", slot, StatusRejected, map[string]string{"style": "formal"}, "too_short", "too_short")
			}
			if err := in.Insert(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.AddRecords(ctx, []*Record{record("r2", 0, StatusAccepted, map[string]string{"style": "formal"})}); err != nil {
			t.Fatal(err)
		}
		c, err := st.CountRecordsBy(ctx, RecordQuery{}, []string{"style", "place"})
		if err != nil {
			t.Fatal(err)
		}
		if c.Total != 7 || c.ByStatus[StatusAccepted] != 5 || c.ByStatus[StatusRejected] != 2 || c.ByReason["too_short"] != 4 {
			t.Errorf("counts = %+v, want 7 records, 5 accepted, 2 rejected, too_short counted 4 times", c)
		}
		if c.ByDim["style"]["casual"] != 4 || c.ByDim["style"]["formal"] != 3 || c.ByDim["place"]["Busan.station"] != 4 || c.ByDim["place"]["(none)"] != 3 {
			t.Errorf("by dimension = %v, want style casual 4 formal 3, place Busan.station 4 and (none) 3", c.ByDim)
		}
		c, err = st.CountRecordsBy(ctx, RecordQuery{Prompt: "alpha", Status: StatusAccepted}, []string{"style"})
		if err != nil || c.Total != 4 || c.ByDim["style"]["casual"] != 4 {
			t.Errorf("accepted of alpha = %+v, %v; want 4, all casual", c, err)
		}
		if err := st.SetRecordStatus(ctx, "r1-00001", StatusDuplicate, "r1-00000", 0.01); err != nil {
			t.Fatal(err)
		}
		c, err = st.CountRecordsBy(ctx, RecordQuery{RunIDs: []string{"r1"}}, nil)
		if err != nil || c.ByStatus[StatusAccepted] != 3 || c.ByStatus[StatusDuplicate] != 1 || c.Total != 6 {
			t.Errorf("counts after a relabel = %+v, %v; want 3 accepted, 1 duplicate, 6 in all", c, err)
		}
		sum, err := st.RunSummary(ctx, "r1")
		if err != nil || sum.Cost != 3 || sum.Records != 6 {
			t.Errorf("summary = %+v, %v; want 6 records costing 3", sum, err)
		}
		// a summary lost (or never written, by an earlier version) is rebuilt from the records
		if _, err := st.docs.remove(ctx, Summaries, filter{eq("_id", "r1")}); err != nil {
			t.Fatal(err)
		}
		c, err = st.CountRecordsBy(ctx, RecordQuery{RunIDs: []string{"r1"}}, []string{"style"})
		if err != nil || c.Total != 6 || c.ByStatus[StatusDuplicate] != 1 || c.ByDim["style"]["formal"] != 2 {
			t.Errorf("counts rebuilt from the records = %+v, %v; want them as before", c, err)
		}
	})
}

func TestContractClaimsAreOwnedRenewedAndReleased(t *testing.T) {
	eachStore(t, func(t *testing.T, st *Store) {
		ctx := context.Background()
		later := time.Now().Add(time.Hour).UTC().Truncate(time.Millisecond)
		for slot, owner := range []string{"a", "b", "a"} {
			c := Claim{ID: fmt.Sprintf("r/%d/0", slot), RunID: "r", Slot: slot, Owner: owner, ExpiresAt: time.Now().UTC()}
			if err := st.Inserter(Claims).Insert(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.Inserter(Claims).Insert(ctx, Claim{ID: "r/1/0-again", RunID: "r", Slot: 1}); !IsDuplicate(err) {
			t.Errorf("a second claim of (r, 1, 0) = %v, want a duplicate-key error", err)
		}
		if err := st.RenewClaims(ctx, "r", "a", []int{0, 1, 2}, later); err != nil {
			t.Fatal(err)
		}
		claims, err := st.RunClaims(ctx, "r")
		if err != nil || len(claims) != 3 {
			t.Fatalf("RunClaims = %v, %v", claims, err)
		}
		for _, c := range claims {
			if renewed := c.ExpiresAt.Equal(later); renewed != (c.Owner == "a") {
				t.Errorf("claim of slot %d by %s expires %v: only a's claims were to be renewed to %v", c.Slot, c.Owner, c.ExpiresAt, later)
			}
		}
		if err := st.ReleaseClaims(ctx, "r", "a", []int{2}); err != nil {
			t.Fatal(err)
		}
		claims, _ = st.RunClaims(ctx, "r")
		for _, c := range claims {
			if c.Slot == 2 && c.ExpiresAt.After(time.Unix(1, 0)) {
				t.Errorf("released claim expires %v, want at once", c.ExpiresAt)
			}
		}
	})
}

func TestContractPromptsWorkersLocksAndFingerprints(t *testing.T) {
	eachStore(t, func(t *testing.T, st *Store) {
		ctx := context.Background()
		now := time.Now().UTC()
		for i, v := range []string{"1111aaaa0000", "1111aaab0000", "2222bbbb0000"} {
			if _, err := st.AddPrompt(ctx, &Prompt{ID: v, Name: "p", CreatedAt: now.Add(time.Duration(i) * time.Second)}); err != nil {
				t.Fatal(err)
			}
		}
		if isNew, err := st.AddPrompt(ctx, &Prompt{ID: "2222bbbb0000", Name: "p"}); isNew || err != nil {
			t.Errorf("adding a stored version again = %v, %v; want no-op", isNew, err)
		}
		if p, err := st.FindPrompt(ctx, "p"); err != nil || p.ID != "2222bbbb0000" {
			t.Errorf("FindPrompt(p) = %v, %v; want the latest", p, err)
		}
		if _, err := st.FindPrompt(ctx, "p@1111aaa"); err == nil {
			t.Errorf("FindPrompt with 7 hex digits succeeded, want a request for 8")
		}
		if p, err := st.FindPrompt(ctx, "p@1111aaab"); err != nil || p.ID != "1111aaab0000" {
			t.Errorf("FindPrompt(p@1111aaab) = %v, %v", p, err)
		}
		if _, err := st.FindPrompt(ctx, "q"); !errors.Is(err, ErrNotFound) {
			t.Errorf("FindPrompt(q) = %v, want ErrNotFound", err)
		}

		for i, w := range []Worker{{ID: "w1", RunID: "r", Endpoint: "e"}, {ID: "w2", RunID: "r", Endpoint: "e"}, {ID: "w3", RunID: "s", Endpoint: "e"}} {
			w.ExpiresAt = now.Add(time.Minute)
			if i == 1 {
				w.ExpiresAt = now.Add(-time.Second) // gone
			}
			if err := st.PutWorker(ctx, &w); err != nil {
				t.Fatal(err)
			}
		}
		if onRun, onKey, err := st.LiveWorkers(ctx, "r", "e", now); err != nil || onRun != 1 || onKey != 2 {
			t.Errorf("LiveWorkers = %d on the run, %d on the key, %v; want 1 and 2", onRun, onKey, err)
		}

		unlock, err := st.Lock(ctx, "x", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		unlock()
		if unlock, err = st.Lock(ctx, "x", time.Minute); err != nil {
			t.Fatalf("Lock after unlock = %v", err)
		}
		unlock()

		errs := st.AddFingerprints(ctx, []Fingerprint{{ID: "f1", RecordID: "a"}, {ID: "f2", RecordID: "a"}})
		if firstErr(errs) != nil {
			t.Fatal(errs)
		}
		errs = st.AddFingerprints(ctx, []Fingerprint{{ID: "f3", RecordID: "b"}, {ID: "f1", RecordID: "b"}})
		if errs[0] != nil || !IsDuplicate(errs[1]) {
			t.Errorf("AddFingerprints(new, taken) = %v, want nil and a duplicate", errs)
		}
		owners, err := st.FingerprintOwners(ctx, []string{"f1", "f3", "f9"})
		if err != nil || owners["f1"] != "a" || owners["f3"] != "b" || len(owners) != 2 {
			t.Errorf("FingerprintOwners = %v, %v", owners, err)
		}
	})
}

func TestEmbeddedStoreIsPrivateAndListensNowhere(t *testing.T) {
	before := listeningSockets(t)
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	st, err := Open(context.Background(), Options{DataDir: dir, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.AddRecords(context.Background(), []*Record{record("r", 0, StatusAccepted, nil)}); err != nil {
		t.Fatal(err)
	}
	err = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		want := os.FileMode(0o600)
		if fi.IsDir() {
			want = 0o700
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s is %v, want %v: no other local user may read the corpus", p, fi.Mode().Perm(), want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if after := listeningSockets(t); after > before {
		t.Errorf("opening the embedded store added %d listening sockets, want none", after-before)
	}
}

// listeningSockets counts the TCP sockets in LISTEN state on this machine.
func listeningSockets(t *testing.T) int {
	t.Helper()
	n := 0
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			if fields := strings.Fields(line); len(fields) > 3 && fields[3] == "0A" {
				n++
			}
		}
	}
	return n
}

func TestEmbeddedStoreRefusesAQueryNoIndexServes(t *testing.T) {
	st, err := Open(context.Background(), Options{DataDir: t.TempDir(), Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	err = st.docs.find(context.Background(), Records, query{filter: filter{eq("backend", "rules")}}, func(bson.Raw) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "declare an index") {
		t.Errorf("a filter on an unindexed field = %v, want a refusal naming the missing index", err)
	}
}
