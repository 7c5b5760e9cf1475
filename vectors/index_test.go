package vectors

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/philippgille/chromem-go"
)

// indexImpls lists every Index implementation; the contract tests run against each.
var indexImpls = []struct {
	name string
	open func(testing.TB) Index
}{
	{"embedded", func(tb testing.TB) Index { return openTestEmbedded(tb) }},
	{"chroma", func(tb testing.TB) Index { return openTestChroma(tb) }},
}

// unit returns a unit vector of dim dimensions along axis i, tilted by eps
// towards axis j, so distances between test vectors are easy to predict.
func unit(dim, i, j int, eps float64) []float32 {
	v := make([]float32, dim)
	v[i] = float32(math.Cos(eps))
	v[j] += float32(math.Sin(eps))
	return v
}

func randVec(r *rand.Rand, dim int) []float32 {
	v := make([]float32, dim)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	normalize(v)
	return v
}

func hitIDs(hits []Hit) []string {
	ids := make([]string, len(hits))
	for i, h := range hits {
		ids[i] = h.ID
	}
	return ids
}

func mustAdd(tb testing.TB, idx Index, col string, items ...Item) {
	tb.Helper()
	if err := idx.Add(context.Background(), col, items); err != nil {
		tb.Fatalf("Add(%q, %d items): %v", col, len(items), err)
	}
}

func mustQuery(tb testing.TB, idx Index, col string, vecs [][]float32, k int, where map[string]string) [][]Hit {
	tb.Helper()
	res, err := idx.Query(context.Background(), col, vecs, k, where)
	if err != nil {
		tb.Fatalf("Query(%q, %d vecs, k=%d, %v): %v", col, len(vecs), k, where, err)
	}
	if len(res) != len(vecs) {
		tb.Fatalf("Query returned %d lists for %d vectors", len(res), len(vecs))
	}
	return res
}

func mustCount(tb testing.TB, idx Index, col string) int {
	tb.Helper()
	n, err := idx.Count(context.Background(), col)
	if err != nil {
		tb.Fatalf("Count(%q): %v", col, err)
	}
	return n
}

func near(a, b float32) bool { return math.Abs(float64(a-b)) < 1e-3 }

func TestIndexContract(t *testing.T) {
	const dim = 16
	meta := func(prompt, run string) map[string]string { return map[string]string{"prompt": prompt, "run": run} }
	tests := []struct {
		name string
		run  func(t *testing.T, idx Index, col string)
	}{
		{"query returns nearest first with cosine distances", func(t *testing.T, idx Index, col string) {
			mustAdd(t, idx, col,
				Item{ID: "far", Vector: unit(dim, 1, 0, 0), Meta: meta("p", "r1")},
				Item{ID: "same", Vector: unit(dim, 0, 1, 0), Meta: meta("p", "r1")},
				Item{ID: "close", Vector: unit(dim, 0, 1, 0.3), Meta: meta("p", "r2")},
			)
			got := mustQuery(t, idx, col, [][]float32{unit(dim, 0, 1, 0)}, 3, nil)[0]
			if ids := fmt.Sprint(hitIDs(got)); ids != "[same close far]" {
				t.Fatalf("order = %s, want [same close far]", ids)
			}
			want := []float32{0, float32(1 - math.Cos(0.3)), 1}
			for i, h := range got {
				if !near(h.Distance, want[i]) {
					t.Errorf("hit %s distance = %v, want %v", h.ID, h.Distance, want[i])
				}
			}
			if got[1].Meta["run"] != "r2" || got[1].Meta["prompt"] != "p" {
				t.Errorf("hit close meta = %v, want prompt p run r2", got[1].Meta)
			}
		}},
		{"has tells which IDs the collection holds", func(t *testing.T, idx Index, col string) {
			ctx := context.Background()
			got, err := idx.Has(ctx, col, []string{"a", "b"})
			if err != nil || fmt.Sprint(got) != "[false false]" {
				t.Fatalf("Has on a missing collection = %v, %v; want [false false]", got, err)
			}
			mustAdd(t, idx, col, Item{ID: "a", Vector: unit(dim, 0, 1, 0), Meta: meta("p", "r")},
				Item{ID: "c", Vector: unit(dim, 1, 0, 0), Meta: meta("p", "r")})
			got, err = idx.Has(ctx, col, []string{"a", "b", "c", "a"})
			if err != nil || fmt.Sprint(got) != "[true false true true]" {
				t.Errorf("Has(a b c a) = %v, %v; want [true false true true]", got, err)
			}
		}},
		{"k limits hits and a larger k returns all", func(t *testing.T, idx Index, col string) {
			for i := range 4 {
				mustAdd(t, idx, col, Item{ID: fmt.Sprint("id", i), Vector: unit(dim, i, i+1, 0.1), Meta: meta("p", "r")})
			}
			q := [][]float32{unit(dim, 0, 1, 0.1)}
			if got := mustQuery(t, idx, col, q, 1, nil)[0]; len(got) != 1 || got[0].ID != "id0" {
				t.Errorf("k=1 hits = %v, want [id0]", hitIDs(got))
			}
			if got := mustQuery(t, idx, col, q, 10, nil)[0]; len(got) != 4 {
				t.Errorf("k=10 over 4 items gave %d hits, want 4", len(got))
			}
		}},
		{"where keeps only exact metadata matches", func(t *testing.T, idx Index, col string) {
			mustAdd(t, idx, col,
				Item{ID: "a1", Vector: unit(dim, 0, 1, 0), Meta: meta("a", "r1")},
				Item{ID: "b1", Vector: unit(dim, 0, 1, 0.2), Meta: meta("b", "r1")},
				Item{ID: "b2", Vector: unit(dim, 0, 1, 0.4), Meta: meta("b", "r2")},
			)
			q := [][]float32{unit(dim, 0, 1, 0)}
			if got := hitIDs(mustQuery(t, idx, col, q, 5, map[string]string{"prompt": "b"})[0]); fmt.Sprint(got) != "[b1 b2]" {
				t.Errorf("where prompt=b: %v, want [b1 b2]", got)
			}
			if got := hitIDs(mustQuery(t, idx, col, q, 5, map[string]string{"prompt": "b", "run": "r2"})[0]); fmt.Sprint(got) != "[b2]" {
				t.Errorf("where prompt=b run=r2: %v, want [b2]", got)
			}
			if got := mustQuery(t, idx, col, q, 5, map[string]string{"prompt": "none"})[0]; len(got) != 0 {
				t.Errorf("where prompt=none: %v, want no hits", hitIDs(got))
			}
		}},
		{"adding an existing ID replaces its vector and metadata", func(t *testing.T, idx Index, col string) {
			mustAdd(t, idx, col, Item{ID: "x", Vector: unit(dim, 0, 1, 0), Meta: meta("p", "old")})
			mustAdd(t, idx, col, Item{ID: "x", Vector: unit(dim, 5, 1, 0), Meta: meta("p", "new")})
			if n := mustCount(t, idx, col); n != 1 {
				t.Errorf("Count after upsert = %d, want 1", n)
			}
			got := mustQuery(t, idx, col, [][]float32{unit(dim, 5, 1, 0)}, 1, nil)[0]
			if len(got) != 1 || got[0].ID != "x" || !near(got[0].Distance, 0) || got[0].Meta["run"] != "new" {
				t.Errorf("after upsert hits = %+v, want x at distance 0 with run=new", got)
			}
			q := [][]float32{unit(dim, 5, 1, 0)}
			if got := mustQuery(t, idx, col, q, 1, map[string]string{"run": "old"})[0]; len(got) != 0 {
				t.Errorf("where run=old after upsert = %v, want no hits", hitIDs(got))
			}
			if got := mustQuery(t, idx, col, q, 1, map[string]string{"run": "new"})[0]; fmt.Sprint(hitIDs(got)) != "[x]" {
				t.Errorf("where run=new after upsert = %v, want [x]", hitIDs(got))
			}
			if got := mustQuery(t, idx, col, q, 1, map[string]string{})[0]; fmt.Sprint(hitIDs(got)) != "[x]" {
				t.Errorf("empty where = %v, want [x] (no filter)", hitIDs(got))
			}
		}},
		{"duplicate IDs in one add keep the last", func(t *testing.T, idx Index, col string) {
			mustAdd(t, idx, col,
				Item{ID: "d", Vector: unit(dim, 0, 1, 0), Meta: meta("p", "first")},
				Item{ID: "d", Vector: unit(dim, 2, 1, 0), Meta: meta("p", "last")},
			)
			got := mustQuery(t, idx, col, [][]float32{unit(dim, 2, 1, 0)}, 1, nil)[0]
			if mustCount(t, idx, col) != 1 || len(got) != 1 || got[0].Meta["run"] != "last" {
				t.Errorf("hits = %+v, want one item with run=last", got)
			}
		}},
		{"items without metadata are stored and returned with empty metadata", func(t *testing.T, idx Index, col string) {
			mustAdd(t, idx, col, Item{ID: "bare", Vector: unit(dim, 0, 1, 0)}, Item{ID: "meta", Vector: unit(dim, 1, 0, 0), Meta: meta("p", "r")})
			got := mustQuery(t, idx, col, [][]float32{unit(dim, 0, 1, 0)}, 2, nil)[0]
			if len(got) != 2 || got[0].ID != "bare" || got[0].Meta == nil || len(got[0].Meta) != 0 {
				t.Errorf("hits = %+v, want bare first with empty, non-nil metadata", got)
			}
		}},
		{"count is 0 for a missing collection and counts items", func(t *testing.T, idx Index, col string) {
			if n := mustCount(t, idx, col); n != 0 {
				t.Errorf("Count(missing) = %d, want 0", n)
			}
			r := rand.New(rand.NewPCG(1, 2))
			for i := range 7 {
				mustAdd(t, idx, col, Item{ID: fmt.Sprint(i), Vector: randVec(r, dim), Meta: meta("p", "r")})
			}
			if n := mustCount(t, idx, col); n != 7 {
				t.Errorf("Count = %d, want 7", n)
			}
		}},
		{"drop removes the collection and tolerates a missing one", func(t *testing.T, idx Index, col string) {
			ctx := context.Background()
			if err := idx.Drop(ctx, col); err != nil {
				t.Fatalf("Drop(missing) = %v, want nil", err)
			}
			mustAdd(t, idx, col, Item{ID: "a", Vector: unit(dim, 0, 1, 0), Meta: meta("p", "r")})
			if err := idx.Drop(ctx, col); err != nil {
				t.Fatalf("Drop: %v", err)
			}
			if n := mustCount(t, idx, col); n != 0 {
				t.Errorf("Count after Drop = %d, want 0", n)
			}
			if got := mustQuery(t, idx, col, [][]float32{unit(dim, 0, 1, 0)}, 1, nil)[0]; len(got) != 0 {
				t.Errorf("Query after Drop = %v, want no hits", hitIDs(got))
			}
			mustAdd(t, idx, col, Item{ID: "b", Vector: unit(dim, 0, 1, 0), Meta: meta("p", "r")})
			if got := mustQuery(t, idx, col, [][]float32{unit(dim, 0, 1, 0)}, 5, nil)[0]; fmt.Sprint(hitIDs(got)) != "[b]" {
				t.Errorf("Query after re-add = %v, want [b]", hitIDs(got))
			}
		}},
		{"batched queries answer one list per vector", func(t *testing.T, idx Index, col string) {
			for i := range 5 {
				mustAdd(t, idx, col, Item{ID: fmt.Sprint("v", i), Vector: unit(dim, i, 15, 0), Meta: meta("p", "r")})
			}
			qs := [][]float32{unit(dim, 3, 15, 0.05), unit(dim, 0, 15, 0.05), unit(dim, 4, 15, 0.05)}
			res := mustQuery(t, idx, col, qs, 1, nil)
			for i, want := range []string{"v3", "v0", "v4"} {
				if len(res[i]) != 1 || res[i][0].ID != want {
					t.Errorf("query %d hits = %v, want [%s]", i, hitIDs(res[i]), want)
				}
			}
		}},
		{"query on a missing collection returns empty lists", func(t *testing.T, idx Index, col string) {
			res := mustQuery(t, idx, col, [][]float32{unit(dim, 0, 1, 0), unit(dim, 1, 0, 0)}, 3, nil)
			for i, hits := range res {
				if len(hits) != 0 {
					t.Errorf("list %d = %v, want empty", i, hitIDs(hits))
				}
			}
			if res, err := idx.Query(context.Background(), col, nil, 3, nil); err != nil || len(res) != 0 {
				t.Errorf("Query(no vectors) = %v, %v; want no lists, no error", res, err)
			}
		}},
		{"a vector of another dimension is refused", func(t *testing.T, idx Index, col string) {
			mustAdd(t, idx, col, Item{ID: "a", Vector: unit(dim, 0, 1, 0), Meta: meta("p", "r")})
			if err := idx.Add(context.Background(), col, []Item{{ID: "b", Vector: unit(dim*2, 0, 1, 0), Meta: meta("p", "r")}}); err == nil {
				t.Errorf("Add of a %d-d vector into a %d-d collection succeeded, want an error", dim*2, dim)
			}
			if err := idx.Add(context.Background(), col, []Item{{ID: "z", Vector: make([]float32, dim)}}); err == nil {
				t.Errorf("Add of an all-zero vector succeeded, want an error")
			}
		}},
		{"an add larger than the server batch limit is chunked", func(t *testing.T, idx Index, col string) {
			n := 6000
			if c, ok := idx.(*Chroma); ok {
				n = c.MaxBatch() + 17
			}
			r := rand.New(rand.NewPCG(3, 4))
			items := make([]Item, n)
			for i := range items {
				items[i] = Item{ID: fmt.Sprintf("big-%05d", i), Vector: randVec(r, dim), Meta: meta("p", fmt.Sprint(i%3))}
			}
			mustAdd(t, idx, col, items...)
			if got := mustCount(t, idx, col); got != n {
				t.Errorf("Count = %d, want %d", got, n)
			}
			last := items[n-1]
			got := mustQuery(t, idx, col, [][]float32{last.Vector}, 1, nil)[0]
			if len(got) != 1 || got[0].ID != last.ID {
				t.Errorf("nearest to the last item = %v, want [%s]", hitIDs(got), last.ID)
			}
		}},
		{"concurrent adds and queries all land", func(t *testing.T, idx Index, col string) {
			mustAdd(t, idx, col, Item{ID: "seed", Vector: unit(dim, 0, 1, 0), Meta: meta("p", "r")})
			var wg sync.WaitGroup
			errs := make(chan error, 64)
			for w := range 4 {
				wg.Go(func() {
					r := rand.New(rand.NewPCG(uint64(w), 9))
					for i := range 10 {
						v := randVec(r, dim)
						if err := idx.Add(context.Background(), col, []Item{{ID: fmt.Sprintf("w%d-%d", w, i), Vector: v, Meta: meta("p", fmt.Sprint(w))}}); err != nil {
							errs <- err
							return
						}
						res, err := idx.Query(context.Background(), col, [][]float32{v}, 1, nil)
						if err != nil {
							errs <- err
							return
						}
						if len(res[0]) != 1 || res[0][0].ID != fmt.Sprintf("w%d-%d", w, i) {
							errs <- fmt.Errorf("worker %d item %d: nearest = %v", w, i, hitIDs(res[0]))
							return
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			if n := mustCount(t, idx, col); n != 41 {
				t.Errorf("Count = %d, want 41", n)
			}
		}},
	}
	for _, impl := range indexImpls {
		t.Run(impl.name, func(t *testing.T) {
			idx := impl.open(t)
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					tt.run(t, idx, testCollection(t, idx))
				})
			}
		})
	}
}

func TestEmbeddedReopenKeepsVectorsAndMetadata(t *testing.T) {
	dir := t.TempDir()
	e, err := OpenEmbedded(dir)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(5, 6))
	items := make([]Item, 50)
	for i := range items {
		items[i] = Item{ID: fmt.Sprint("r", i), Vector: randVec(r, 32), Meta: map[string]string{"prompt": "p", "run": fmt.Sprint(i % 2)}}
	}
	mustAdd(t, e, "c1", items...)
	mustAdd(t, e, "c2", items[:3]...)
	qs := [][]float32{items[7].Vector, items[30].Vector}
	before := mustQuery(t, e, "c1", qs, 5, map[string]string{"run": "0"})
	e.Close()

	e2, err := OpenEmbedded(dir)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer e2.Close()
	if n := mustCount(t, e2, "c1"); n != 50 {
		t.Errorf("Count(c1) after reopen = %d, want 50", n)
	}
	if n := mustCount(t, e2, "c2"); n != 3 {
		t.Errorf("Count(c2) after reopen = %d, want 3", n)
	}
	after := mustQuery(t, e2, "c1", qs, 5, map[string]string{"run": "0"})
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Errorf("hits after reopen differ:\nbefore %v\nafter  %v", before, after)
	}
}

func TestEmbeddedSmallCollectionIsExact(t *testing.T) {
	// Below nprobe lists the embedded index scans every row: the same neighbours as chromem-go's
	// own exhaustive query.
	e := openTestEmbedded(t)
	r := rand.New(rand.NewPCG(7, 8))
	items := make([]Item, 3000)
	db := chromem.NewDB()
	store, err := db.CreateCollection("scan", nil, func(context.Context, string) ([]float32, error) { return nil, errors.New("no") })
	if err != nil {
		t.Fatal(err)
	}
	for i := range items {
		items[i] = Item{ID: fmt.Sprint("s", i), Vector: randVec(r, 64), Meta: map[string]string{"prompt": fmt.Sprint(i % 4)}}
		if err := store.AddDocument(context.Background(), chromem.Document{ID: items[i].ID, Embedding: items[i].Vector, Metadata: items[i].Meta}); err != nil {
			t.Fatal(err)
		}
	}
	mustAdd(t, e, "scan", items...)
	for q := range 20 {
		v := randVec(r, 64)
		where := map[string]string{"prompt": fmt.Sprint(q % 4)}
		want, err := store.QueryEmbedding(context.Background(), v, 5, where, nil)
		if err != nil {
			t.Fatal(err)
		}
		got := mustQuery(t, e, "scan", [][]float32{v}, 5, where)[0]
		for i := range want {
			if got[i].ID != want[i].ID || !near(got[i].Distance, 1-want[i].Similarity) {
				t.Fatalf("query %d hit %d = %s@%v, chromem-go says %s@%v", q, i, got[i].ID, got[i].Distance, want[i].ID, 1-want[i].Similarity)
			}
		}
	}
}

func TestEmbeddedConvertsAnIndexGobOfEarlierVersions(t *testing.T) {
	dir := t.TempDir()
	// an index directory as earlier versions wrote it: chromem-go's export of the whole DB
	db := chromem.NewDB()
	noEmbed := func(context.Context, string) ([]float32, error) { return nil, errors.New("no") }
	r := rand.New(rand.NewPCG(9, 10))
	want := map[string][]float32{}
	for _, name := range []string{"correctly_before_hash-512", "correctly_after_hash-512"} {
		c, err := db.CreateCollection(name, nil, noEmbed)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 300 {
			v := randVec(r, 32)
			id := fmt.Sprintf("%s-%d", name, i)
			want[id] = v
			if err := c.AddDocument(context.Background(), chromem.Document{ID: id, Embedding: v, Metadata: map[string]string{"prompt": "p", "run": fmt.Sprint(i % 3)}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := db.ExportToFile(filepath.Join(dir, "index.gob"), false, ""); err != nil {
		t.Fatal(err)
	}
	e, err := OpenEmbedded(dir)
	if err != nil {
		t.Fatal(err)
	}
	if e.Migrated != 600 {
		t.Errorf("Migrated = %d, want the 600 vectors of index.gob", e.Migrated)
	}
	check := func(e *Embedded) {
		t.Helper()
		for _, name := range []string{"correctly_before_hash-512", "correctly_after_hash-512"} {
			if n := mustCount(t, e, name); n != 300 {
				t.Errorf("Count(%s) = %d, want 300", name, n)
			}
			id := name + "-17"
			got := mustQuery(t, e, name, [][]float32{want[id]}, 1, map[string]string{"run": "2"})[0]
			if len(got) != 1 || got[0].ID != id || !near(got[0].Distance, 0) || got[0].Meta["prompt"] != "p" {
				t.Errorf("nearest to %s's own vector = %+v, want itself at 0 with its metadata", id, got)
			}
		}
	}
	check(e)
	e.Close()
	if _, err := os.Stat(filepath.Join(dir, "index.gob")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("index.gob still in place after the conversion (%v): the next open would convert it again", err)
	}
	again, err := OpenEmbedded(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if again.Migrated != 0 {
		t.Errorf("second open converted %d vectors again", again.Migrated)
	}
	check(again)
}

func TestOpenChromaUnreachableSaysWhatToDo(t *testing.T) {
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	_, err = OpenChroma(context.Background(), fmt.Sprintf("http://127.0.0.1:%d", port))
	if err == nil {
		t.Fatal("OpenChroma on a closed port succeeded")
	}
	for _, want := range []string{"scripts/chroma.sh start", "unset CHROMA_URL"} {
		if !contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if _, err := OpenChroma(context.Background(), "localhost:8000"); err == nil {
		t.Error("OpenChroma(localhost:8000) without a scheme succeeded, want an error")
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func TestChromaSecondClientSharesCollections(t *testing.T) {
	a, b := openTestChroma(t), openTestChroma(t)
	col := testCollection(t, a)
	mustAdd(t, a, col, Item{ID: "from-a", Vector: unit(8, 0, 1, 0), Meta: map[string]string{"prompt": "p", "run": "a"}})
	mustAdd(t, b, col, Item{ID: "from-b", Vector: unit(8, 1, 0, 0), Meta: map[string]string{"prompt": "p", "run": "b"}})
	if n := mustCount(t, a, col); n != 2 {
		t.Errorf("Count through the first client = %d, want 2", n)
	}
	if got := mustQuery(t, b, col, [][]float32{unit(8, 0, 1, 0)}, 1, nil)[0]; fmt.Sprint(hitIDs(got)) != "[from-a]" {
		t.Errorf("second client's nearest = %v, want [from-a]", hitIDs(got))
	}
	// b drops and recreates the collection; a's cached handle must follow.
	if err := b.Drop(context.Background(), col); err != nil {
		t.Fatal(err)
	}
	mustAdd(t, b, col, Item{ID: "again", Vector: unit(8, 2, 0, 0), Meta: map[string]string{"prompt": "p", "run": "b"}})
	if n := mustCount(t, a, col); n != 1 {
		t.Errorf("Count through the first client after the second recreated the collection = %d, want 1", n)
	}
	mustAdd(t, a, col, Item{ID: "a2", Vector: unit(8, 3, 0, 0), Meta: map[string]string{"prompt": "p", "run": "a"}})
	if n := mustCount(t, b, col); n != 2 {
		t.Errorf("Count after the first client added again = %d, want 2", n)
	}
}

func TestEmbeddedIndexHasOneOwner(t *testing.T) {
	dir := t.TempDir()
	first, err := OpenEmbedded(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenEmbedded(dir); !errors.Is(err, ErrIndexLocked) || !strings.Contains(err.Error(), "CHROMA_URL") {
		t.Fatalf("second OpenEmbedded = %v, want ErrIndexLocked suggesting CHROMA_URL", err)
	}
	if err := first.Add(context.Background(), "c1", []Item{{ID: "a", Vector: []float32{1, 0, 0}}}); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := OpenEmbedded(dir)
	if err != nil {
		t.Fatalf("OpenEmbedded after Close = %v", err)
	}
	defer again.Close()
	if n, _ := again.Count(context.Background(), "c1"); n != 1 {
		t.Errorf("reopened index holds %d vectors, want the 1 saved on Close", n)
	}
}
