package splits

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/correctly/correctly/corpus"
	"github.com/correctly/correctly/vectors"
)

// Source is where a split's records and their near-duplicate pairs come from: the corpus store, and the
// dedup's vector index, embedder, compared fields and threshold.
type Source struct {
	Store     *corpus.Store
	Index     vectors.Index
	Embedder  vectors.Embedder
	Fields    []string // record fields compared; default before
	Threshold float64  // cosine distance at or under which two records are near-duplicates
}

func (s Source) fields() []string {
	if len(s.Fields) == 0 {
		return []string{"before"}
	}
	return s.Fields
}

// Request names a new split, the records it divides and how.
type Request struct {
	Name   string
	Prompt string   // only records of this prompt NAME[@VERSION]; empty = all
	Runs   []string // only records of these runs; empty = all
	Options
}

// Created is what Create stored and found on the way.
type Created struct {
	Split  *corpus.Split
	Result *Result
	Added  int // records the vector index was missing and got
}

// Create divides the accepted records that req selects and stores the split: immutable, refused
// (corpus.ErrSplitExists) when the name is taken, and refused when no record matches.
func Create(ctx context.Context, src Source, req Request) (*Created, error) {
	if req.Name == "" || strings.ContainsAny(req.Name, "/\x00") {
		return nil, fmt.Errorf("split name %q: give a non-empty name without '/'", req.Name)
	}
	if _, err := src.Store.GetSplit(ctx, req.Name); err == nil {
		return nil, fmt.Errorf("split %q: %w: splits are immutable, pick another name", req.Name, corpus.ErrSplitExists)
	} else if !errors.Is(err, corpus.ErrNotFound) {
		return nil, err
	}
	if _, err := normalised(req.Ratios); err != nil {
		return nil, err
	}
	if req.GroupBy == "" {
		req.GroupBy = GroupCluster
	}
	if req.Tolerance <= 0 {
		req.Tolerance = DefaultTolerance
	}
	var recs []*corpus.Record
	q := corpus.RecordQuery{Status: corpus.StatusAccepted, Prompt: req.Prompt, RunIDs: req.Runs}
	err := src.Store.EachRecord(ctx, q, func(r *corpus.Record) error {
		// only the compared fields are kept: a million whole records would not fit in memory
		var fields map[string]any
		if req.GroupBy != GroupNone {
			fields = make(map[string]any, len(src.fields()))
			for _, f := range src.fields() {
				if v, ok := r.Fields[f]; ok {
					fields[f] = v
				}
			}
		}
		recs = append(recs, &corpus.Record{ID: r.ID, RunID: r.RunID, Prompt: r.Prompt, Dims: r.Dims, Fields: fields})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("split %q: %w", req.Name, err)
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("split %q: no accepted records match: check --prompt and --run (`correctly corpus stats` counts them)", req.Name)
	}
	items := make([]Item, len(recs))
	keyed := 0
	for i, r := range recs {
		items[i] = Item{ID: r.ID, Dims: r.Dims}
		if r.Dims[KeyDim] != "" {
			keyed++
		}
	}
	for _, d := range req.Stratify {
		has := false
		for _, r := range recs {
			if r.Dims[d] != "" {
				has = true
				break
			}
		}
		if !has {
			return nil, fmt.Errorf("split %q: --stratify %s: no accepted record has that dimension (`correctly corpus stats --by %s` counts its values)", req.Name, d, d)
		}
	}
	if req.GroupBy == GroupKeyExpression && keyed == 0 {
		return nil, fmt.Errorf("split %q: no accepted record has a %s dimension to group by: use --group-by cluster", req.Name, KeyDim)
	}
	var pairs []Pair
	added := 0
	if req.GroupBy != GroupNone {
		if pairs, added, err = src.pairs(ctx, recs); err != nil {
			return nil, fmt.Errorf("split %q: find near-duplicates: %w", req.Name, err)
		}
	}
	res, err := Assign(items, pairs, req.Options)
	if err != nil {
		return nil, fmt.Errorf("split %q: %w", req.Name, err)
	}
	sp := &corpus.Split{
		ID: req.Name, Ratios: req.Ratios, Seed: req.Seed, Prompt: req.Prompt, Runs: req.Runs,
		GroupBy: req.GroupBy, Stratify: req.Stratify, Tolerance: req.Tolerance,
		Records: len(recs), Counts: res.Counts, Groups: res.Groups, LargestGroup: res.LargestGroup,
		NearPairs: len(pairs), MaxDeviation: res.MaxDeviation, WithinTol: res.WithinTolerance,
	}
	if req.GroupBy != GroupNone {
		sp.Embedder, sp.Fields, sp.Threshold = src.Embedder.ID(), src.fields(), src.Threshold
	}
	members := make([]corpus.SplitMember, len(recs))
	for i, r := range recs {
		members[i] = corpus.SplitMember{Split: req.Name, RecordID: r.ID, Part: res.Parts[i], Group: res.Group[i]}
	}
	sort.Slice(members, func(i, j int) bool { return members[i].RecordID < members[j].RecordID })
	if err := src.Store.CreateSplit(ctx, sp, members); err != nil {
		return nil, err
	}
	return &Created{Split: sp, Result: res, Added: added}, nil
}

// pairs finds the near-duplicate pairs among recs over every compared field.
func (s Source) pairs(ctx context.Context, recs []*corpus.Record) ([]Pair, int, error) {
	if s.Index == nil || s.Embedder == nil {
		return nil, 0, errors.New("no vector index or embedder to find near-duplicates with (use --group-by none to split without)")
	}
	var lists [][]Pair
	added := 0
	for _, f := range s.fields() {
		var at []int // record index of each item
		var texts []string
		for i, r := range recs {
			if t := fieldText(r.Fields[f]); strings.TrimSpace(t) != "" {
				at = append(at, i)
				texts = append(texts, t)
			}
		}
		if len(texts) == 0 {
			continue
		}
		coll := vectors.CollectionName(f, s.Embedder.ID())
		_, joins := s.Index.(pairJoiner)
		items := make([]vectors.Item, len(texts))
		const batch = 4096
		for lo := 0; lo < len(texts); lo += batch {
			hi := min(lo+batch, len(texts))
			var embed []int // items to embed: all, or for an index that joins its own vectors, those it lacks
			ids := make([]string, 0, hi-lo)
			for q := lo; q < hi; q++ {
				r := recs[at[q]]
				items[q] = vectors.Item{ID: r.ID, Meta: map[string]string{"prompt": r.Prompt, "run": r.RunID}}
				ids = append(ids, r.ID)
			}
			has := make([]bool, len(ids))
			if joins {
				var err error
				if has, err = s.Index.Has(ctx, coll, ids); err != nil {
					return nil, added, fmt.Errorf("field %s: %w", f, err)
				}
			}
			var want []string
			for q := range ids {
				if !has[q] {
					embed = append(embed, lo+q)
					want = append(want, texts[lo+q])
				}
			}
			if len(want) == 0 {
				continue
			}
			vecs, err := s.Embedder.Embed(ctx, want)
			if err != nil {
				return nil, added, fmt.Errorf("embed %s: %w", f, err)
			}
			if !joins {
				for q, v := range vecs {
					items[embed[q]].Vector = v
				}
				continue
			}
			// the index joins the vectors it holds: give it those it lacks now, and keep none here
			add := make([]vectors.Item, len(vecs))
			for q, v := range vecs {
				add[q] = vectors.Item{ID: items[embed[q]].ID, Vector: v, Meta: items[embed[q]].Meta}
			}
			if err := s.Index.Add(ctx, coll, add); err != nil {
				return nil, added, fmt.Errorf("field %s: index the records it lacks: %w", f, err)
			}
			added += len(add)
		}
		ps, n, err := NearPairs(ctx, s.Index, coll, items, s.Threshold)
		added += n
		if err != nil {
			return nil, added, fmt.Errorf("field %s: %w", f, err)
		}
		for k := range ps {
			ps[k].A, ps[k].B = at[ps[k].A], at[ps[k].B]
		}
		lists = append(lists, ps)
	}
	return MergePairs(lists...), added, nil
}

// CrossPair is a near-duplicate pair whose records sit in different parts.
type CrossPair struct {
	A        string  `json:"a"`
	PartA    string  `json:"part_a"`
	B        string  `json:"b"`
	PartB    string  `json:"part_b"`
	Distance float32 `json:"distance"`
}

// CheckResult says whether near-duplicates cross a split's parts.
type CheckResult struct {
	Split     string      `json:"split"`
	Records   int         `json:"records"`
	Missing   int         `json:"missing"` // members whose record is gone
	Threshold float64     `json:"threshold"`
	Embedder  string      `json:"embedder"`
	Fields    []string    `json:"fields"`
	Pairs     int         `json:"pairs"` // near-duplicate pairs among the members
	Cross     []CrossPair `json:"cross"` // those that cross parts
}

// Check finds the near-duplicate pairs among a split's records (with src's embedder, fields and
// threshold) and lists those whose records sit in different parts. A split grouped by cluster has
// none, as long as the threshold and embedder are the ones it was made with.
func Check(ctx context.Context, src Source, name string) (*CheckResult, error) {
	ms, err := src.Store.SplitMembership(ctx, name, "")
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(ms))
	for i, m := range ms {
		ids[i] = m.RecordID
	}
	var recs []*corpus.Record
	var parts []string
	partOf := make(map[string]string, len(ms))
	for _, m := range ms {
		partOf[m.RecordID] = m.Part
	}
	missing, err := src.Store.EachRecordByID(ctx, ids, func(r *corpus.Record) error {
		recs = append(recs, &corpus.Record{ID: r.ID, RunID: r.RunID, Prompt: r.Prompt, Fields: r.Fields})
		parts = append(parts, partOf[r.ID])
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("check split %q: %w", name, err)
	}
	pairs, _, err := src.pairs(ctx, recs)
	if err != nil {
		return nil, fmt.Errorf("check split %q: %w", name, err)
	}
	out := &CheckResult{Split: name, Records: len(recs), Missing: missing, Threshold: src.Threshold,
		Embedder: src.Embedder.ID(), Fields: src.fields(), Pairs: len(pairs), Cross: []CrossPair{}}
	for _, p := range CrossPairs(pairs, parts) {
		out.Cross = append(out.Cross, CrossPair{A: recs[p.A].ID, PartA: parts[p.A], B: recs[p.B].ID, PartB: parts[p.B], Distance: p.Distance})
	}
	return out, nil
}

// Summary counts a split's records per part and per dimension value.
type Summary struct {
	Split   *corpus.Split                        `json:"split"`
	Parts   map[string]int                       `json:"parts"`
	Dims    map[string]map[string]map[string]int `json:"dims"` // dim → value → part → records
	Missing int                                  `json:"missing"`
}

// Summarize counts a stored split's records per part and per value of every dimension they carry.
func Summarize(ctx context.Context, st *corpus.Store, name string) (*Summary, error) {
	sp, err := st.GetSplit(ctx, name)
	if err != nil {
		return nil, err
	}
	ms, err := st.SplitMembership(ctx, name, "")
	if err != nil {
		return nil, err
	}
	out := &Summary{Split: sp, Parts: map[string]int{}, Dims: map[string]map[string]map[string]int{}}
	for _, r := range sp.Ratios {
		out.Parts[r.Part] = 0
	}
	ids := make([]string, len(ms))
	partOf := make(map[string]string, len(ms))
	for i, m := range ms {
		ids[i] = m.RecordID
		partOf[m.RecordID] = m.Part
		out.Parts[m.Part]++
	}
	out.Missing, err = st.EachRecordByID(ctx, ids, func(r *corpus.Record) error {
		p := partOf[r.ID]
		for d, v := range r.Dims {
			byVal := out.Dims[d]
			if byVal == nil {
				byVal = map[string]map[string]int{}
				out.Dims[d] = byVal
			}
			if byVal[v] == nil {
				byVal[v] = map[string]int{}
			}
			byVal[v][p]++
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("summarize split %q: %w", name, err)
	}
	return out, nil
}

// fieldText returns a stored field as text: a string as is, a list joined by newlines.
func fieldText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	case []string:
		return strings.Join(x, "\n")
	case bson.A:
		return fieldText([]any(x))
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = fmt.Sprint(e)
		}
		return strings.Join(parts, "\n")
	}
	return fmt.Sprint(v)
}
