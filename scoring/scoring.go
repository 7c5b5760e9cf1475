// Package scoring measures a correction model against reference corrections the way ERRANT and the
// M2 scorer do: the edits a model made to each source sentence are aligned with the edits package
// (the same alignment as the references'), and an edit counts as right when a reference has the same
// start, end and correction. Precision, recall and F0.5 are summed over the corpus, per error type
// too; with several annotators per sentence the one that gives the best corpus score so far is
// chosen for each sentence, as the M2 scorer does. It also counts exact-sentence matches,
// over-correction of sentences that needed no edit, and answers that could not be read.
package scoring

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"sort"
	"strings"

	"github.com/correctly/correctly/corpus"
	"github.com/correctly/correctly/edits"
)

// Beta weighs precision against recall in the F score: 0.5 counts precision twice as much, the
// convention of grammatical error correction since CoNLL-2014.
const Beta = 0.5

// Item is one test sentence: the text a model is given, its tokens, and one or more reference
// corrections (one per annotator).
type Item struct {
	Text       string
	Source     []string
	References []Reference
}

// Reference is one correction of an item: its tokens and the edits from the item's source to them.
type Reference struct {
	Tokens []string
	Edits  []edits.Edit
}

// NewItem tokenizes a source text and its reference corrections and aligns each reference with the
// source.
func NewItem(source string, references ...string) Item {
	it := Item{Text: source, Source: edits.Tokenize(source)}
	for _, r := range references {
		toks := edits.Tokenize(r)
		it.References = append(it.References, Reference{Tokens: toks, Edits: edits.ExtractTokens(it.Source, toks)})
	}
	if len(it.References) == 0 {
		it.References = []Reference{{Tokens: it.Source}}
	}
	return it
}

// ItemsFromM2 turns the sentences of an M2 file into items: each source is detokenized into the text
// a model is shown, and each annotator's correction (its edits applied; noop: the source itself)
// becomes a reference, in annotator order. Reference edits keep the annotated error type where the
// alignment finds the annotated span.
func ItemsFromM2(sents []edits.M2Sentence) []Item {
	out := make([]Item, 0, len(sents))
	for _, s := range sents {
		text := edits.Detokenize(s.Source)
		it := Item{Text: text, Source: edits.Tokenize(text)}
		sameToks := slices.Equal(it.Source, s.Source)
		anns := make([]int, 0, len(s.Edits))
		for a := range s.Edits {
			anns = append(anns, a)
		}
		sort.Ints(anns)
		if len(anns) == 0 {
			anns = []int{0}
		}
		for _, a := range anns {
			cor := s.Corrected(a)
			toks := edits.Tokenize(edits.Detokenize(cor))
			ref := Reference{Tokens: toks, Edits: edits.ExtractTokens(it.Source, toks)}
			if sameToks && slices.Equal(toks, cor) {
				gold := map[key]string{}
				for _, g := range s.Edits[a] {
					gold[key{g.Start, g.End, strings.Join(strings.Fields(g.Correction), " ")}] = g.Type
				}
				for i, e := range ref.Edits {
					if t, ok := gold[key{e.OStart, e.OEnd, e.C}]; ok && t != "" && t != "noop" && t != "UNK" {
						ref.Edits[i].Type = t
					}
				}
			}
			it.References = append(it.References, ref)
		}
		out = append(out, it)
	}
	return out
}

// Hash is the hex SHA-256 of the items' sources and references, in order: two test sets with the same
// hash hold the same sentences.
func Hash(items []Item) string {
	h := sha256.New()
	for _, it := range items {
		h.Write([]byte(strings.Join(it.Source, " ")))
		for _, r := range it.References {
			h.Write([]byte{0})
			h.Write([]byte(strings.Join(r.Tokens, " ")))
		}
		h.Write([]byte{1})
	}
	return hex.EncodeToString(h.Sum(nil))
}

type key struct {
	s, e int
	c    string
}

type counts struct{ tp, fp, fn int }

// Scorer accumulates the scores of a model's corrections one sentence at a time. The best reference
// of a sentence depends on the sentences before it, so sentences are added in test-set order.
type Scorer struct {
	total       counts
	types       map[string]*counts
	items       int
	answered    int
	exact       int
	noEdit      int
	overCorrect int
	unreadable  int
	refKeys     map[key]string
	hypKeys     []key
	hypTypes    []string
}

// NewScorer returns an empty scorer.
func NewScorer() *Scorer {
	return &Scorer{types: map[string]*counts{}, refKeys: map[key]string{}}
}

// Skip counts an item that has no answer (the eval stopped before it): it is in the test set, not in
// the scores.
func (s *Scorer) Skip() { s.items++ }

// Add scores the model's correction of one item. hyp is the corrected text; readable false means the
// answer could not be read, which counts as no correction (hyp is ignored).
func (s *Scorer) Add(it Item, hyp string, readable bool) {
	var toks []string
	if readable {
		toks = edits.Tokenize(hyp)
	} else {
		s.unreadable++
		toks = it.Source
	}
	s.AddTokens(it, toks)
}

// AddTokens scores a correction given as tokens.
func (s *Scorer) AddTokens(it Item, hyp []string) {
	s.items++
	s.answered++
	hypEdits := edits.ExtractTokens(it.Source, hyp)
	s.hypKeys, s.hypTypes = s.hypKeys[:0], s.hypTypes[:0]
	for _, e := range hypEdits {
		s.hypKeys = append(s.hypKeys, key{e.OStart, e.OEnd, e.C})
		s.hypTypes = append(s.hypTypes, e.Type)
	}
	refs := it.References
	if len(refs) == 0 {
		refs = []Reference{{Tokens: it.Source}}
	}
	best, bestF := -1, -1.0
	var bestC counts
	for i, r := range refs {
		clear(s.refKeys)
		for _, e := range r.Edits {
			s.refKeys[key{e.OStart, e.OEnd, e.C}] = e.Type
		}
		var c counts
		for _, k := range s.hypKeys {
			if _, ok := s.refKeys[k]; ok {
				c.tp++
			}
		}
		c.fp, c.fn = len(s.hypKeys)-c.tp, len(r.Edits)-c.tp
		_, _, f := FScore(s.total.tp+c.tp, s.total.fp+c.fp, s.total.fn+c.fn)
		if best < 0 || f > bestF || f == bestF && (c.tp > bestC.tp || c.tp == bestC.tp && (c.fp < bestC.fp || c.fp == bestC.fp && c.fn < bestC.fn)) {
			best, bestF, bestC = i, f, c
		}
	}
	s.total.tp += bestC.tp
	s.total.fp += bestC.fp
	s.total.fn += bestC.fn
	// per type: hits and misses typed by the reference, false alarms by the model's edit
	clear(s.refKeys)
	for _, e := range refs[best].Edits {
		s.refKeys[key{e.OStart, e.OEnd, e.C}] = e.Type
	}
	matched := map[key]bool{}
	for i, k := range s.hypKeys {
		if t, ok := s.refKeys[k]; ok {
			s.typ(t).tp++
			matched[k] = true
		} else {
			s.typ(s.hypTypes[i]).fp++
		}
	}
	for k, t := range s.refKeys {
		if !matched[k] {
			s.typ(t).fn++
		}
	}
	exact, noEdit := false, false
	for _, r := range refs {
		exact = exact || slices.Equal(hyp, r.Tokens)
		noEdit = noEdit || len(r.Edits) == 0
	}
	if exact {
		s.exact++
	}
	if noEdit {
		s.noEdit++
		if len(hypEdits) > 0 {
			s.overCorrect++
		}
	}
}

func (s *Scorer) typ(t string) *counts {
	if t == "" {
		t = "UNK"
	}
	c := s.types[t]
	if c == nil {
		c = &counts{}
		s.types[t] = c
	}
	return c
}

// Scores returns the scores so far. Types are listed by how often the references have them (then
// by the model's false alarms, then by name).
func (s *Scorer) Scores() corpus.EvalScores {
	sc := corpus.EvalScores{
		Items: s.items, Answered: s.answered, TP: s.total.tp, FP: s.total.fp, FN: s.total.fn,
		Exact: s.exact, NoEdit: s.noEdit, OverCorrected: s.overCorrect, Unreadables: s.unreadable,
		Types: []corpus.EvalTypeScore{},
	}
	sc.Precision, sc.Recall, sc.F05 = FScore(s.total.tp, s.total.fp, s.total.fn)
	if s.answered > 0 {
		sc.ExactMatch = float64(s.exact) / float64(s.answered)
	}
	if s.noEdit > 0 {
		sc.OverCorrection = float64(s.overCorrect) / float64(s.noEdit)
	}
	for t, c := range s.types {
		ts := corpus.EvalTypeScore{Type: t, TP: c.tp, FP: c.fp, FN: c.fn}
		ts.Precision, ts.Recall, ts.F05 = FScore(c.tp, c.fp, c.fn)
		sc.Types = append(sc.Types, ts)
	}
	sort.Slice(sc.Types, func(i, j int) bool {
		a, b := sc.Types[i], sc.Types[j]
		if a.TP+a.FN != b.TP+b.FN {
			return a.TP+a.FN > b.TP+b.FN
		}
		if a.FP != b.FP {
			return a.FP > b.FP
		}
		return a.Type < b.Type
	})
	return sc
}

// FScore returns precision, recall and F0.5 of the counts as ERRANT computes them: precision is 1
// with no false positive and recall 1 with no false negative, so a model that changes nothing has
// precision 1, recall 0 and F0.5 0 on sentences that need edits.
func FScore(tp, fp, fn int) (p, r, f float64) {
	p, r = 1, 1
	if fp > 0 {
		p = float64(tp) / float64(tp+fp)
	}
	if fn > 0 {
		r = float64(tp) / float64(tp+fn)
	}
	if p+r > 0 {
		f = (1 + Beta*Beta) * p * r / (Beta*Beta*p + r)
	}
	return p, r, f
}
