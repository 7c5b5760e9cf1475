package splits

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/correctly/correctly/corpus"
)

var themes = []string{"travel", "food", "work", "family", "school life", "health", "sports", "movies and music"}
var speakers = []string{"a nurse", "a retiree", "an office worker", "a high school student", "a shop owner"}

// synthItems makes n items with skewed theme and speaker values, and planted near-duplicate clusters
// of 2 to 6 items (as pairs chaining each cluster) covering about a third of the items.
func synthItems(tb testing.TB, n int, seed uint64) ([]Item, []Pair) {
	tb.Helper()
	r := rand.New(rand.NewPCG(seed, 7))
	items := make([]Item, n)
	for i := range items {
		th := themes[min(len(themes)-1, int(r.ExpFloat64()*2))]
		items[i] = Item{ID: fmt.Sprintf("run-%06d", i), Dims: map[string]string{
			"theme": th, "speaker": speakers[r.IntN(len(speakers))], KeyDim: fmt.Sprintf("expr%d", r.IntN(40)),
		}}
	}
	var pairs []Pair
	for i := 0; i+6 < n; {
		if r.IntN(3) != 0 {
			i++
			continue
		}
		size := 2 + r.IntN(5)
		for k := 1; k < size; k++ {
			items[i+k].Dims[KeyDim] = items[i].Dims[KeyDim] // near-duplicates share their key expression
			pairs = append(pairs, Pair{A: i + k - 1, B: i + k, Distance: 0.1})
		}
		i += size
	}
	return items, pairs
}

var threeParts = []corpus.PartRatio{{Part: "train", Ratio: 0.8}, {Part: "val", Ratio: 0.1}, {Part: "test", Ratio: 0.1}}

func partsByID(items []Item, res *Result) map[string]string {
	out := make(map[string]string, len(items))
	for i, it := range items {
		out[it.ID] = res.Parts[i]
	}
	return out
}

func TestAssignIsDeterministicForASeed(t *testing.T) {
	items, pairs := synthItems(t, 3000, 1)
	o := Options{Ratios: threeParts, Seed: 42, Stratify: []string{"theme"}}
	a, err := Assign(items, pairs, o)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Assign(items, pairs, o)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a.Parts, b.Parts) {
		t.Fatal("Assign gave two different splits for the same items, pairs and seed")
	}

	// the input order does not matter: shuffle items (renumbering the pairs) and compare by ID
	perm := rand.New(rand.NewPCG(9, 9)).Perm(len(items))
	shuffled := make([]Item, len(items))
	where := make([]int, len(items))
	for newPos, old := range perm {
		shuffled[newPos] = items[old]
		where[old] = newPos
	}
	spairs := make([]Pair, len(pairs))
	for i, p := range pairs {
		spairs[len(pairs)-1-i] = Pair{A: where[p.B], B: where[p.A], Distance: p.Distance}
	}
	c, err := Assign(shuffled, spairs, o)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(partsByID(items, a), partsByID(shuffled, c)) {
		t.Error("Assign depends on the order of the items or pairs, want the same split by ID")
	}

	o.Seed = 43
	d, err := Assign(items, pairs, o)
	if err != nil {
		t.Fatal(err)
	}
	moved := 0
	for i := range a.Parts {
		if a.Parts[i] != d.Parts[i] {
			moved++
		}
	}
	if moved < len(items)/20 {
		t.Errorf("seeds 42 and 43 differ on %d of %d records, want a different split per seed", moved, len(items))
	}
}

func TestAssignKeepsGroupsWhole(t *testing.T) {
	items, pairs := synthItems(t, 2000, 2)
	for _, groupBy := range []string{GroupCluster, GroupKeyExpression} {
		res, err := Assign(items, pairs, Options{Ratios: threeParts, Seed: 1, GroupBy: groupBy, Stratify: []string{"speaker"}})
		if err != nil {
			t.Fatal(err)
		}
		if cross := CrossPairs(pairs, res.Parts); len(cross) != 0 {
			t.Errorf("group-by %s: %d near-duplicate pairs cross parts, want 0", groupBy, len(cross))
		}
		for _, p := range pairs {
			if res.Group[p.A] != res.Group[p.B] {
				t.Fatalf("group-by %s: pair %v spans groups %d and %d", groupBy, p, res.Group[p.A], res.Group[p.B])
			}
		}
		if groupBy == GroupKeyExpression {
			partOfKey := map[string]string{}
			for i, it := range items {
				k := it.Dims[KeyDim]
				if p, ok := partOfKey[k]; ok && p != res.Parts[i] {
					t.Fatalf("key expression %q is in parts %s and %s, want one", k, p, res.Parts[i])
				}
				partOfKey[k] = res.Parts[i]
			}
			if res.Groups != 40 || res.Counts["val"] == 0 || res.Counts["test"] == 0 {
				t.Errorf("group-by key_expression: %d groups, parts %v; want 40 groups and no empty part", res.Groups, res.Counts)
			}
		}
	}
	res, err := Assign(items, pairs, Options{Ratios: threeParts, Seed: 1, GroupBy: GroupNone})
	if err != nil {
		t.Fatal(err)
	}
	if res.Groups != len(items) || len(CrossPairs(pairs, res.Parts)) == 0 {
		t.Errorf("group-by none: %d groups and %d crossing pairs, want %d singletons and some crossing pairs",
			res.Groups, len(CrossPairs(pairs, res.Parts)), len(items))
	}
}

func TestAssignStratifiesWithinTolerance(t *testing.T) {
	const tol = 0.1
	for _, n := range []int{400, 5000} {
		items, pairs := synthItems(t, n, uint64(n))
		o := Options{Ratios: threeParts, Seed: 7, Stratify: []string{"theme", "speaker"}, Tolerance: tol}
		res, err := Assign(items, pairs, o)
		if err != nil {
			t.Fatal(err)
		}
		if !res.WithinTolerance {
			t.Errorf("n=%d: max deviation %.3f, want within %.2f", n, res.MaxDeviation, tol)
		}
		// recount independently of Result.Strata
		count := map[[3]string]int{}
		total := map[[2]string]int{}
		for i, it := range items {
			for _, d := range o.Stratify {
				count[[3]string{d, it.Dims[d], res.Parts[i]}]++
				total[[2]string{d, it.Dims[d]}]++
			}
			count[[3]string{"*", "*", res.Parts[i]}]++
			total[[2]string{"*", "*"}]++
		}
		for k, tot := range total {
			for _, pr := range threeParts {
				want := pr.Ratio * float64(tot)
				got := float64(count[[3]string{k[0], k[1], pr.Part}])
				if math.Abs(got-want) > tol*want+1 {
					t.Errorf("n=%d: %s=%s has %v records in %s, want %.1f ± %.1f", n, k[0], k[1], got, pr.Part, want, tol*want+1)
				}
			}
		}
	}
}

func TestParseRatios(t *testing.T) {
	tests := []struct {
		in      string
		want    []corpus.PartRatio
		wantErr bool
	}{
		{"train=0.9,val=0.05,test=0.05", []corpus.PartRatio{{Part: "train", Ratio: 0.9}, {Part: "val", Ratio: 0.05}, {Part: "test", Ratio: 0.05}}, false},
		{" a = 2 , b=1 ", []corpus.PartRatio{{Part: "a", Ratio: 2}, {Part: "b", Ratio: 1}}, false},
		{"train", nil, true},
		{"train=0", nil, true},
		{"train=-1", nil, true},
		{"train=x", nil, true},
		{"a=1,a=2", nil, true},
		{"", nil, true},
	}
	for _, tt := range tests {
		got, err := ParseRatios(tt.in)
		if (err != nil) != tt.wantErr || !tt.wantErr && !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseRatios(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestAssignRefusesBadInput(t *testing.T) {
	items := []Item{{ID: "a"}, {ID: "a"}}
	if _, err := Assign(items, nil, Options{Ratios: threeParts}); err == nil {
		t.Error("Assign with a repeated ID succeeded, want an error")
	}
	if _, err := Assign(items[:1], []Pair{{A: 0, B: 3}}, Options{Ratios: threeParts}); err == nil {
		t.Error("Assign with a pair out of range succeeded, want an error")
	}
	if _, err := Assign(items[:1], nil, Options{Ratios: threeParts, GroupBy: "theme"}); err == nil {
		t.Error("Assign with group-by theme succeeded, want an error")
	}
}
