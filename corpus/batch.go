package corpus

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Inserter inserts documents into one collection, folding inserts that arrive while another is in
// flight into a single unordered insertMany (group commit). Each caller still gets its own outcome:
// nil, or its own write error, so a unique-index clash is reported to the caller that lost it
// (IsDuplicate). On the embedded store an insertMany of 100 documents costs about what two single
// inserts do, so concurrent workers go faster instead of queueing on the database.
type Inserter struct {
	coll *mongo.Collection
	max  int
	// serial, when set, is held around each write: SQLite has one writer, and a queue is faster than
	// its busy handler's sleeps
	serial *sync.Mutex

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
		in = &Inserter{coll: s.C(collection), max: 256}
		if s.Embedded {
			in.serial = &s.writeMu
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
	if in.serial != nil {
		in.serial.Lock()
		defer in.serial.Unlock()
	}
	if len(batch) == 1 {
		_, err := in.coll.InsertOne(ctx, batch[0].doc)
		batch[0].done <- err
		return
	}
	docs := make([]any, len(batch))
	for i, r := range batch {
		docs[i] = r.doc
	}
	_, err := in.coll.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	errs := make([]error, len(batch))
	var bwe mongo.BulkWriteException
	switch {
	case err == nil:
	case errors.As(err, &bwe) && len(bwe.WriteErrors) > 0:
		// each caller gets its own write error; the others only what concerns the whole batch
		for _, we := range bwe.WriteErrors {
			if we.Index >= 0 && we.Index < len(errs) {
				errs[we.Index] = mongo.WriteException{WriteErrors: []mongo.WriteError{we.WriteError}}
			}
		}
		if bwe.WriteConcernError != nil {
			for i := range errs {
				if errs[i] == nil {
					errs[i] = fmt.Errorf("write concern: %s", bwe.WriteConcernError.Message)
				}
			}
		}
	default:
		for i := range errs {
			errs[i] = err
		}
	}
	for i, r := range batch {
		r.done <- errs[i]
	}
}
