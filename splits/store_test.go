package splits

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/correctly/correctly/corpus"
	"github.com/correctly/correctly/vectors"
)

var (
	subjects = []string{"I", "My friend Minji", "My older brother", "Our teacher", "My coworker Jisoo", "My mother", "Junho", "My roommate", "The new manager", "My little sister"}
	verbs    = []string{"went to", "talked about", "was worried about", "wrote a email about", "is very interested in", "recommended me", "complained about", "prepared", "forgot about", "dreamed of"}
	objects  = []string{"the library near my house", "a new cafe in Hongdae", "the English exam", "a trip to Jeju island", "the team project", "a cooking class", "the baseball game", "a book about habits", "the company dinner", "a concert of my favorite singer", "the hospital visit", "my grandmother's garden"}
	tails    = []string{"last weekend.", "yesterday evening.", "because it was raining.", "after work.", "in the morning.", "even though I was tired.", "with many friend.", "when I was child."}
)

// baseText is a learner-style text of 4 sentences, far (in hash-embedding distance) from the others.
func baseText(r *rand.Rand, n int) string {
	var b strings.Builder
	for i := range 4 {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s %s %s %s", subjects[r.IntN(len(subjects))], verbs[r.IntN(len(verbs))], objects[r.IntN(len(objects))], tails[r.IntN(len(tails))])
	}
	fmt.Fprintf(&b, " It was number %d for me.", n)
	return b.String()
}

// variant changes one word of text: the kind of near-duplicate an LLM writes twice.
func variant(r *rand.Rand, text string) string {
	words := strings.Fields(text)
	i := r.IntN(len(words))
	words[i] = []string{"really", "very", "so", "the", "a"}[r.IntN(5)]
	return strings.Join(words, " ")
}

type planted struct {
	recs     []corpus.Record
	clusters int // clusters of 2 or more
}

// plantCorpus makes n accepted records, about a third of them in near-duplicate clusters of 2-4.
func plantCorpus(tb testing.TB, n int) planted {
	tb.Helper()
	r := rand.New(rand.NewPCG(3, 4))
	var p planted
	now := time.Now().UTC()
	add := func(text string) {
		i := len(p.recs)
		p.recs = append(p.recs, corpus.Record{
			ID: fmt.Sprintf("run1-%05d", i), RunID: "run1", Slot: i, Prompt: "learner_errors", PromptVersion: "v1",
			Status: corpus.StatusAccepted, Dims: map[string]string{"theme": themes[r.IntN(len(themes))], "speaker": speakers[r.IntN(len(speakers))]},
			Fields: map[string]any{"before": text, "after": text}, CreatedAt: now,
		})
	}
	for len(p.recs) < n {
		base := baseText(r, len(p.recs))
		add(base)
		if r.IntN(5) == 0 {
			p.clusters++
			for range 1 + r.IntN(3) {
				add(variant(r, base))
			}
		}
	}
	return p
}

func openSource(tb testing.TB) Source {
	tb.Helper()
	ctx := context.Background()
	dir := tb.TempDir()
	st, err := corpus.Open(ctx, corpus.Options{DataDir: dir})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	idx, err := vectors.OpenEmbedded(filepath.Join(dir, "vectors"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { idx.Close() })
	emb := vectors.NewHash()
	return Source{Store: st, Index: idx, Embedder: emb, Fields: []string{"before"}, Threshold: vectors.DefaultThreshold(emb.ID())}
}

func insertRecords(tb testing.TB, st *corpus.Store, recs []corpus.Record) {
	tb.Helper()
	docs := make([]*corpus.Record, len(recs))
	for i := range recs {
		docs[i] = &recs[i]
	}
	if err := st.AddRecords(context.Background(), docs); err != nil {
		tb.Fatal(err)
	}
}

// brutePairs computes every pair within threshold by comparing all vectors, independently of the index.
// Pairs within 1e-4 of the threshold come back in edge: float32 rounding in the index may put them on
// either side.
func brutePairs(tb testing.TB, emb vectors.Embedder, texts []string, threshold float64) (pairs [][2]int, edge int) {
	tb.Helper()
	vecs, err := emb.Embed(context.Background(), texts)
	if err != nil {
		tb.Fatal(err)
	}
	var out [][2]int
	for i := range vecs {
		for j := i + 1; j < len(vecs); j++ {
			var d, ni, nj float64
			for k := range vecs[i] {
				d += float64(vecs[i][k]) * float64(vecs[j][k])
				ni += float64(vecs[i][k]) * float64(vecs[i][k])
				nj += float64(vecs[j][k]) * float64(vecs[j][k])
			}
			dist := 1 - d/(sqrtf(ni)*sqrtf(nj))
			// a little slack over the threshold: float32 rounding in the index must not hide a pair
			if dist <= threshold+1e-4 {
				out = append(out, [2]int{i, j})
			}
			if dist > threshold-1e-4 && dist <= threshold+1e-4 {
				edge++
			}
		}
	}
	return out, edge
}

func sqrtf(x float64) float64 {
	z := x
	for range 30 {
		if z == 0 {
			return 0
		}
		z = (z + x/z) / 2
	}
	return z
}

func TestCreateLeavesNoNearDuplicateAcrossParts(t *testing.T) {
	ctx := context.Background()
	src := openSource(t)
	p := plantCorpus(t, 600)
	insertRecords(t, src.Store, p.recs)
	// the index holds only the first half: Create must add the rest before it trusts the index
	half := make([]vectors.Item, 0, len(p.recs)/2)
	for _, r := range p.recs[:len(p.recs)/2] {
		v, _ := src.Embedder.Embed(ctx, []string{r.Fields["before"].(string)})
		half = append(half, vectors.Item{ID: r.ID, Vector: v[0], Meta: map[string]string{"prompt": r.Prompt, "run": r.RunID}})
	}
	if err := src.Index.Add(ctx, vectors.CollectionName("before", src.Embedder.ID()), half); err != nil {
		t.Fatal(err)
	}

	texts := make([]string, len(p.recs))
	for i, r := range p.recs {
		texts[i] = r.Fields["before"].(string)
	}
	truth, edge := brutePairs(t, src.Embedder, texts, src.Threshold)
	if len(truth) < p.clusters {
		t.Fatalf("the planted corpus has %d near-duplicate pairs for %d clusters: the test data does not plant clusters", len(truth), p.clusters)
	}

	ratios := []corpus.PartRatio{{Part: "train", Ratio: 0.6}, {Part: "val", Ratio: 0.2}, {Part: "test", Ratio: 0.2}}
	crossing := func(name string) int {
		t.Helper()
		ms, err := src.Store.SplitMembership(ctx, name, "")
		if err != nil {
			t.Fatal(err)
		}
		part := map[string]string{}
		for _, m := range ms {
			part[m.RecordID] = m.Part
		}
		if len(part) != len(p.recs) {
			t.Fatalf("split %s has %d members, want %d", name, len(part), len(p.recs))
		}
		n := 0
		for _, pr := range truth {
			if part[p.recs[pr[0]].ID] != part[p.recs[pr[1]].ID] {
				n++
			}
		}
		return n
	}

	c, err := Create(ctx, src, Request{Name: "clustered", Options: Options{Ratios: ratios, Seed: 5, Stratify: []string{"theme"}}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Added != len(p.recs)-len(half) {
		t.Errorf("Create added %d records to the index, want the %d it lacked", c.Added, len(p.recs)-len(half))
	}
	if c.Split.NearPairs > len(truth) || c.Split.NearPairs < len(truth)-edge {
		t.Errorf("Create found %d near-duplicate pairs, brute force finds %d (%d of them at the threshold)", c.Split.NearPairs, len(truth), edge)
	}
	t.Logf("%d records, %d planted clusters, %d pairs, %d groups, largest %d, parts %v", len(p.recs), p.clusters, len(truth), c.Split.Groups, c.Split.LargestGroup, c.Split.Counts)
	if n := crossing("clustered"); n != 0 {
		t.Errorf("cluster split: %d near-duplicate pairs cross parts, want 0", n)
	}
	chk, err := Check(ctx, src, "clustered")
	if err != nil {
		t.Fatal(err)
	}
	if len(chk.Cross) != 0 || chk.Pairs != c.Split.NearPairs {
		t.Errorf("Check(clustered) = %d crossing of %d pairs, want 0 of %d", len(chk.Cross), chk.Pairs, c.Split.NearPairs)
	}

	// without grouping, near-duplicates do cross: the check above can fail
	if _, err := Create(ctx, src, Request{Name: "loose", Options: Options{Ratios: ratios, Seed: 5, GroupBy: GroupNone}}); err != nil {
		t.Fatal(err)
	}
	n := crossing("loose")
	chk, err = Check(ctx, src, "loose")
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 || len(chk.Cross) > n || len(chk.Cross) < n-edge {
		t.Errorf("group-by none: %d pairs cross by brute force, Check says %d; want the same, above 0", n, len(chk.Cross))
	}

	// immutable: the name is taken, whatever the options
	_, err = Create(ctx, src, Request{Name: "clustered", Options: Options{Ratios: ratios, Seed: 6}})
	if !errors.Is(err, corpus.ErrSplitExists) {
		t.Errorf("Create(existing name) = %v, want ErrSplitExists", err)
	}

	// members by part partition the records, sorted
	all := map[string]bool{}
	for _, part := range []string{"train", "val", "test"} {
		ids, err := src.Store.SplitMembers(ctx, "clustered", part)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.IsSorted(ids) {
			t.Errorf("SplitMembers(%s) is not sorted", part)
		}
		if want := c.Split.Counts[part]; len(ids) != want {
			t.Errorf("SplitMembers(%s) = %d ids, want %d", part, len(ids), want)
		}
		for _, id := range ids {
			if all[id] {
				t.Errorf("record %s is in two parts", id)
			}
			all[id] = true
		}
	}
	if len(all) != len(p.recs) {
		t.Errorf("the parts hold %d records, want %d", len(all), len(p.recs))
	}
	if _, err := src.Store.SplitMembers(ctx, "nope", "train"); !errors.Is(err, corpus.ErrNotFound) {
		t.Errorf("SplitMembers(unknown split) = %v, want ErrNotFound", err)
	}

	sum, err := Summarize(ctx, src.Store, "clustered")
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, byPart := range sum.Dims["theme"] {
		for _, k := range byPart {
			total += k
		}
	}
	if total != len(p.recs) || sum.Parts["train"] != c.Split.Counts["train"] {
		t.Errorf("Summarize counts %d theme values and %d train records, want %d and %d", total, sum.Parts["train"], len(p.recs), c.Split.Counts["train"])
	}
}

func TestCreateIsDeterministicThroughTheStore(t *testing.T) {
	ctx := context.Background()
	src := openSource(t)
	p := plantCorpus(t, 200)
	insertRecords(t, src.Store, p.recs)
	ratios := []corpus.PartRatio{{Part: "train", Ratio: 0.8}, {Part: "test", Ratio: 0.2}}
	var got [][]corpus.SplitMember
	for _, name := range []string{"a", "b"} {
		if _, err := Create(ctx, src, Request{Name: name, Options: Options{Ratios: ratios, Seed: 11, Stratify: []string{"speaker"}}}); err != nil {
			t.Fatal(err)
		}
		ms, err := src.Store.SplitMembership(ctx, name, "")
		if err != nil {
			t.Fatal(err)
		}
		for i := range ms {
			ms[i].Split = ""
		}
		got = append(got, ms)
	}
	if !slices.Equal(got[0], got[1]) {
		t.Error("two splits of the same records with the same seed differ")
	}
	if _, err := Create(ctx, src, Request{Name: "none", Prompt: "other", Options: Options{Ratios: ratios}}); err == nil || !strings.Contains(err.Error(), "no accepted records") {
		t.Errorf("Create with no matching record = %v, want a 'no accepted records' error", err)
	}
}
