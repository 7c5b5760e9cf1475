package splits

import (
	"context"
	"fmt"
	"sort"

	"github.com/correctly/correctly/vectors"
)

// queryBatch is how many records one index query carries.
const queryBatch = 256

// firstK is how many neighbours a record is first asked for; a record whose k-th neighbour is still
// within the threshold is asked again for four times as many, so no pair is missed.
const firstK = 16

// pairJoiner is an index that finds the near pairs among items itself, without a query per item:
// the embedded one (vectors.Embedded.NearPairs).
type pairJoiner interface {
	NearPairs(ctx context.Context, collection string, items []vectors.Item, threshold float64) ([]vectors.Pair, int, error)
}

// NearPairs returns every pair of the given records whose vectors are at most threshold apart (cosine
// distance), found in idx's collection, where the dedup index keeps the records' vectors under their
// IDs. The collection may hold more records than items; those it lacks are added to it (upsert, with
// their Meta), so an index that fell behind the store still gives every pair; added says how many
// were. Pairs come sorted by (A, B) with A < B, as indexes into items. The embedded index joins its
// lists (near-linear in the records) over the vectors it holds, so there an item's Vector is needed
// only when the collection lacks the item (Index.Has tells); other indexes are asked one k-NN query
// per record and need every Vector. Both are approximate: a pair whose vectors sit in distant
// parts of the index may be missed.
func NearPairs(ctx context.Context, idx vectors.Index, collection string, items []vectors.Item, threshold float64) (pairs []Pair, added int, err error) {
	if j, ok := idx.(pairJoiner); ok {
		ps, added, err := j.NearPairs(ctx, collection, items, threshold)
		if err != nil {
			return nil, added, fmt.Errorf("near pairs in %s: %w", collection, err)
		}
		out := make([]Pair, len(ps))
		for i, p := range ps {
			out[i] = Pair{A: p.A, B: p.B, Distance: p.Distance}
		}
		return out, added, nil
	}
	return queryPairs(ctx, idx, collection, items, threshold)
}

// queryPairs is NearPairs by one k-NN query per record: a record whose k-th neighbour is still
// within the threshold is asked again for four times as many.
func queryPairs(ctx context.Context, idx vectors.Index, collection string, items []vectors.Item, threshold float64) (pairs []Pair, added int, err error) {
	pos := make(map[string]int, len(items))
	for i, it := range items {
		pos[it.ID] = i
	}
	seen := map[[2]int]float32{}
	// ask queries records i with k neighbours each and returns those that need asking again: the ones
	// whose k-th neighbour is still within the threshold, and the ones missing from the collection.
	ask := func(is []int, k, total int) (again, missing []int, err error) {
		for lo := 0; lo < len(is); lo += queryBatch {
			if err := ctx.Err(); err != nil {
				return nil, nil, err
			}
			hi := min(lo+queryBatch, len(is))
			qs := make([][]float32, hi-lo)
			for q := range qs {
				qs[q] = items[is[lo+q]].Vector
			}
			hits, err := idx.Query(ctx, collection, qs, k, nil)
			if err != nil {
				return nil, nil, fmt.Errorf("near pairs: query %s: %w", collection, err)
			}
			for q, hs := range hits {
				i := is[lo+q]
				self := false
				for _, h := range hs {
					j, ok := pos[h.ID]
					if j == i && ok {
						self = true
					}
					if !ok || j == i || float64(h.Distance) > threshold {
						continue
					}
					a, b := min(i, j), max(i, j)
					if d, ok := seen[[2]int{a, b}]; !ok || h.Distance < d {
						seen[[2]int{a, b}] = h.Distance
					}
				}
				switch {
				case len(hs) == k && k < total && float64(hs[len(hs)-1].Distance) <= threshold:
					again = append(again, i)
				case !self:
					missing = append(missing, i)
				}
			}
		}
		return again, missing, nil
	}
	all := make([]int, len(items))
	for i := range all {
		all[i] = i
	}
	for round := 0; len(all) > 0; round++ {
		total, err := idx.Count(ctx, collection)
		if err != nil {
			return nil, added, fmt.Errorf("near pairs: count %s: %w", collection, err)
		}
		var missing []int
		for k, is := firstK, all; len(is) > 0; k *= 4 {
			k = max(1, min(k, total))
			var miss []int
			if total == 0 {
				miss = is
				is = nil
			} else if is, miss, err = ask(is, k, total); err != nil {
				return nil, added, err
			}
			missing = append(missing, miss...)
		}
		if len(missing) == 0 || round > 0 {
			break
		}
		// the pairs between a missing record and a present one are found by the missing one's query
		batch := make([]vectors.Item, len(missing))
		for q, i := range missing {
			batch[q] = items[i]
		}
		if err := idx.Add(ctx, collection, batch); err != nil {
			return nil, added, fmt.Errorf("near pairs: add %d records missing from %s: %w", len(batch), collection, err)
		}
		added += len(batch)
		all = missing
	}
	out := make([]Pair, 0, len(seen))
	for ab, d := range seen {
		out = append(out, Pair{A: ab[0], B: ab[1], Distance: d})
	}
	sortPairs(out)
	return out, added, nil
}

func sortPairs(ps []Pair) {
	sort.Slice(ps, func(i, j int) bool {
		if ps[i].A != ps[j].A {
			return ps[i].A < ps[j].A
		}
		return ps[i].B < ps[j].B
	})
}

// MergePairs returns the union of pair lists (one per compared field), each pair once with its
// smallest distance, sorted by (A, B).
func MergePairs(lists ...[]Pair) []Pair {
	seen := map[[2]int]float32{}
	for _, l := range lists {
		for _, p := range l {
			a, b := min(p.A, p.B), max(p.A, p.B)
			if d, ok := seen[[2]int{a, b}]; !ok || p.Distance < d {
				seen[[2]int{a, b}] = p.Distance
			}
		}
	}
	out := make([]Pair, 0, len(seen))
	for ab, d := range seen {
		out = append(out, Pair{A: ab[0], B: ab[1], Distance: d})
	}
	sortPairs(out)
	return out
}
