package generator

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"

	"github.com/correctly/correctly/corpus"
	"github.com/correctly/correctly/mistakes"
)

// RulesBackend fills a slot offline: it takes a clean text and injects errors typical of Korean
// learners, each with its exact edit, type and a Korean explanation. It asks no LLM and costs nothing.
type RulesBackend struct {
	Injector *mistakes.Injector
	// Texts are the clean inputs; slot i of a run takes the i-th text of a seeded permutation, so a
	// run goes through every text once before any repeats.
	Texts []mistakes.Text

	mu    sync.Mutex
	perms map[int64][]int // the permutation of each run seed, made once
}

// perm returns the permutation of the texts for a run seed.
func (b *RulesBackend) perm(seed int64) []int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if p, ok := b.perms[seed]; ok {
		return p
	}
	if b.perms == nil {
		b.perms = map[int64][]int{}
	}
	p := rand.New(rand.NewPCG(uint64(seed), 0x5eed)).Perm(len(b.Texts))
	b.perms[seed] = p
	return p
}

// NegativePoint is the correction point of a negative record: the text needs no correction.
const NegativePoint = "고칠 부분이 없습니다: 이미 자연스러운 영어 문장입니다."

// Produces lists the fields the rules backend fills; there is no translation.
func (b *RulesBackend) Produces() []string { return []string{"before", "after", "points"} }

// Produce injects errors into the slot's text.
func (b *RulesBackend) Produce(_ context.Context, s *Slot, _ func(*corpus.Step) error) (*Product, error) {
	if len(b.Texts) == 0 {
		return nil, errors.New("rules backend has no source text: give --source FILE with one clean text a line")
	}
	perm := b.perm(s.Run.Seed)
	rng := rand.New(rand.NewPCG(uint64(s.Run.Seed), uint64(s.Index)+1))
	if s.Negative {
		// a negative: the clean text is its own correction
		text := b.Texts[perm[s.Index%len(perm)]]
		prod := &Product{Fields: map[string]any{"before": text.Text, "after": text.Text, "points": []string{NegativePoint}},
			Dims: map[string]string{"error_types": "none", "errors": "0"}, Edits: []corpus.Edit{}}
		addTextDims(prod, text)
		return prod, nil
	}
	var res mistakes.Result
	var text mistakes.Text
	var err error
	// a text with no place for an error is skipped for the next one
	for i := 0; i < len(b.Texts) && i < 20; i++ {
		text = b.Texts[perm[(s.Index+i*7919)%len(perm)]]
		res, err = b.Injector.Inject(text.Text, rng)
		if err == nil {
			break
		}
		if !errors.Is(err, mistakes.ErrNoSite) {
			return nil, fmt.Errorf("inject errors: %w", err)
		}
	}
	prod := &Product{Fields: map[string]any{}, Dims: map[string]string{}}
	if err != nil {
		prod.Reasons = []corpus.Reason{{Code: "no_error_site", Message: err.Error()}}
		return prod, nil
	}
	points := make([]string, len(res.Mistakes))
	kinds := map[string]bool{}
	for i, m := range res.Mistakes {
		points[i] = m.Point
		kinds[string(m.Kind)] = true
		e := m.Edit
		prod.Edits = append(prod.Edits, corpus.Edit{OStart: e.OStart, OEnd: e.OEnd, CStart: e.CStart, CEnd: e.CEnd, O: e.O, C: e.C, Type: e.Type})
	}
	prod.Fields["before"], prod.Fields["after"], prod.Fields["points"] = res.Before, res.After, points
	types := make([]string, 0, len(kinds))
	for k := range kinds {
		types = append(types, k)
	}
	sort.Strings(types)
	prod.Dims["error_types"] = strings.Join(types, ",")
	prod.Dims["errors"] = fmt.Sprint(len(res.Mistakes))
	addTextDims(prod, text)
	return prod, nil
}

// addTextDims records what the source text says of itself.
func addTextDims(prod *Product, text mistakes.Text) {
	if text.Theme != "" {
		prod.Dims["theme"] = text.Theme
	}
	if text.Speaker != "" {
		prod.Dims["speaker"] = text.Speaker
	}
	if text.ScriptType != "" {
		prod.Dims["script_type"] = text.ScriptType
	}
}
