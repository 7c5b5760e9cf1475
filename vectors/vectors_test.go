package vectors

import (
	"context"
	"math"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/text/unicode/norm"
)

func TestNormalize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"  Hello   World \n", "hello world"},
		{"Ｆｕｌｌｗｉｄｔｈ　ＡＢＣ", "fullwidth abc"}, // NFKC folds full-width forms and the ideographic space
		{"tab\tand\nnewline", "tab and newline"},
		{"ﬁne", "fine"}, // ligature
		{"", ""},
		{"한국어 Text", "한국어 text"},
	}
	for _, tt := range tests {
		if got := Normalize(tt.in); got != tt.want {
			t.Errorf("Normalize(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestNormalizeASCIIFastPathMatchesGeneralPath(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	alphabet := "aZ \t\n\v\f\r.,'09Hx"
	for range 2000 {
		b := make([]byte, r.IntN(12))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		in := string(b)
		slow := strings.Join(strings.Fields(strings.ToLower(norm.NFKC.String(in))), " ")
		if got := Normalize(in); got != slow {
			t.Fatalf("Normalize(%q) = %q, want %q", in, got, slow)
		}
	}
}

func TestFingerprintIgnoresCaseWidthAndSpacing(t *testing.T) {
	a := Fingerprint("I went to Busan  with my friend.")
	b := Fingerprint(" i went to ＢＵＳＡＮ with\tmy friend. ")
	if a != b {
		t.Errorf("Fingerprint differs for texts equal after Normalize: %s vs %s", a, b)
	}
	if len(a) != 64 || strings.Trim(a, "0123456789abcdef") != "" {
		t.Errorf("Fingerprint = %q, want 64 lowercase hex digits", a)
	}
	if a == Fingerprint("I went to Seoul with my friend.") {
		t.Error("Fingerprint is equal for different texts")
	}
}

var chromaName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]{1,510}[a-zA-Z0-9]$`)

func TestCollectionNameIsAValidChromaName(t *testing.T) {
	tests := []struct{ field, embedder, want string }{
		{"before", "hash-512", "correctly_before_hash-512"},
		{"after", "hash-512", "correctly_after_hash-512"},
		{"before", "openai:text-embedding-3-small", ""},
		{"before", "openai:text/embed..v2", ""},
		{"before", strings.Repeat("x", 600), ""},
		{"before", "model-", ""},
	}
	seen := map[string]string{}
	for _, tt := range tests {
		got := CollectionName(tt.field, tt.embedder)
		if tt.want != "" && got != tt.want {
			t.Errorf("CollectionName(%q, %q) = %q, want %q", tt.field, tt.embedder, got, tt.want)
		}
		if !chromaName.MatchString(got) || strings.Contains(got, "..") {
			t.Errorf("CollectionName(%q, %q) = %q, not a valid Chroma collection name", tt.field, tt.embedder, got)
		}
		if prev, ok := seen[got]; ok {
			t.Errorf("CollectionName gives %q for both %q and %q", got, prev, tt.embedder)
		}
		seen[got] = tt.embedder
	}
	if CollectionName("before", "openai:x") == CollectionName("before", "openai-x") {
		t.Error("embedders openai:x and openai-x share a collection")
	}
}

// TestDefaultThreshold checks what dedup does with the default embedder and its default threshold
// on the labelled pairs of testdata/neardup.jsonl: every kind of planted near-duplicate (rewordings,
// changed names and numbers, an added sentence) is caught at least 90% of the time, and distinct
// texts of the same theme and speaker, or sharing their opening or closing lines, are kept apart
// (at most 1% called duplicates).
func TestDefaultThreshold(t *testing.T) {
	pairs := readJSONL[nearDupPair](t, "testdata/neardup.jsonl")
	var emb Embedder = NewHash()
	th := DefaultThreshold(emb.ID())
	c := calibrate(t, emb, pairs, th)
	for kind, n := range c.perKind {
		dup := false
		for _, p := range pairs {
			if p.Kind == kind {
				dup = p.Dup
				break
			}
		}
		caught := float64(n[0]) / float64(n[1])
		if dup && caught < 0.9 {
			t.Errorf("%s near-duplicates: %d of %d caught at the default threshold %.2f, want at least 90%%", kind, n[0], n[1], th)
		}
		if !dup && caught > 0.01 {
			t.Errorf("distinct %s pairs: %d of %d called duplicates at the default threshold %.2f, want at most 1%%", kind, n[0], n[1], th)
		}
	}
	if len(c.perKind) < 4 {
		t.Fatalf("only %d kinds of pairs in the labelled set", len(c.perKind))
	}
}

func embedOne(tb testing.TB, e Embedder, text string) []float32 {
	tb.Helper()
	v, err := e.Embed(context.Background(), []string{text})
	if err != nil {
		tb.Fatalf("Embed(%q): %v", text, err)
	}
	return v[0]
}

func cosDist(a, b []float32) float64 {
	var d, na, nb float64
	for i := range a {
		d += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	return 1 - d/math.Sqrt(na*nb)
}

func TestHashEmbedderIsDeterministicAndUnitLength(t *testing.T) {
	h := NewHash()
	if h.ID() != "hash-512" || h.Dim() != 512 {
		t.Fatalf("ID, Dim = %q, %d; want hash-512, 512", h.ID(), h.Dim())
	}
	texts := []string{
		"Yesterday I visited my grandmother in Daegu. She cooked kimchi stew for me.",
		"I am reading a book about habits. It says small changes make a big difference.",
		"x",
	}
	batch, err := h.Embed(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	for i, text := range texts {
		v := batch[i]
		if len(v) != 512 {
			t.Fatalf("len(vector) = %d, want 512", len(v))
		}
		var ss float64
		for _, x := range v {
			ss += float64(x) * float64(x)
		}
		if math.Abs(ss-1) > 1e-5 {
			t.Errorf("|Embed(%q)|² = %v, want 1", text, ss)
		}
		again := embedOne(t, NewHash(), text)
		for j := range v {
			if v[j] != again[j] {
				t.Fatalf("Embed(%q) differs between a batch and a single call at %d: %v vs %v", text, j, v[j], again[j])
			}
		}
	}
}

func TestHashEmbedderNormalisesText(t *testing.T) {
	h := NewHash()
	a := embedOne(t, h, "I went to Busan with my friend.")
	b := embedOne(t, h, "  i WENT to busan   with my FRIEND. ")
	if d := cosDist(a, b); d > 1e-6 {
		t.Errorf("distance between texts equal after Normalize = %v, want 0", d)
	}
	for i, x := range embedOne(t, h, " \t ") {
		if x != 0 {
			t.Fatalf("Embed(blank)[%d] = %v, want an all-zero vector", i, x)
		}
	}
}

func TestHashEmbedderSeparatesNearAndFar(t *testing.T) {
	h := NewHash()
	base := embedOne(t, h, "Last summer I traveled to Jeju island with my family. We ate black pork and climbed Hallasan. It was very tired but I was happy.")
	reword := embedOne(t, h, "Last summer I traveled to Jeju island with my family. We ate black pork and climbed Hallasan. It was very tiring but I was happy.")
	other := embedOne(t, h, "These days I read a novel before sleeping. Reading makes my mind calm. I want to read ten books this year.")
	if dn, df := cosDist(base, reword), cosDist(base, other); dn >= df || dn > 0.1 || df < 0.4 {
		t.Errorf("distance to a one-word rewording = %.3f, to another text = %.3f; want near < 0.1 < 0.4 < far", dn, df)
	}
}
