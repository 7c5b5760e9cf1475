package mistakes

import (
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/correctly/correctly/edits"
)

// only returns an injector that makes exactly one error of kind k.
func only(k Kind) *Injector {
	return &Injector{Weights: map[Kind]float64{k: 1}, MinErrors: 1, MaxErrors: 1}
}

func seeded(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 2)) }

func TestInjectMakesEachKindOfError(t *testing.T) {
	tests := []struct {
		kind       Kind
		in, before string
		o, c, typ  string
		point      string
	}{
		{Article, "Yesterday I bought a cheap ticket online.", "Yesterday I bought an cheap ticket online.", "an", "a", "R:DET",
			`"an cheap" → "a cheap": 관사 오류 (자음 소리로 시작하는 단어 앞에는 a)`},
		{Article, "She gave me the book after class.", "She gave me book after class.", "", "the", "M:DET",
			`"book" → "the book": 관사 누락 (서로 알고 있는 특정한 대상 앞에는 the가 필요)`},
		{Article, "We ate an orange together.", "We ate a orange together.", "a", "an", "R:DET",
			`"a orange" → "an orange": 관사 오류 (모음 소리로 시작하는 단어 앞에는 an)`},
		{Article, "After school we play soccer together.", "After the school we play soccer together.", "the", "", "U:DET",
			`"the school" → "school": 불필요한 관사 (school 앞에는 보통 관사를 쓰지 않음)`},
		{SVA, "My brother goes to school by bus.", "My brother go to school by bus.", "go", "goes", "R:VERB:SVA",
			`"brother go" → "brother goes": 주어와 동사의 수 일치 오류 (3인칭 단수 주어에는 goes)`},
		{SVA, "He doesn't like coffee at all.", "He don't like coffee at all.", "do", "does", "R:VERB:SVA",
			`"He don't" → "He doesn't": 주어와 동사의 수 일치 오류 (3인칭 단수 주어에는 doesn't)`},
		{SVA, "She is a nurse in Seoul.", "She are a nurse in Seoul.", "are", "is", "R:VERB:SVA",
			`"She are" → "She is": 주어와 동사의 수 일치 오류 (3인칭 단수 주어에는 is)`},
		{Tense, "Yesterday I went to the park with my dog.", "Yesterday I go to the park with my dog.", "go", "went", "R:VERB:TENSE",
			`"I go" → "I went": 시제 오류 (지나간 일에는 과거형 went)`},
		{Tense, "Last week she visited her grandmother.", "Last week she visits her grandmother.", "visits", "visited", "R:VERB:TENSE",
			`"she visits" → "she visited": 시제 오류 (지나간 일에는 과거형 visited)`},
		{Tense, "We were tired after the trip.", "We are tired after the trip.", "are", "were", "R:VERB:TENSE",
			`"We are" → "We were": 시제 오류 (지나간 일에는 과거형 were)`},
		{NounNumber, "I have many friends at school.", "I have many friend at school.", "friend", "friends", "R:NOUN:NUM",
			`"many friend" → "many friends": 명사의 수 오류 (many 뒤의 셀 수 있는 명사는 복수형 friends)`},
		{NounNumber, "She gave me some useful information yesterday.", "She gave me some useful informations yesterday.", "informations", "information", "R:NOUN:INFL",
			`"informations" → "information": 명사의 수 오류 (information은(는) 셀 수 없는 명사라 복수형을 쓰지 않음)`},
		{NounNumber, "The children played in the garden.", "The child played in the garden.", "child", "children", "R:NOUN:NUM",
			`"child" → "children": 명사의 수 오류 (여럿을 가리키므로 복수형 children)`},
		{Preposition, "We met at the station.", "We met in the station.", "in", "at", "R:PREP",
			`"met in" → "met at": 전치사 오류 (이 문맥에 맞는 전치사는 at)`},
		{Preposition, "I listen to music every night.", "I listen music every night.", "", "to", "M:PREP",
			`"listen" → "listen to": 전치사 누락 (listen 뒤에는 전치사 to이(가) 필요)`},
		{Preposition, "We discussed the plan yesterday.", "We discussed about the plan yesterday.", "about", "", "U:PREP",
			`"discussed about" → "discussed": 불필요한 전치사 (discuss은(는) 전치사 없이 목적어를 바로 씀)`},
		{Preposition, "After work I went home early.", "After work I went to home early.", "to", "", "U:PREP",
			`"went to" → "went": 불필요한 전치사 (home은 부사로 쓰여 앞에 to를 쓰지 않음)`},
		{Preposition, "We arrived at the airport late.", "We arrived to the airport late.", "to", "at", "R:PREP",
			`"arrived to" → "arrived at": 전치사 오류 (arrive 뒤에는 to가 아니라 at)`},
		{VerbForm, "You can take the bus there.", "You can takes the bus there.", "takes", "take", "R:VERB:FORM",
			`"can takes" → "can take": 동사 형태 오류 (조동사 can 뒤에는 동사원형 take)`},
		{VerbForm, "You can take the bus there.", "You can taking the bus there.", "taking", "take", "R:VERB:FORM",
			`"can taking" → "can take": 동사 형태 오류 (조동사 can 뒤에는 동사원형 take)`},
		{VerbForm, "You can take the bus there.", "You can to take the bus there.", "to", "", "U:VERB:FORM",
			`"can to take" → "can take": 동사 형태 오류 (조동사 can 뒤에는 to 없이 동사원형)`},
		{VerbForm, "They decided to visit Busan.", "They decided visit Busan.", "", "to", "M:VERB:FORM",
			`"decided visit" → "decided to visit": 동사 형태 오류 (decide 뒤에는 to부정사(to + 동사원형)가 옴)`},
		{VerbForm, "She let me go early.", "She let me to go early.", "to", "", "U:VERB:FORM",
			`"me to go" → "me go": 동사 형태 오류 (사역동사 let 뒤에는 to 없이 동사원형)`},
		{VerbForm, "I enjoy reading novels.", "I enjoy to read novels.", "to read", "reading", "R:VERB:FORM",
			`"enjoy to read" → "enjoy reading": 동사 형태 오류 (enjoy은(는) to부정사가 아닌 동명사(-ing)를 목적어로 씀)`},
		{VerbForm, "They decided to visit Busan.", "They decided to visiting Busan.", "visiting", "visit", "R:VERB:FORM",
			`"to visiting" → "to visit": 동사 형태 오류 (to부정사는 to 뒤에 동사원형 visit)`},
		{WordOrder, "I always drink coffee in the morning.", "I drink always coffee in the morning.", "drink always", "always drink", "R:WO",
			`"I drink always" → "I always drink": 어순 오류 (부사 always은(는) 일반동사 앞에 옴)`},
		{WordOrder, "I really like this song.", "I very like this song.", "very", "really", "R:ADV",
			`"very like" → "really like": 부사 오류 (very는 동사를 꾸미지 못하므로 really를 씀)`},
		{WordOrder, "I like it very much.", "I like very much it.", "very much it", "it very much", "R:WO",
			`"like very much it." → "like it very much.": 어순 오류 (very much는 목적어 뒤에 옴)`},
		{Spelling, "The restaurant was crowded.", "The restaurant was crodwed.", "crodwed", "crowded", "R:SPELL",
			`"crodwed." → "crowded.": 철자 오류 (바른 철자는 crowded)`},
		{Orthography, "Then I went home.", "Then I went home", "", ".", "M:PUNCT",
			`"home" → "home.": 문장 부호 누락 (문장 끝에는 마침표)`},
		{Orthography, "It was cold", "it was cold", "it", "It", "R:ORTH",
			`"it" → "It": 대소문자 오류 (문장의 첫 글자는 대문자)`},
		{Orthography, "Last year we visited Seoul with friends", "Last year we visited seoul with friends", "seoul", "Seoul", "R:ORTH",
			`"seoul" → "Seoul": 대소문자 오류 (고유명사 Seoul은(는) 대문자로 시작)`},
		{Orthography, "Yesterday, we stayed home", "Yesterday we stayed home", "", ",", "M:PUNCT",
			`"Yesterday" → "Yesterday,": 문장 부호 누락 (절이나 도입 어구 뒤에는 쉼표)`},
		{Orthography, "Tomorrow Jane and I will cook", "Tomorrow Jane and i will cook", "i", "I", "R:ORTH",
			`"and i" → "and I": 대소문자 오류 (대명사 I는 항상 대문자)`},
		{CodeSwitch, "It rained. So we stayed home.", "It rained. 그래서 we stayed home.", "그래서", "So", "R:OTHER",
			`"그래서" → "So": 영어 글에 한국어 접속사가 섞임 (영어로는 So)`},
		{CodeSwitch, "I was tired, but I finished the report.", "I was tired, 하지만 I finished the report.", "하지만", "but", "R:OTHER",
			`"하지만" → "but": 영어 글에 한국어 접속사가 섞임 (영어로는 but)`},
		{CodeSwitch, "We ate lunch. Then we walked to the river.", "We ate lunch. 그러고 나서 we walked to the river.", "그러고 나서", "Then", "R:OTHER",
			`"그러고 나서" → "Then": 영어 글에 한국어 접속사가 섞임 (영어로는 Then)`},
	}
	// Seeds other than 1, for texts with several sites, pick the site the case shows.
	// Keyed by the wanted before text.
	seeds := map[string]uint64{
		"Last year we visited seoul with friends": 5, "Yesterday we stayed home": 5,
		"You can takes the bus there.": 2, "You can to take the bus there.": 3, "They decided visit Busan.": 2,
		"I very like this song.": 5,
	}
	for _, tt := range tests {
		t.Run(string(tt.kind)+"/"+tt.before, func(t *testing.T) {
			seed, ok := seeds[tt.before]
			if !ok {
				seed = 1
			}
			r, err := only(tt.kind).Inject(tt.in, seeded(seed))
			if err != nil {
				t.Fatalf("Inject(%q) error: %v", tt.in, err)
			}
			if r.Before != tt.before || r.After != tt.in {
				t.Errorf("Inject(%q) = before %q, after %q; want before %q", tt.in, r.Before, r.After, tt.before)
			}
			if len(r.Mistakes) != 1 {
				t.Fatalf("Inject(%q) made %d mistakes, want 1: %+v", tt.in, len(r.Mistakes), r.Mistakes)
			}
			m := r.Mistakes[0]
			if m.Kind != tt.kind || m.Edit.O != tt.o || m.Edit.C != tt.c || m.Edit.Type != tt.typ {
				t.Errorf("Inject(%q) mistake = %s %q -> %q %s, want %s %q -> %q %s",
					tt.in, m.Kind, m.Edit.O, m.Edit.C, m.Edit.Type, tt.kind, tt.o, tt.c, tt.typ)
			}
			if m.Point != tt.point {
				t.Errorf("Inject(%q) point = %q, want %q", tt.in, m.Point, tt.point)
			}
			checkResult(t, r)
		})
	}
}

// checkResult checks the contract of a Result: the edits sit in the token coordinates of Before and
// After, rebuild After from Before, never touch, and the point quotes occur once in each text.
func checkResult(tb testing.TB, r Result) { checkResultQuotes(tb, r, true) }

// checkResultQuotes is checkResult; unique says whether each quote must occur once rather than at
// least once, which a text that repeats itself cannot give.
func checkResultQuotes(tb testing.TB, r Result, unique bool) {
	tb.Helper()
	bt, at := edits.Tokenize(r.Before), edits.Tokenize(r.After)
	var rebuilt []string
	pos := 0
	lastO, lastC := -2, -2
	for _, m := range r.Mistakes {
		e := m.Edit
		if e.OStart < 0 || e.OEnd > len(bt) || e.CStart < 0 || e.CEnd > len(at) || e.OStart > e.OEnd || e.CStart > e.CEnd {
			tb.Fatalf("edit %+v lies outside %d before and %d after tokens", e, len(bt), len(at))
		}
		if got := strings.Join(bt[e.OStart:e.OEnd], " "); got != e.O {
			tb.Errorf("edit O = %q, but before tokens [%d:%d] are %q", e.O, e.OStart, e.OEnd, got)
		}
		if got := strings.Join(at[e.CStart:e.CEnd], " "); got != e.C {
			tb.Errorf("edit C = %q, but after tokens [%d:%d] are %q", e.C, e.CStart, e.CEnd, got)
		}
		if e.OStart <= lastO || e.CStart <= lastC {
			tb.Errorf("edit %+v touches the edit before it in %q", e, r.Before)
		}
		lastO, lastC = e.OEnd, e.CEnd
		rebuilt = append(rebuilt, bt[pos:e.OStart]...)
		rebuilt = append(rebuilt, at[e.CStart:e.CEnd]...)
		pos = e.OEnd

		q, rest, ok := strings.Cut(m.Point, "\" → \"")
		quoteC, _, ok2 := strings.Cut(rest, "\": ")
		if !ok || !ok2 || !strings.HasPrefix(q, "\"") {
			tb.Errorf("point %q is not formatted as \"X\" → \"Y\": why", m.Point)
			continue
		}
		quoteO := q[1:]
		if n := strings.Count(r.Before, quoteO); n != 1 && (unique || n == 0) {
			tb.Errorf("point %q: %q occurs %d times in before %q, want 1", m.Point, quoteO, n, r.Before)
		}
		if n := strings.Count(r.After, quoteC); n != 1 && (unique || n == 0) {
			tb.Errorf("point %q: %q occurs %d times in after %q, want 1", m.Point, quoteC, n, r.After)
		}
	}
	rebuilt = append(rebuilt, bt[pos:]...)
	if !slices.Equal(rebuilt, at) {
		tb.Errorf("applying the edits to %q gives %q, want the tokens of %q", r.Before, rebuilt, r.After)
	}
}

func TestInjectKeepsItsContractOnBundledTexts(t *testing.T) {
	in := New(nil)
	seen := map[Kind]int{}
	for i, tx := range Bundled() {
		r, err := in.Inject(tx.Text, seeded(uint64(i)))
		if err != nil {
			t.Fatalf("Inject(%q): %v", tx.Text, err)
		}
		if r.Before == r.After {
			t.Errorf("Inject(%q) changed nothing", tx.Text)
		}
		if n := len(r.Mistakes); n < 1 || n > 4 {
			t.Errorf("Inject(%q) made %d mistakes, want 1 to 4", tx.Text, n)
		}
		for _, m := range r.Mistakes {
			seen[m.Kind]++
		}
		checkResult(t, r)
	}
	for _, k := range Kinds() {
		if seen[k] == 0 {
			t.Errorf("no %s mistake in %d bundled texts", k, len(Bundled()))
		}
	}
}

func TestInjectIsDeterministicForASeed(t *testing.T) {
	in := New(nil)
	text := "Last summer my sister visited Busan with her friends, and they stayed in a small hotel near the beach. " +
		"She always takes many photos, so she bought a new camera. However, it rained every day."
	first, err := in.Inject(text, seeded(7))
	if err != nil {
		t.Fatalf("Inject: %v", err)
	}
	for range 5 {
		again, err := in.Inject(text, seeded(7))
		if err != nil {
			t.Fatalf("Inject: %v", err)
		}
		if !reflect.DeepEqual(first, again) {
			t.Fatalf("Inject with seed 7 gave %+v, then %+v", first, again)
		}
	}
	differs := false
	for seed := uint64(8); seed < 20 && !differs; seed++ {
		other, err := in.Inject(text, seeded(seed))
		if err != nil {
			t.Fatalf("Inject: %v", err)
		}
		differs = other.Before != first.Before
	}
	if !differs {
		t.Errorf("Inject gave %q for seeds 7 to 19, want different errors for different seeds", first.Before)
	}
}

func TestInjectScalesErrorsWithLength(t *testing.T) {
	in := New(nil)
	short := "I bought a new bag at the store."
	for seed := range uint64(50) {
		r, err := in.Inject(short, seeded(seed))
		if err != nil {
			t.Fatalf("Inject(%q): %v", short, err)
		}
		if len(r.Mistakes) != 1 {
			t.Fatalf("Inject(%q) made %d mistakes, want 1 for an 8-word sentence", short, len(r.Mistakes))
		}
	}
	long := strings.Repeat("My brother always reads many books, and he enjoys talking about them. ", 4)
	most := 0
	for seed := range uint64(50) {
		r, err := in.Inject(long, seeded(seed))
		if err != nil {
			t.Fatalf("Inject(long): %v", err)
		}
		most = max(most, len(r.Mistakes))
	}
	if most != 4 {
		t.Errorf("Inject(long text) made at most %d mistakes over 50 seeds, want 4", most)
	}
}

func TestInjectHonoursWeights(t *testing.T) {
	in := New(map[Kind]float64{SVA: 1, Tense: 0})
	text := "My father visited us last week, and he always brings cake. He bakes it himself."
	for seed := range uint64(30) {
		r, err := in.Inject(text, seeded(seed))
		if err != nil {
			t.Fatalf("Inject: %v", err)
		}
		for _, m := range r.Mistakes {
			if m.Kind != SVA {
				t.Fatalf("Inject with only sva enabled made a %s mistake: %s", m.Kind, m.Point)
			}
		}
	}
}

func TestInjectRejectsWhatItCannotUse(t *testing.T) {
	tests := []struct {
		name string
		in   *Injector
		text string
		rng  *rand.Rand
		want string
	}{
		{"empty text", New(nil), "  \n", seeded(1), "empty"},
		{"nil rng", New(nil), "I went home.", nil, "random source"},
		{"negative weight", New(map[Kind]float64{Article: -1}), "I went home.", seeded(1), "weight"},
		{"infinite weight", New(map[Kind]float64{Article: math.Inf(1)}), "I went home.", seeded(1), "weight"},
		{"unknown kind", New(map[Kind]float64{"slang": 1}), "I went home.", seeded(1), "unknown kind"},
		{"all weights zero", New(map[Kind]float64{Article: 0}), "I went home.", seeded(1), "every weight is 0"},
		{"min above max", &Injector{MinErrors: 3, MaxErrors: 2}, "I went home.", seeded(1), "exceeds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.in.Inject(tt.text, tt.rng)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Inject(%q) error = %v, want one mentioning %q", tt.text, err, tt.want)
			}
		})
	}
}

func TestInjectReportsTextWithoutSites(t *testing.T) {
	_, err := only(SVA).Inject("Thanks!", seeded(1))
	if !errors.Is(err, ErrNoSite) {
		t.Errorf("Inject(%q) with only sva = %v, want ErrNoSite", "Thanks!", err)
	}
}

func TestZeroInjectorUsesDefaults(t *testing.T) {
	var in Injector
	r, err := in.Inject("Yesterday my friend and I went to a new restaurant near the station.", seeded(3))
	if err != nil {
		t.Fatalf("Inject: %v", err)
	}
	if len(r.Mistakes) == 0 {
		t.Errorf("zero Injector made no mistakes")
	}
}

func TestKindsHaveDefaultWeights(t *testing.T) {
	w := DefaultWeights()
	if len(w) != len(Kinds()) {
		t.Errorf("DefaultWeights has %d kinds, Kinds has %d", len(w), len(Kinds()))
	}
	for _, k := range Kinds() {
		if w[k] <= 0 {
			t.Errorf("DefaultWeights()[%q] = %v, want > 0", k, w[k])
		}
	}
}
