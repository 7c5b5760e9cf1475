package edits

import (
	"os"
	"slices"
	"strings"
	"testing"
)

func TestDetokenizeWritesTextAsTyped(t *testing.T) {
	for _, tc := range []struct{ toks, want string }{
		{"I do n't know why .", "I don't know why."},
		{"He ca n't come , can he ?", "He can't come, can he?"},
		{`She said " I am fine . "`, `She said "I am fine."`},
		{"It 's a well - known fact ( really ) .", "It's a well-known fact (really)."},
		{"I was a teacher .. I do n't know", "I was a teacher.. I don't know"},
		{"the students ' books", "the students' books"},
		{"50 % of people and/or 3/4", "50% of people and/or 3/4"},
		{"그래서 I went home", "그래서 I went home"},
	} {
		if got := Detokenize(strings.Fields(tc.toks)); got != tc.want {
			t.Errorf("Detokenize(%q) = %q, want %q", tc.toks, got, tc.want)
		}
	}
}

// TestDetokenizeRoundTripsBEADev checks that Detokenize undoes Tokenize: scoring tokenizes what the
// model is shown and what it answers with Tokenize, so text built from tokens must give the same
// tokens back, or a model that changed nothing would be charged with edits. The M2 files' own
// tokenization (spaCy's) differs from Tokenize's on a few sentences ("haven't" as one token, "etc ."):
// those are measured in Tokenize's tokens of their text.
func TestDetokenizeRoundTripsBEADev(t *testing.T) {
	f, err := os.Open(beaDev)
	if err != nil {
		t.Fatalf("open the BEA-2019 dev set (expected beside the repository): %v", err)
	}
	defer f.Close()
	sents, err := ReadM2(f)
	if err != nil {
		t.Fatal(err)
	}
	bad := 0
	for _, s := range sents {
		for _, m2 := range [][]string{s.Source, s.Corrected(0)} {
			toks := Tokenize(Detokenize(m2))
			if back := Tokenize(Detokenize(toks)); !slices.Equal(back, toks) {
				if bad < 10 {
					t.Logf("%q\n  -> %q\n  -> %q", strings.Join(toks, " "), Detokenize(toks), strings.Join(back, " "))
				}
				bad++
			}
		}
	}
	share := float64(bad) / float64(2*len(sents))
	t.Logf("%d of %d sentences do not round-trip (%.2f%%)", bad, 2*len(sents), 100*share)
	if share > 0.002 {
		t.Errorf("%.2f%% of BEA-dev sentences do not round-trip through Detokenize and Tokenize, want at most 0.2%%", 100*share)
	}
}
