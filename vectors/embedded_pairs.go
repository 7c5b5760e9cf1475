package vectors

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
)

// Pair is two items within a distance of each other: indexes into the items given, A < B.
type Pair struct {
	A, B     int
	Distance float32
}

// joinProbe is how many of its nearest lists each item's row is compared with, and joinRerank how
// many of their rows, those of smallest Hamming distance, it compares exactly.
const (
	joinProbe  = 16
	joinRerank = 48
)

// NearPairs returns every pair of items whose vectors are at most threshold apart (cosine
// distance), sorted by (A, B), and how many items it added to the collection first (upserts of
// those it lacked: only their Vector is read; the others are compared by the vectors held). Rather
// than a top-k query per item, each item's row is compared with the rows of items in its joinProbe
// nearest lists, first by the Hamming distance of their signatures (a loose bound: three standard
// deviations past what threshold gives), then the joinRerank nearest by that exactly. Items run in
// the order of their lists, so that the signatures they read are mostly in the cache. A pair is
// found from either side, so it is missed only when neither row's nearest lists hold the other, or
// a row has more than joinRerank rows nearer (a dense cluster, whose records are joined through one
// another all the same):
// TestEmbeddedNearPairsRecall measures how often against brute force. A collection of up to
// joinProbe lists is compared whole (exact).
func (e *Embedded) NearPairs(ctx context.Context, collection string, items []Item, threshold float64) ([]Pair, int, error) {
	if e.closed.Load() {
		return nil, 0, ErrClosed
	}
	if len(items) == 0 {
		return nil, 0, nil
	}
	c, err := e.get(collection)
	if err != nil {
		return nil, 0, err
	}
	var missing []Item
	if c == nil {
		missing = items
	} else {
		c.mu.RLock()
		for _, it := range items {
			if _, ok := c.rowOf()[it.ID]; !ok {
				missing = append(missing, it)
			}
		}
		c.mu.RUnlock()
	}
	if len(missing) > 0 {
		if err := e.Add(ctx, collection, missing); err != nil {
			return nil, 0, fmt.Errorf("near pairs: add %d items missing from %q: %w", len(missing), collection, err)
		}
		if c, err = e.get(collection); err != nil {
			return nil, 0, err
		}
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.dropped {
		return nil, 0, ErrClosed
	}
	pos := c.rowOf()
	item := make([]int32, len(c.ids)) // row -> index into items, -1 for rows not among them
	for i := range item {
		item[i] = -1
	}
	rows := make([]int32, len(items))
	for i, it := range items {
		rows[i] = pos[it.ID]
		item[rows[i]] = int32(i)
	}
	// Hamming bound: each hyperplane separates two vectors at angle θ with probability θ/π
	theta := math.Acos(max(-1, min(1, 1-threshold)))
	p := theta / math.Pi
	bound := int(math.Ceil(sigBits*p + 3*math.Sqrt(sigBits*p*(1-p))))
	probeN, rerankN := e.joinProbe, e.joinRerank
	if probeN == 0 {
		probeN = joinProbe
	}
	if rerankN == 0 {
		rerankN = joinRerank
	}
	// items in the order of their lists, so that neighbouring items, which probe mostly the same
	// lists, run one after another and find those lists' signatures in the cache
	order := make([]int32, 0, len(items))
	for _, rs := range c.lists {
		for _, r := range rs {
			if item[r] >= 0 {
				order = append(order, item[r])
			}
		}
	}
	const chunk = 1024
	found := make([][]Pair, (len(order)+chunk-1)/chunk)
	parallel(len(found), func(ch int) {
		var out []Pair
		probe := []int32{0}
		ham := hamTop{k: rerankN}
		for _, i32 := range order[ch*chunk : min((ch+1)*chunk, len(order))] {
			if ctx.Err() != nil {
				return
			}
			i := int(i32)
			a := rows[i]
			va, sa := c.vecs.row(a), &c.sigOf[a]
			if len(c.lists) > 1 {
				probe = c.nearestLists(va, probeN)
			}
			ham.h = ham.h[:0]
			for _, l := range probe {
				sigs := c.lsigs[l]
				for j, b := range c.lists[l] {
					if h := hamming(sa, &sigs[j]); h <= bound && b != a && item[b] >= 0 {
						ham.push(h, b)
					}
				}
			}
			for _, hc := range ham.h {
				d := 1 - dot(va, c.vecs.row(hc.r))
				if float64(d) > threshold {
					continue
				}
				y := int(item[hc.r])
				out = append(out, Pair{A: min(i, y), B: max(i, y), Distance: max(d, 0)})
			}
		}
		found[ch] = out
	})
	if err := ctx.Err(); err != nil {
		return nil, len(missing), err
	}
	var all []Pair
	for _, f := range found {
		all = append(all, f...)
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].A != all[j].A {
			return all[i].A < all[j].A
		}
		return all[i].B < all[j].B
	})
	// a pair is found from both of its rows
	out := all[:0]
	for i, p := range all {
		if i > 0 && p.A == all[i-1].A && p.B == all[i-1].B {
			continue
		}
		out = append(out, p)
	}
	return out, len(missing), nil
}

// parallel runs fn(0..n-1) on GOMAXPROCS goroutines.
func parallel(n int, fn func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				fn(i)
			}
		})
	}
	wg.Wait()
}
