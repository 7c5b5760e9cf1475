package mistakes

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

func TestReadSourceSkipsBlankLines(t *testing.T) {
	in := "I went home.\n\n   \n  She likes tea.  \r\nWe met at noon."
	got, err := ReadSource(strings.NewReader(in))
	if err != nil {
		t.Fatalf("ReadSource: %v", err)
	}
	want := []Text{{Text: "I went home."}, {Text: "She likes tea."}, {Text: "We met at noon."}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ReadSource(%q) = %+v, want %+v", in, got, want)
	}
}

func TestReadSourceReportsOverlongLine(t *testing.T) {
	in := "short line\n" + strings.Repeat("a", 2<<20) + "\n"
	_, err := ReadSource(strings.NewReader(in))
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("ReadSource(2 MiB line) error = %v, want one naming line 2", err)
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

func TestReadSourceWrapsReadErrors(t *testing.T) {
	_, err := ReadSource(failingReader{})
	if err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("ReadSource(failing reader) error = %v, want the reader's error", err)
	}
}

func TestBundledCoversSchemaThemesAndSpeakers(t *testing.T) {
	texts := Bundled()
	if len(texts) < 300 {
		t.Errorf("Bundled() has %d texts, want a few hundred", len(texts))
	}
	themes, speakers, types := map[string]int{}, map[string]int{}, map[string]int{}
	for _, tx := range texts {
		if tx.Text == "" || tx.Theme == "" || tx.Speaker == "" || tx.ScriptType == "" {
			t.Errorf("bundled text %+v lacks a field", tx)
		}
		themes[tx.Theme]++
		speakers[tx.Speaker]++
		types[tx.ScriptType]++
	}
	// The default schema's (prompts/schemas/correction_script.yaml) values.
	for _, th := range []string{"travel", "reading habits", "friendship", "school life", "work", "hobbies", "family",
		"food", "technology", "health", "shopping", "sports", "the environment", "movies and music", "weather and seasons"} {
		if themes[th] < 5 {
			t.Errorf("Bundled() has %d texts on %q, want at least 5", themes[th], th)
		}
	}
	for _, sp := range []string{"a middle school student", "a high school student", "a university student", "an office worker",
		"a job seeker", "a stay-at-home parent", "a retiree", "a nurse", "a shop owner", "a software developer"} {
		if speakers[sp] == 0 {
			t.Errorf("Bundled() has no text by %q", sp)
		}
	}
	if len(themes) != 15 || len(speakers) != 10 {
		t.Errorf("Bundled() uses %d themes and %d speakers, want only the schema's 15 and 10: %v %v",
			len(themes), len(speakers), themes, speakers)
	}
}

func TestBundledReturnsACopy(t *testing.T) {
	a := Bundled()
	a[0].Text = "changed"
	if Bundled()[0].Text == "changed" {
		t.Errorf("Bundled() returned its own slice: a caller's change showed in the next call")
	}
}

func TestBundledTextsAreClean(t *testing.T) {
	for _, tx := range Bundled() {
		if hasHangul(tx.Text) {
			t.Errorf("bundled text %q has Korean in it", tx.Text)
		}
		if last := tx.Text[len(tx.Text)-1]; last != '.' && last != '?' && last != '!' {
			t.Errorf("bundled text %q does not end a sentence", tx.Text)
		}
	}
}

func hasHangul(s string) bool {
	for _, r := range s {
		if r >= 0xAC00 && r <= 0xD7A3 {
			return true
		}
	}
	return false
}

// FuzzInject checks that any text either gets errors that keep the Result contract or an error.
func FuzzInject(f *testing.F) {
	for _, tx := range Bundled()[:20] {
		f.Add(tx.Text, uint64(1))
	}
	for _, s := range []string{"", ".", "그래서 나는 갔다.", "I", "a a a a a", "He he he goes goes.", "\"Hi,\" she said. So I went.",
		"U.S. Mr. Kim can't won't don't.", "well-known e-mail (really) ... ?!", "I like it very much very much it."} {
		f.Add(s, uint64(2))
	}
	f.Fuzz(func(t *testing.T, text string, seed uint64) {
		r, err := New(nil).Inject(text, rand.New(rand.NewPCG(seed, 0)))
		if err != nil {
			return
		}
		if r.Before == r.After {
			t.Fatalf("Inject(%q) changed nothing", text)
		}
		checkResultQuotes(t, r, false)
	})
}
