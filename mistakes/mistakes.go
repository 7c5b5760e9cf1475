// Package mistakes injects the grammatical errors Korean learners of English typically make into
// clean English text, recording each error as an exact, typed edit with a point explained in Korean.
// It is the rule-based generator of training data: controlled corruption at no cost, the way
// grammatical error correction work builds synthetic data (PIE, C4_200M).
package mistakes

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/correctly/correctly/edits"
)

// Kind is a family of learner errors.
type Kind string

// The kinds of errors Inject makes.
const (
	Article     Kind = "article"     // a/an/the omitted, swapped or added
	SVA         Kind = "sva"         // subject-verb agreement: "he go"
	Tense       Kind = "tense"       // present for past: "yesterday I go"
	NounNumber  Kind = "noun_number" // "many book", "informations"
	Preposition Kind = "preposition" // in/on/at confusion, "discuss about", "listen music"
	VerbForm    Kind = "verb_form"   // "can goes", "should to go", "enjoy to read", "want to going", "want go"
	WordOrder   Kind = "word_order"  // adverb placement: "I go always", "I like very much it", "I very like it"
	Spelling    Kind = "spelling"    // a slip in a longer content word
	Orthography Kind = "orthography" // capitalisation and punctuation: "i", missing final period
	CodeSwitch  Kind = "code_switch" // a connective left in Korean: 그래서, 하지만
)

var kinds = []Kind{Article, SVA, Tense, NounNumber, Preposition, VerbForm, WordOrder, Spelling, Orthography, CodeSwitch}

// Kinds returns every kind, in a fixed order.
func Kinds() []Kind { return slices.Clone(kinds) }

// DefaultWeights returns the relative frequency of each kind: the grammatical errors learners make
// most (articles, agreement, tense) are the most common, code-switching the rarest.
func DefaultWeights() map[Kind]float64 {
	return map[Kind]float64{
		Article: 3, SVA: 3, Tense: 3, NounNumber: 2, Preposition: 2.5, VerbForm: 1.5,
		WordOrder: 1, Spelling: 1.5, Orthography: 1.5, CodeSwitch: 0.5,
	}
}

// Injector injects errors into clean text. The zero value uses DefaultWeights and 1 to 4 errors.
type Injector struct {
	// Weights is the relative frequency of each kind; a kind that is missing or 0 is never injected.
	// Nil means DefaultWeights.
	Weights map[Kind]float64
	// MinErrors and MaxErrors bound the errors per text (0 means 1 and 4). The upper bound shrinks
	// with length to one error per 8 words, and a text gets fewer errors when it has too few places
	// for them.
	MinErrors, MaxErrors int
}

// New returns an Injector with the given weights (nil for DefaultWeights) and 1 to 4 errors a text.
func New(weights map[Kind]float64) *Injector {
	return &Injector{Weights: weights, MinErrors: 1, MaxErrors: 4}
}

// Mistake is one injected error.
type Mistake struct {
	Kind Kind
	// Edit turns the error back into the clean text, as edits.Extract(Before, After) finds it: its O
	// span is in the tokens of Before, its C span in the tokens of After (edits.Tokenize), and Type is
	// the ERRANT-style label of the error ("M:DET", "R:VERB:SVA", ...).
	Edit edits.Edit
	// Point quotes the error and its correction and explains it in Korean:
	// `"he go" → "he goes": 주어와 동사의 수 일치 오류 (3인칭 단수 주어에는 goes)`. The quotes are
	// whole words around the change, the first taken from Before, the second from After, each the
	// smallest that occurs there once; only in a text that repeats itself so much that no quote of a
	// dozen more words is unique do they occur more than once.
	Point string
}

// Result is one corrupted text.
type Result struct {
	Before   string    // the text with the errors
	After    string    // the clean text, trimmed
	Mistakes []Mistake // in text order; they never touch: at least one unchanged token lies between two
}

// ErrNoSite is returned, wrapped, when a text offers no place for any enabled kind of error.
var ErrNoSite = errors.New("no place for an error")

// Inject corrupts clean with errors of the enabled kinds, chosen with rng: the same text, weights and
// rng seed give the same Result. It returns an error wrapping ErrNoSite when no enabled kind of error
// fits the text, and an error for an empty text, a nil rng or a bad weight.
func (in *Injector) Inject(clean string, rng *rand.Rand) (Result, error) {
	clean = strings.TrimSpace(clean)
	if clean == "" {
		return Result{}, errors.New("inject errors: the text is empty: give a sentence or paragraph of English")
	}
	if rng == nil {
		return Result{}, errors.New("inject errors: no random source: pass a *rand.Rand")
	}
	weights := in.Weights
	if weights == nil {
		weights = DefaultWeights()
	}
	for k, w := range weights {
		if !slices.Contains(kinds, k) {
			return Result{}, fmt.Errorf("inject errors: unknown kind %q: use one of %v", k, kinds)
		}
		if w < 0 || math.IsNaN(w) || math.IsInf(w, 0) {
			return Result{}, fmt.Errorf("inject errors: weight %v for %q: give a finite weight of 0 or more", w, k)
		}
	}
	lo, hi := in.MinErrors, in.MaxErrors
	if lo <= 0 {
		lo = 1
	}
	if hi <= 0 {
		hi = 4
	}
	if hi < lo {
		return Result{}, fmt.Errorf("inject errors: MinErrors %d exceeds MaxErrors %d", lo, hi)
	}

	t := newText(clean)
	byKind := make([][]candidate, len(kinds))
	enabled := false
	for ki, k := range kinds {
		if weights[k] > 0 {
			enabled = true
			byKind[ki] = t.find(k, rng)
		}
	}
	if !enabled {
		return Result{}, errors.New("inject errors: every weight is 0: enable at least one kind")
	}
	words := 0
	for _, w := range t.low {
		if isWord(w) {
			words++
		}
	}
	top := min(hi, max(lo, (words+7)/8))
	want := lo + rng.IntN(top-lo+1)

	var chosen []candidate
	dead := make([][]bool, len(kinds))
	for ki := range kinds {
		dead[ki] = make([]bool, len(byKind[ki]))
	}
	usable := make([][]int, len(kinds))
	for len(chosen) < want {
		total := 0.0
		for ki, k := range kinds {
			usable[ki] = usable[ki][:0]
			for ci, c := range byKind[ki] {
				if !dead[ki][ci] && !conflicts(c, chosen) {
					usable[ki] = append(usable[ki], ci)
				}
			}
			if len(usable[ki]) > 0 {
				total += weights[k]
			}
		}
		if total == 0 {
			break
		}
		x := rng.Float64() * total
		ki := -1
		for i, k := range kinds {
			if len(usable[i]) == 0 {
				continue
			}
			ki = i
			if x -= weights[k]; x < 0 {
				break
			}
		}
		ci := usable[ki][rng.IntN(len(usable[ki]))]
		dead[ki][ci] = true
		try := append(slices.Clone(chosen), byKind[ki][ci])
		slices.SortFunc(try, func(a, b candidate) int { return a.s - b.s })
		if _, ok := t.render(try); ok {
			chosen = try
		}
	}
	if len(chosen) == 0 {
		return Result{}, fmt.Errorf("inject errors into %q: %w of the enabled kinds: give a longer text or enable more kinds",
			abbreviate(clean), ErrNoSite)
	}
	r, _ := t.render(chosen)
	return r, nil
}

// conflicts reports whether c touches or overlaps a chosen candidate: errors keep at least one
// unchanged token between them so that the extractor cannot merge them. Two insertions or deletions
// keep three: the extractor reads "finish book for the" against "finish the book for" as one word
// order change.
func conflicts(c candidate, chosen []candidate) bool {
	for _, o := range chosen {
		gap := 1
		if c.oneSided() && o.oneSided() {
			gap = 3
		}
		if !(c.e+gap <= o.s || o.e+gap <= c.s) {
			return true
		}
	}
	return false
}

// oneSided reports an insertion or a deletion.
func (c candidate) oneSided() bool { return len(c.repl) == 0 || c.s == c.e }

func abbreviate(s string) string {
	r := []rune(s)
	if len(r) <= 40 {
		return s
	}
	return string(r[:40]) + "…"
}

// candidate is one place where an error fits: clean tokens [s, e) become repl.
type candidate struct {
	kind Kind
	s, e int
	repl []string
	typ  string // ERRANT-style label
	why  string // Korean explanation
	// ctxL and ctxR are the unchanged tokens left and right of the span the point quotes at least,
	// so that it shows the words that make the error ("he go", not "go").
	ctxL, ctxR int
}

// text is a clean text cut into tokens, with the whitespace before each token.
type text struct {
	src   string
	toks  []string
	low   []string
	gaps  []string
	start []int // byte offset of each token in src
}

func newText(s string) *text {
	t := &text{src: s, toks: edits.Tokenize(s)}
	pos := 0
	for _, tok := range t.toks {
		at := strings.Index(s[pos:], tok)
		if at < 0 { // cannot happen: Tokenize never rewrites token text
			at = 0
		}
		t.gaps = append(t.gaps, s[pos:pos+at])
		t.start = append(t.start, pos+at)
		t.low = append(t.low, strings.ToLower(tok))
		pos += at + len(tok)
	}
	return t
}

// render applies the sorted candidates and builds the Result. It reports false when Before does not
// tokenise back into the tokens the candidates made, so the recorded edits would be wrong.
func (t *text) render(cs []candidate) (Result, bool) {
	var b strings.Builder
	var btoks, bgaps []string
	var bstart []int
	type span struct{ o0, o1 int }
	spans := make([]span, len(cs))
	add := func(gap, tok string) {
		b.WriteString(gap)
		bgaps = append(bgaps, gap)
		bstart = append(bstart, b.Len())
		b.WriteString(tok)
		btoks = append(btoks, tok)
	}
	i := 0
	for k, c := range cs {
		for ; i < c.s; i++ {
			add(t.gaps[i], t.toks[i])
		}
		spans[k].o0 = len(btoks)
		for j, r := range c.repl {
			gap := " "
			switch {
			case j == 0 && c.s < len(t.toks):
				gap = t.gaps[c.s]
			case j == 0:
				gap = ""
			case glued(r):
				gap = ""
			}
			if len(btoks) == 0 {
				gap = ""
			}
			add(gap, r)
		}
		spans[k].o1 = len(btoks)
		i = c.e
		if i < len(t.toks) {
			gap := t.gaps[i]
			if len(c.repl) > 0 && c.s == c.e && gap == "" && !glued(t.toks[i]) {
				gap = " "
			}
			if len(btoks) == 0 {
				gap = ""
			}
			add(gap, t.toks[i])
			i++
		}
	}
	for ; i < len(t.toks); i++ {
		add(t.gaps[i], t.toks[i])
	}
	before := b.String()
	if before == t.src || !slices.Equal(edits.Tokenize(before), btoks) {
		return Result{}, false
	}
	r := Result{Before: before, After: t.src}
	for k, c := range cs {
		sp := spans[k]
		e := edits.Edit{
			OStart: sp.o0, OEnd: sp.o1, CStart: c.s, CEnd: c.e,
			O: strings.Join(btoks[sp.o0:sp.o1], " "), C: strings.Join(t.toks[c.s:c.e], " "),
			Type: c.typ,
		}
		qo, qc := t.quote(before, btoks, bgaps, bstart, sp.o0, sp.o1, c)
		r.Mistakes = append(r.Mistakes, Mistake{
			Kind:  c.kind,
			Edit:  e,
			Point: fmt.Sprintf("\"%s\" → \"%s\": %s", qo, qc, c.why),
		})
	}
	return r, true
}

// maxWiden bounds how many tokens a quote takes in to become unique: in a text that repeats itself,
// a quote that occurs more than once is better than one that runs for lines.
const maxWiden = 12

// quote returns the point's quotes of candidate c, whose tokens in Before are [o0, o1): the smallest
// spans of whole words around the change that occur once in Before and After, widened by whole tokens
// from c's context. When no span of up to maxWiden more tokens is unique, it returns the smallest
// spans with a letter in them.
func (t *text) quote(before string, btoks, bgaps []string, bstart []int, so0, so1 int, c candidate) (string, string) {
	var fo, fc string // fallback
	l := min(c.ctxL, so0, c.s)
	r := min(c.ctxR, len(btoks)-so1, len(t.toks)-c.e)
	for widen := 0; ; widen++ {
		o0, o1, c0, c1 := so0-l, so1+r, c.s-l, c.e+r
		if o1 > o0 && c1 > c0 {
			// Quote whole words: take in what is written without a space before or after.
			o0, o1 = wordBounds(bgaps, o0, o1)
			c0, c1 = wordBounds(t.gaps, c0, c1)
			qo := before[bstart[o0] : bstart[o1-1]+len(btoks[o1-1])]
			qc := t.src[t.start[c0] : t.start[c1-1]+len(t.toks[c1-1])]
			if hasLetter(qo) && hasLetter(qc) {
				if strings.Count(before, qo) == 1 && strings.Count(t.src, qc) == 1 {
					return qo, qc
				}
				if fo == "" {
					fo, fc = qo, qc
				}
			}
		}
		canL, canR := o0 > 0 && c0 > 0, o1 < len(btoks) && c1 < len(t.toks)
		if !canL && !canR || widen >= maxWiden && fo != "" {
			if fo == "" {
				return before, t.src
			}
			return fo, fc
		}
		if canL && (l <= r || !canR) {
			l++
		} else {
			r++
		}
	}
}

// wordBounds widens the token span [s, e) to the whitespace around it, given the whitespace before
// each token.
func wordBounds(gaps []string, s, e int) (int, int) {
	for s > 0 && gaps[s] == "" {
		s--
	}
	for e < len(gaps) && gaps[e] == "" {
		e++
	}
	return s, e
}

// glued reports tokens written without a space before them.
func glued(tok string) bool {
	switch tok {
	case ",", ".", "!", "?", ";", ":", ")", "n't", "'s", "'re", "'ll", "'ve", "'d", "'m":
		return true
	}
	return false
}

func hasLetter(s string) bool {
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= 0xAC00 && r <= 0xD7A3 {
			return true
		}
	}
	return false
}

// isWord reports a token made of ASCII letters, possibly with inner apostrophes or hyphens.
func isWord(s string) bool {
	if s == "" || !isLetter(s[0]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isLetter(s[i]) && s[i] != '\'' && s[i] != '-' {
			return false
		}
	}
	return true
}

func isLetter(b byte) bool { return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' }
