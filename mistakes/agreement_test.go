package mistakes

import (
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/correctly/correctly/edits"
)

// agreement compares the edits Inject records with what edits.Extract finds on its output.
type agreement struct {
	recorded, extracted, matched int
	typeMatched                  int
	byKind                       map[Kind]*[3]int // matched, recorded, same type
}

func (a agreement) f1() float64 {
	if a.recorded+a.extracted == 0 {
		return 0
	}
	return 2 * float64(a.matched) / float64(a.recorded+a.extracted)
}

// measureAgreement injects errors into n Bundled() texts, cycling through them, with fixed seeds.
func measureAgreement(tb testing.TB, in *Injector, n int) agreement {
	tb.Helper()
	texts := Bundled()
	a := agreement{byKind: map[Kind]*[3]int{}}
	type key struct {
		o0, o1 int
		c      string
	}
	for i := 0; i < n; i++ {
		tx := texts[i%len(texts)]
		r, err := in.Inject(tx.Text, rand.New(rand.NewPCG(uint64(i), 42)))
		if err != nil {
			tb.Fatalf("Inject(%q): %v", tx.Text, err)
		}
		got := map[key]string{}
		for _, e := range edits.Extract(r.Before, r.After) {
			got[key{e.OStart, e.OEnd, e.C}] = e.Type
			a.extracted++
		}
		for _, m := range r.Mistakes {
			a.recorded++
			k := a.byKind[m.Kind]
			if k == nil {
				k = new([3]int)
				a.byKind[m.Kind] = k
			}
			k[1]++
			typ, ok := got[key{m.Edit.OStart, m.Edit.OEnd, m.Edit.C}]
			if !ok {
				continue
			}
			a.matched++
			k[0]++
			if typ == m.Edit.Type {
				a.typeMatched++
				k[2]++
			}
		}
	}
	return a
}

func TestRecordedEditsAgreeWithExtractor(t *testing.T) {
	a := measureAgreement(t, New(nil), 2000)
	var ks []string
	for k := range a.byKind {
		ks = append(ks, string(k))
	}
	sort.Strings(ks)
	for _, k := range ks {
		c := a.byKind[Kind(k)]
		t.Logf("%-12s %4d edits, span recall %.4f, same type as extracted %.4f", k, c[1],
			float64(c[0])/float64(c[1]), float64(c[2])/float64(max(c[0], 1)))
	}
	t.Logf("span F1 %.4f: %d recorded, %d extracted, %d matched; type agreement on matches %.4f",
		a.f1(), a.recorded, a.extracted, a.matched, float64(a.typeMatched)/float64(a.matched))
	if f := a.f1(); f < 0.95 {
		t.Errorf("span F1 between recorded and extracted edits = %.4f, want >= 0.95", f)
	}
}

// TestDenseErrorsAgreeWithExtractor packs as many errors of every kind, equally weighted, as the
// texts allow, so that errors sit as close together as Inject lets them.
func TestDenseErrorsAgreeWithExtractor(t *testing.T) {
	w := map[Kind]float64{}
	for _, k := range Kinds() {
		w[k] = 1
	}
	a := measureAgreement(t, &Injector{Weights: w, MinErrors: 6, MaxErrors: 12}, 2000)
	t.Logf("span F1 %.4f: %d recorded, %d extracted, %d matched", a.f1(), a.recorded, a.extracted, a.matched)
	if f := a.f1(); f < 0.95 {
		t.Errorf("span F1 between recorded and extracted edits = %.4f, want >= 0.95", f)
	}
}

func BenchmarkInject(b *testing.B) {
	texts := Bundled()
	in := New(nil)
	rng := rand.New(rand.NewPCG(1, 2))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := in.Inject(texts[i%len(texts)].Text, rng); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
