package corpus

import (
	"context"
	"sync"
)

// Inserter inserts documents into one collection, folding inserts that arrive while another is in
// flight into a single write (group commit: one unordered insertMany on MongoDB, one transaction on
// the embedded store). Each caller still gets its own outcome: nil, or its own write error, so a
// unique-index clash is reported to the caller that lost it (IsDuplicate). Concurrent workers go
// faster instead of queueing on the database.
type Inserter struct {
	docs  docs
	coll  string
	max   int
	after func(ctx context.Context, inserted []any) // called with the documents a write stored

	mu      sync.Mutex
	pending []*insertReq
	leading bool
}

type insertReq struct {
	doc  any
	done chan error
}

// Inserter returns the shared group-commit inserter of a collection.
func (s *Store) Inserter(collection string) *Inserter {
	s.insMu.Lock()
	defer s.insMu.Unlock()
	if s.inserters == nil {
		s.inserters = map[string]*Inserter{}
	}
	in, ok := s.inserters[collection]
	if !ok {
		in = &Inserter{docs: s.docs, coll: collection, max: 256}
		if collection == Records {
			in.after = s.countRecords
		}
		s.inserters[collection] = in
	}
	return in
}

// Insert stores doc and returns once it is written (or failed). It is safe for concurrent use. The
// write is not cancelled with ctx once batched: a paid answer is worth finishing its insert.
func (in *Inserter) Insert(ctx context.Context, doc any) error {
	req := &insertReq{doc: doc, done: make(chan error, 1)}
	in.mu.Lock()
	in.pending = append(in.pending, req)
	lead := !in.leading
	in.leading = true
	in.mu.Unlock()
	if lead {
		in.drain(context.WithoutCancel(ctx))
	}
	return <-req.done
}

func (in *Inserter) drain(ctx context.Context) {
	for {
		in.mu.Lock()
		batch := in.pending
		if len(batch) > in.max {
			batch = batch[:in.max]
		}
		in.pending = in.pending[len(batch):]
		if len(batch) == 0 {
			in.leading = false
			in.mu.Unlock()
			return
		}
		in.mu.Unlock()
		in.write(ctx, batch)
	}
}

func (in *Inserter) write(ctx context.Context, batch []*insertReq) {
	docs := make([]any, len(batch))
	for i, r := range batch {
		docs[i] = r.doc
	}
	errs := in.docs.insert(ctx, in.coll, docs)
	if in.after != nil {
		stored := make([]any, 0, len(batch))
		for i, err := range errs {
			if err == nil {
				stored = append(stored, docs[i])
			}
		}
		if len(stored) > 0 {
			in.after(ctx, stored)
		}
	}
	for i, r := range batch {
		r.done <- errs[i]
	}
}

// Remover deletes documents of one collection by ID, folding deletes that arrive while another is in
// flight into one write, as Inserter folds inserts.
type Remover struct {
	docs docs
	coll string

	mu      sync.Mutex
	pending []string
	waiters []chan error
	leading bool
}

// Remover returns the shared group-commit remover of a collection.
func (s *Store) Remover(collection string) *Remover {
	s.insMu.Lock()
	defer s.insMu.Unlock()
	if s.removers == nil {
		s.removers = map[string]*Remover{}
	}
	rm, ok := s.removers[collection]
	if !ok {
		rm = &Remover{docs: s.docs, coll: collection}
		s.removers[collection] = rm
	}
	return rm
}

// Remove deletes the document with this ID (none is no error) and returns once it is gone.
func (rm *Remover) Remove(ctx context.Context, id string) error {
	done := make(chan error, 1)
	rm.mu.Lock()
	rm.pending = append(rm.pending, id)
	rm.waiters = append(rm.waiters, done)
	lead := !rm.leading
	rm.leading = true
	rm.mu.Unlock()
	if lead {
		for {
			rm.mu.Lock()
			ids, waiters := rm.pending, rm.waiters
			rm.pending, rm.waiters = nil, nil
			if len(ids) == 0 {
				rm.leading = false
				rm.mu.Unlock()
				break
			}
			rm.mu.Unlock()
			_, err := rm.docs.remove(context.WithoutCancel(ctx), rm.coll, filter{in("_id", ids)})
			for _, w := range waiters {
				w <- err
			}
		}
	}
	return <-done
}
