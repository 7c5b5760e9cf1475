package scoring

import (
	"math"
	"os"
	"strings"
	"testing"

	"github.com/correctly/correctly/edits"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestFScoreCountsAsERRANTDoes(t *testing.T) {
	for _, tc := range []struct {
		name       string
		tp, fp, fn int
		p, r, f    float64
	}{
		{"nothing to do and nothing done", 0, 0, 0, 1, 1, 1},
		{"changed nothing where edits were needed", 0, 0, 5, 1, 0, 0},
		{"edits where none were needed", 0, 3, 0, 0, 1, 0},
		{"half right", 2, 2, 2, 0.5, 0.5, 0.5},
		{"precise but incomplete", 1, 0, 3, 1, 0.25, 1.25 * 0.25 / (0.25 + 0.25)},
	} {
		p, r, f := FScore(tc.tp, tc.fp, tc.fn)
		if !near(p, tc.p) || !near(r, tc.r) || !near(f, tc.f) {
			t.Errorf("%s: FScore(%d, %d, %d) = %.4f, %.4f, %.4f, want %.4f, %.4f, %.4f", tc.name, tc.tp, tc.fp, tc.fn, p, r, f, tc.p, tc.r, tc.f)
		}
	}
}

func TestScorerOnOneSentence(t *testing.T) {
	it := NewItem("He go to school yesterday.", "He went to school yesterday.")
	for _, tc := range []struct {
		name       string
		hyp        string
		readable   bool
		tp, fp, fn int
		exact      bool
	}{
		{"the reference itself", "He went to school yesterday.", true, 1, 0, 0, true},
		{"unchanged", "He go to school yesterday.", true, 0, 0, 1, false},
		{"right edit and an extra one", "He went to the school yesterday.", true, 1, 1, 0, false},
		{"wrong correction of the right span", "He goes to school yesterday.", true, 0, 1, 1, false},
		{"unreadable answer is no correction", "He went to school yesterday.", false, 0, 0, 1, false},
	} {
		s := NewScorer()
		s.Add(it, tc.hyp, tc.readable)
		sc := s.Scores()
		if sc.TP != tc.tp || sc.FP != tc.fp || sc.FN != tc.fn || (sc.Exact == 1) != tc.exact {
			t.Errorf("%s: Add(%q) = tp %d fp %d fn %d exact %d, want %d %d %d exact %v", tc.name, tc.hyp, sc.TP, sc.FP, sc.FN, sc.Exact, tc.tp, tc.fp, tc.fn, tc.exact)
		}
		if want := map[bool]int{true: 0, false: 1}[tc.readable]; sc.Unreadables != want {
			t.Errorf("%s: unreadable = %d, want %d", tc.name, sc.Unreadables, want)
		}
	}
}

func TestOverCorrectionCountsChangedSentencesThatNeededNoEdit(t *testing.T) {
	s := NewScorer()
	fine := NewItem("I went to Busan with my friend.", "I went to Busan with my friend.")
	s.Add(fine, "I went to Busan with my friend.", true)               // left alone: right
	s.Add(fine, "I travelled to Busan with my friend.", true)          // changed: over-corrected
	s.Add(NewItem("I go home.", "I went home."), "I went home.", true) // needed an edit: not counted
	sc := s.Scores()
	if sc.NoEdit != 2 || sc.OverCorrected != 1 || !near(sc.OverCorrection, 0.5) {
		t.Errorf("no-edit %d, over-corrected %d (%.2f), want 2, 1 (0.50)", sc.NoEdit, sc.OverCorrected, sc.OverCorrection)
	}
	if sc.FP != 1 || sc.TP != 1 || sc.Exact != 2 || !near(sc.ExactMatch, 2.0/3) {
		t.Errorf("tp %d fp %d exact %d (%.3f), want 1, 1, 2 (0.667)", sc.TP, sc.FP, sc.Exact, sc.ExactMatch)
	}
}

func TestBestAnnotatorIsChosenPerSentence(t *testing.T) {
	// annotator 0 fixes the tense only, annotator 1 also adds the article; the model does both
	it := NewItem("Yesterday I go to park.", "Yesterday I went to park.", "Yesterday I went to the park.")
	s := NewScorer()
	s.Add(it, "Yesterday I went to the park.", true)
	sc := s.Scores()
	if sc.TP != 2 || sc.FP != 0 || sc.FN != 0 || !near(sc.F05, 1) {
		t.Errorf("scores = tp %d fp %d fn %d F0.5 %.3f, want annotator 1: 2 0 0 1.0", sc.TP, sc.FP, sc.FN, sc.F05)
	}
	s = NewScorer()
	s.Add(it, "Yesterday I went to park.", true)
	if sc := s.Scores(); sc.TP != 1 || sc.FN != 0 || sc.FP != 0 {
		t.Errorf("tense only = tp %d fp %d fn %d, want annotator 0: 1 0 0", sc.TP, sc.FP, sc.FN)
	}
}

func TestTypesTypeHitsAndMissesByReferenceAndFalseAlarmsByTheModel(t *testing.T) {
	s := NewScorer()
	s.Add(NewItem("He go to school.", "He goes to school."), "He goes to the school.", true)
	s.Add(NewItem("I have two cat.", "I have two cats."), "I have two cat.", true)
	byType := map[string][3]int{}
	for _, ts := range s.Scores().Types {
		byType[ts.Type] = [3]int{ts.TP, ts.FP, ts.FN}
	}
	for typ, want := range map[string][3]int{"R:VERB:SVA": {1, 0, 0}, "M:DET": {0, 1, 0}, "R:NOUN:NUM": {0, 0, 1}} {
		if byType[typ] != want {
			t.Errorf("type %s = tp/fp/fn %v, want %v (all: %v)", typ, byType[typ], want, byType)
		}
	}
}

func TestSkippedItemsAreInTheTestSetNotTheScores(t *testing.T) {
	s := NewScorer()
	s.Add(NewItem("I go.", "I went."), "I went.", true)
	s.Skip()
	sc := s.Scores()
	if sc.Items != 2 || sc.Answered != 1 || sc.TP != 1 || sc.FN != 0 {
		t.Errorf("items %d answered %d tp %d fn %d, want 2 1 1 0", sc.Items, sc.Answered, sc.TP, sc.FN)
	}
}

func TestReadAnswer(t *testing.T) {
	for _, tc := range []struct {
		name, answer, want string
		ok                 bool
	}{
		{"trained format", "### 교정 후 ###\nYesterday I went to Busan.\n\n### 교정 지점 ###\n1. \"go\" → \"went\": 과거", "Yesterday I went to Busan.", true},
		{"only the correction section", "### 교정 후 ###\n  I went home. \n", "I went home.", true},
		{"several lines", "### 교정 후 ###\nI went home.\nIt was late.\n### 해석 ###\n집에 갔다.", "I went home.\nIt was late.", true},
		{"plain text", "  I went home.\n", "I went home.", true},
		{"code fence", "```text\nI went home.\n```", "I went home.", true},
		{"empty", "  \n ", "", false},
		{"sections without the correction", "### 해석 ###\n집에 갔다.", "", false},
		{"empty correction section: the text is deleted", "### 교정 후 ###\n\n### 교정 지점 ###\n1. 없음", "", true},
	} {
		got, ok := ReadAnswer(tc.answer, "")
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s: ReadAnswer(%q) = %q, %v, want %q, %v", tc.name, tc.answer, got, ok, tc.want, tc.ok)
		}
	}
}

func TestMarkerOfReadsTheTrainTemplate(t *testing.T) {
	for tmpl, want := range map[string]string{
		"### 교정 후 ###\n{{.after}}\n\n### 교정 지점 ###\n{{numbered .points}}": "교정 후",
		"## Corrected ##\n{{.after}}": "Corrected",
		"{{.after}}":                  "",
		"Here you go: {{.after}}":     "",
	} {
		if got := MarkerOf(tmpl); got != want {
			t.Errorf("MarkerOf(%q) = %q, want %q", tmpl, got, want)
		}
	}
}

func TestHashNamesTheSentences(t *testing.T) {
	a := []Item{NewItem("I go.", "I went."), NewItem("He go.", "He goes.")}
	b := []Item{NewItem("I go.", "I went."), NewItem("He go.", "He goes.")}
	c := []Item{NewItem("I go.", "I went."), NewItem("He go.", "He went.")}
	if Hash(a) != Hash(b) || Hash(a) == Hash(c) || Hash(a) == Hash(a[:1]) {
		t.Errorf("Hash: equal sets %v, different reference %v, prefix %v", Hash(a) == Hash(b), Hash(a) != Hash(c), Hash(a) != Hash(a[:1]))
	}
}

func TestItemsFromM2KeepAnnotatedTypes(t *testing.T) {
	m2 := `S He go to school .
A 1 2|||R:VERB:SVA|||goes|||REQUIRED|||-NONE-|||0
A 1 2|||R:VERB:TENSE|||went|||REQUIRED|||-NONE-|||1

S It is fine .
A -1 -1|||noop|||-NONE-|||REQUIRED|||-NONE-|||0
`
	sents, err := edits.ReadM2(strings.NewReader(m2))
	if err != nil {
		t.Fatal(err)
	}
	items := ItemsFromM2(sents)
	if len(items) != 2 || items[0].Text != "He go to school." || len(items[0].References) != 2 {
		t.Fatalf("items = %+v", items)
	}
	if e := items[0].References[1].Edits; len(e) != 1 || e[0].Type != "R:VERB:TENSE" || e[0].C != "went" {
		t.Errorf("annotator 1's edits = %+v, want one R:VERB:TENSE went", e)
	}
	if len(items[1].References) != 1 || len(items[1].References[0].Edits) != 0 {
		t.Errorf("noop sentence references = %+v, want one without edits", items[1].References)
	}
}

// beaDev is BEA-2019's development set, kept beside the repository and never copied into it.
const beaDev = "../../shared/data/gec/bea-dev.m2"

func TestBEADevGoldScoresOneAndSourcesRecallZero(t *testing.T) {
	f, err := os.Open(beaDev)
	if err != nil {
		t.Fatalf("open the BEA-2019 dev set (expected beside the repository): %v", err)
	}
	defer f.Close()
	sents, err := edits.ReadM2(f)
	if err != nil {
		t.Fatal(err)
	}
	items := ItemsFromM2(sents)
	gold, src := NewScorer(), NewScorer()
	for i, it := range items {
		gold.Add(it, edits.Detokenize(sents[i].Corrected(0)), true)
		src.Add(it, it.Text, true)
	}
	g, s := gold.Scores(), src.Scores()
	t.Logf("gold: P %.4f R %.4f F0.5 %.4f (tp %d); sources: P %.4f R %.4f F0.5 %.4f (fn %d); no-edit sentences %d",
		g.Precision, g.Recall, g.F05, g.TP, s.Precision, s.Recall, s.F05, s.FN, s.NoEdit)
	if g.F05 != 1 || g.Precision != 1 || g.Recall != 1 || g.Exact != len(items) || g.TP == 0 {
		t.Errorf("gold corrections: P %v R %v F0.5 %v exact %d/%d, want 1 1 1 and every sentence exact", g.Precision, g.Recall, g.F05, g.Exact, len(items))
	}
	if s.Recall != 0 || s.TP != 0 || s.FP != 0 || s.OverCorrected != 0 {
		t.Errorf("unchanged sources: recall %v tp %d fp %d over-corrected %d, want 0", s.Recall, s.TP, s.FP, s.OverCorrected)
	}
}
