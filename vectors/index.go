package vectors

import (
	"context"
	"errors"
	"fmt"
	"math"
)

// Item is one vector to store. Meta holds at least "prompt" and "run" for
// records, so that queries can be scoped to a prompt schema or a run.
type Item struct {
	ID     string
	Vector []float32
	Meta   map[string]string
}

// Hit is one query answer: the stored item's ID, its cosine distance to the
// query vector, and its metadata.
type Hit struct {
	ID       string
	Distance float32
	Meta     map[string]string
}

// Index stores vectors by collection and answers nearest-neighbour queries by
// cosine distance. Implementations are safe for concurrent use.
type Index interface {
	// Add stores items with upsert semantics: an existing ID is replaced. The
	// collection is created on first use. All vectors in a collection have one
	// dimension; a vector of another dimension is an error.
	Add(ctx context.Context, collection string, items []Item) error
	// Query returns, for each vector, up to k hits nearest first. where, when
	// not nil, keeps only items whose metadata has every key with exactly that
	// value. A missing or empty collection gives empty hit lists, not an error.
	Query(ctx context.Context, collection string, vecs [][]float32, k int, where map[string]string) ([][]Hit, error)
	// Has reports, for each ID, whether collection holds an item with it: all false when the
	// collection doesn't exist. It lets a caller embed only what the index lacks.
	Has(ctx context.Context, collection string, ids []string) ([]bool, error)
	// Count returns the number of items in collection, 0 when it doesn't exist.
	Count(ctx context.Context, collection string) (int, error)
	// Drop deletes collection and its items; no error when it doesn't exist.
	Drop(ctx context.Context, collection string) error
	// Close releases the index; it must not be used afterwards.
	Close() error
}

// ErrClosed is returned by an Index used after Close.
var ErrClosed = errors.New("vector index is closed")

// prepareItems checks items and returns them with duplicate IDs collapsed to
// their last occurrence (upsert order), plus their common dimension.
func prepareItems(items []Item) ([]Item, int, error) {
	if len(items) == 0 {
		return nil, 0, nil
	}
	dim := len(items[0].Vector)
	seen := make(map[string]int, len(items))
	dups := false
	for i, it := range items {
		if it.ID == "" {
			return nil, 0, fmt.Errorf("item %d has an empty ID", i)
		}
		if len(it.Vector) == 0 {
			return nil, 0, fmt.Errorf("item %q has no vector", it.ID)
		}
		if len(it.Vector) != dim {
			return nil, 0, fmt.Errorf("item %q has a %d-dimensional vector, item %q has %d: one collection holds one embedder's vectors", it.ID, len(it.Vector), items[0].ID, dim)
		}
		if err := checkVector(it.Vector); err != nil {
			return nil, 0, fmt.Errorf("item %q: %w", it.ID, err)
		}
		if _, ok := seen[it.ID]; ok {
			dups = true
		}
		seen[it.ID] = i
	}
	if !dups {
		return items, dim, nil
	}
	out := make([]Item, 0, len(seen))
	for i, it := range items {
		if seen[it.ID] == i {
			out = append(out, it)
		}
	}
	return out, dim, nil
}

func checkVector(v []float32) error {
	var ss float64
	for _, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return errors.New("vector holds NaN or Inf")
		}
		ss += float64(x) * float64(x)
	}
	if ss == 0 {
		return errors.New("vector is all zeros (was the text empty?)")
	}
	return nil
}

func checkQuery(vecs [][]float32, k int) error {
	if k <= 0 {
		return fmt.Errorf("k = %d: ask for at least 1 neighbour", k)
	}
	for i, v := range vecs {
		if len(v) == 0 {
			return fmt.Errorf("query vector %d is empty", i)
		}
		if err := checkVector(v); err != nil {
			return fmt.Errorf("query vector %d: %w", i, err)
		}
	}
	return nil
}

func emptyHits(n int) [][]Hit {
	out := make([][]Hit, n)
	for i := range out {
		out[i] = []Hit{}
	}
	return out
}

func copyMeta(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

var (
	_ Index    = (*Embedded)(nil)
	_ Index    = (*Chroma)(nil)
	_ Embedder = (*Hash)(nil)
	_ Embedder = (*OpenAIEmbedder)(nil)
)
