// Package splits divides accepted records into parts (train, val, test, ...) that are safe to train and
// evaluate on: near-duplicate records (connected components of the pairs at the dedup "similar"
// distance) land wholly in one part, each part holds every stratified dimension value in proportion,
// and the same records, pairs and seed always give the same split.
package splits

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/correctly/correctly/corpus"
)

// Grouping modes: what must stay together in one part.
const (
	GroupCluster       = "cluster"        // near-duplicate clusters
	GroupKeyExpression = "key_expression" // records sharing a key expression, and near-duplicate clusters
	GroupNone          = "none"           // every record on its own
)

// KeyDim is the dimension GroupKeyExpression groups by.
const KeyDim = "key_expression"

// NoValue stands for a dimension a record has no value of.
const NoValue = "(none)"

// DefaultTolerance is the relative deviation from a stratum's target a part may show beyond one record
// of rounding.
const DefaultTolerance = 0.1

// Item is one record to place: its ID and dimension values.
type Item struct {
	ID   string
	Dims map[string]string
}

// Pair is two near-duplicate items, by index into the items given to Assign.
type Pair struct {
	A, B     int
	Distance float32
}

// Options say how to split.
type Options struct {
	Ratios    []corpus.PartRatio // parts in order, ratios > 0; they are normalised to sum to 1
	Seed      int64
	GroupBy   string   // GroupCluster (default), GroupKeyExpression or GroupNone
	Stratify  []string // dimensions whose values each part should hold in proportion
	Tolerance float64  // relative deviation allowed per part and stratum; 0 means DefaultTolerance
}

// Stratum is one dimension value (or "*" = all records) and how its records were placed.
type Stratum struct {
	Dim     string    `json:"dim"`
	Value   string    `json:"value"`
	Total   int       `json:"total"`
	Counts  []int     `json:"counts"`  // per part, in Options.Ratios order
	Targets []float64 `json:"targets"` // ratio × Total, per part
}

// Result is a split: the part of every item and what it achieved.
type Result struct {
	Parts        []string       // part name per item, in the order the items were given
	Group        []int          // group number per item; groups are numbered by their smallest ID
	Groups       int            // number of groups
	LargestGroup int            // size of the largest group
	Counts       map[string]int // items per part
	Strata       []Stratum      // "*" first, then every (stratified dimension, value)
	// MaxDeviation is the worst |count - target| beyond one record of rounding, relative to the
	// target, over every part and stratum.
	MaxDeviation    float64
	WithinTolerance bool
}

// ParseRatios reads "train=0.9,val=0.05,test=0.05".
func ParseRatios(s string) ([]corpus.PartRatio, error) {
	var out []corpus.PartRatio
	seen := map[string]bool{}
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		name, val, ok := strings.Cut(f, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return nil, fmt.Errorf("ratio %q: write PART=SHARE, like train=0.9,val=0.05,test=0.05", f)
		}
		r, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil || !(r > 0) || math.IsInf(r, 0) {
			return nil, fmt.Errorf("ratio %q: the share must be a number above 0", f)
		}
		if seen[name] {
			return nil, fmt.Errorf("ratio %q: part %q is given twice", f, name)
		}
		seen[name] = true
		out = append(out, corpus.PartRatio{Part: name, Ratio: r})
	}
	if len(out) == 0 {
		return nil, errors.New("no ratios: give them like train=0.9,val=0.05,test=0.05")
	}
	return out, nil
}

// normalised returns the ratios scaled to sum to 1.
func normalised(rs []corpus.PartRatio) ([]float64, error) {
	if len(rs) == 0 {
		return nil, errors.New("no parts: give ratios like train=0.9,val=0.05,test=0.05")
	}
	sum := 0.0
	seen := map[string]bool{}
	for _, r := range rs {
		if r.Part == "" || seen[r.Part] {
			return nil, fmt.Errorf("part name %q is empty or repeated", r.Part)
		}
		seen[r.Part] = true
		if !(r.Ratio > 0) || math.IsInf(r.Ratio, 0) {
			return nil, fmt.Errorf("part %q: ratio %v must be above 0", r.Part, r.Ratio)
		}
		sum += r.Ratio
	}
	out := make([]float64, len(rs))
	for i, r := range rs {
		out[i] = r.Ratio / sum
	}
	return out, nil
}

// Assign places every item in a part. Groups (connected components of pairs, plus shared key
// expressions for GroupKeyExpression; singletons for GroupNone) are placed whole, largest first and
// in seeded random order among equal sizes, each into the part where it most reduces the squared
// relative error of the part sizes and of every stratified dimension value's counts. Items must have
// distinct IDs; their order does not matter.
func Assign(items []Item, pairs []Pair, o Options) (*Result, error) {
	ratios, err := normalised(o.Ratios)
	if err != nil {
		return nil, err
	}
	switch o.GroupBy {
	case "":
		o.GroupBy = GroupCluster
	case GroupCluster, GroupKeyExpression, GroupNone:
	default:
		return nil, fmt.Errorf("group-by %q: use cluster, key_expression or none", o.GroupBy)
	}
	tol := o.Tolerance
	if tol <= 0 {
		tol = DefaultTolerance
	}
	n := len(items)
	// canonical order: by ID, so that the input order never matters
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return items[order[a]].ID < items[order[b]].ID })
	for k := 1; k < n; k++ {
		if items[order[k]].ID == items[order[k-1]].ID {
			return nil, fmt.Errorf("record %s is listed twice", items[order[k]].ID)
		}
	}
	rank := make([]int32, n) // rank[i] = position of item i in ID order
	for r, i := range order {
		rank[i] = int32(r)
	}

	uf := newUnionFind(n)
	if o.GroupBy != GroupNone {
		for _, p := range pairs {
			if p.A < 0 || p.A >= n || p.B < 0 || p.B >= n {
				return nil, fmt.Errorf("pair (%d, %d) is out of range for %d records", p.A, p.B, n)
			}
			uf.union(rank[p.A], rank[p.B])
		}
	}
	if o.GroupBy == GroupKeyExpression {
		first := map[string]int32{}
		for r, i := range order {
			k, ok := items[i].Dims[KeyDim]
			if !ok || k == "" {
				continue
			}
			if f, ok := first[k]; ok {
				uf.union(f, int32(r))
			} else {
				first[k] = int32(r)
			}
		}
	}
	// number groups by their smallest ID: the first member met in ID order
	groupOfRoot := make(map[int32]int, n)
	groupByRank := make([]int, n)
	var members [][]int32 // ranks per group
	for r := range n {
		root := uf.find(int32(r))
		g, ok := groupOfRoot[root]
		if !ok {
			g = len(members)
			groupOfRoot[root] = g
			members = append(members, nil)
		}
		groupByRank[r] = g
		members[g] = append(members[g], int32(r))
	}

	// strata: "*" (everything), then each stratified dimension's values in sorted order
	type key struct{ dim, val string }
	dims := slices.Clone(o.Stratify)
	strataOf := make([][]int32, n) // by rank
	var strata []Stratum
	{
		valSet := make([]map[string]bool, len(dims))
		for d := range dims {
			valSet[d] = map[string]bool{}
		}
		for _, it := range items {
			for d, dim := range dims {
				valSet[d][dimValue(it, dim)] = true
			}
		}
		strata = append(strata, Stratum{Dim: "*", Value: "*"})
		index := map[key]int32{}
		for d, dim := range dims {
			vals := make([]string, 0, len(valSet[d]))
			for v := range valSet[d] {
				vals = append(vals, v)
			}
			sort.Strings(vals)
			for _, v := range vals {
				index[key{dim, v}] = int32(len(strata))
				strata = append(strata, Stratum{Dim: dim, Value: v})
			}
		}
		backing := make([]int32, n*(len(dims)+1))
		for r, i := range order {
			s := backing[r*(len(dims)+1) : (r+1)*(len(dims)+1)]
			s[0] = 0
			for d, dim := range dims {
				s[d+1] = index[key{dim, dimValue(items[i], dim)}]
			}
			strataOf[r] = s
		}
	}
	np := len(ratios)
	ns := len(strata)
	assigned := make([]float64, np*ns) // [p*ns+s]
	target := make([]float64, np*ns)
	totals := make([]int, ns)
	for r := range n {
		for _, s := range strataOf[r] {
			totals[s]++
		}
	}
	for p := range np {
		for s := range ns {
			target[p*ns+s] = ratios[p] * float64(totals[s])
		}
	}

	// placement order: largest group first, seeded random order among equal sizes
	gorder := make([]int, len(members))
	for g := range gorder {
		gorder[g] = g
	}
	rng := rand.New(rand.NewPCG(uint64(o.Seed), 0x73706c6974))
	rng.Shuffle(len(gorder), func(a, b int) { gorder[a], gorder[b] = gorder[b], gorder[a] })
	sort.SliceStable(gorder, func(a, b int) bool { return len(members[gorder[a]]) > len(members[gorder[b]]) })

	// the part sizes count as much as all stratified dimensions together, so that rounding within
	// strata does not move the sizes off their ratios
	overallWeight := float64(1 + len(dims))
	weight := func(s int32) float64 {
		if s == 0 {
			return overallWeight
		}
		return 1
	}
	partOfGroup := make([]int, len(members))
	counts := map[int32]float64{}
	var cs []int32
	for _, g := range gorder {
		clear(counts)
		cs = cs[:0]
		for _, r := range members[g] {
			for _, s := range strataOf[r] {
				if _, ok := counts[s]; !ok {
					cs = append(cs, s)
				}
				counts[s]++
			}
		}
		best, bestCost := 0, math.Inf(1)
		for p := range np {
			cost := 0.0
			for _, s := range cs {
				c := counts[s]
				t := target[p*ns+int(s)]
				cost += weight(s) * c * (2*(assigned[p*ns+int(s)]-t) + c) / t
			}
			if cost < bestCost {
				best, bestCost = p, cost
			}
		}
		partOfGroup[g] = best
		for _, s := range cs {
			assigned[best*ns+int(s)] += counts[s]
		}
	}

	// refine: move whole groups between parts while that lowers the total error; the greedy pass
	// leaves rounding errors that add up over strata
	for pass := 0; pass < 20; pass++ {
		moved := false
		for _, g := range gorder {
			clear(counts)
			cs = cs[:0]
			for _, r := range members[g] {
				for _, s := range strataOf[r] {
					if _, ok := counts[s]; !ok {
						cs = append(cs, s)
					}
					counts[s]++
				}
			}
			from := partOfGroup[g]
			leave := 0.0
			for _, s := range cs {
				c, t := counts[s], target[from*ns+int(s)]
				leave += weight(s) * c * (c - 2*(assigned[from*ns+int(s)]-t)) / t
			}
			best, bestGain := from, -1e-9
			for p := range np {
				if p == from {
					continue
				}
				delta := leave
				for _, s := range cs {
					c, t := counts[s], target[p*ns+int(s)]
					delta += weight(s) * c * (c + 2*(assigned[p*ns+int(s)]-t)) / t
				}
				if delta < bestGain {
					best, bestGain = p, delta
				}
			}
			if best != from {
				for _, s := range cs {
					assigned[from*ns+int(s)] -= counts[s]
					assigned[best*ns+int(s)] += counts[s]
				}
				partOfGroup[g] = best
				moved = true
			}
		}
		if !moved {
			break
		}
	}

	res := &Result{
		Parts:  make([]string, n),
		Group:  make([]int, n),
		Groups: len(members),
		Counts: map[string]int{},
	}
	for _, pr := range o.Ratios {
		res.Counts[pr.Part] = 0
	}
	for g, ms := range members {
		res.LargestGroup = max(res.LargestGroup, len(ms))
		for _, r := range ms {
			i := order[r]
			res.Parts[i] = o.Ratios[partOfGroup[g]].Part
			res.Group[i] = g
			res.Counts[res.Parts[i]]++
		}
	}
	for s := range strata {
		st := &strata[s]
		st.Total = totals[s]
		st.Counts = make([]int, np)
		st.Targets = make([]float64, np)
		for p := range np {
			st.Counts[p] = int(assigned[p*ns+s])
			st.Targets[p] = target[p*ns+s]
			dev := math.Max(0, math.Abs(assigned[p*ns+s]-target[p*ns+s])-1)
			if t := target[p*ns+s]; t > 0 {
				res.MaxDeviation = math.Max(res.MaxDeviation, dev/t)
			}
		}
	}
	res.Strata = strata
	res.WithinTolerance = res.MaxDeviation <= tol
	return res, nil
}

func dimValue(it Item, dim string) string {
	if v, ok := it.Dims[dim]; ok && v != "" {
		return v
	}
	return NoValue
}

// CrossPairs returns the pairs whose items sit in different parts.
func CrossPairs(pairs []Pair, parts []string) []Pair {
	var out []Pair
	for _, p := range pairs {
		if parts[p.A] != parts[p.B] {
			out = append(out, p)
		}
	}
	return out
}

// unionFind is a disjoint-set forest with path halving and union by size.
type unionFind struct {
	parent []int32
	size   []int32
}

func newUnionFind(n int) *unionFind {
	u := &unionFind{parent: make([]int32, n), size: make([]int32, n)}
	for i := range u.parent {
		u.parent[i] = int32(i)
		u.size[i] = 1
	}
	return u
}

func (u *unionFind) find(x int32) int32 {
	for u.parent[x] != x {
		u.parent[x] = u.parent[u.parent[x]]
		x = u.parent[x]
	}
	return x
}

func (u *unionFind) union(a, b int32) {
	a, b = u.find(a), u.find(b)
	if a == b {
		return
	}
	if u.size[a] < u.size[b] {
		a, b = b, a
	}
	u.parent[b] = a
	u.size[a] += u.size[b]
}
