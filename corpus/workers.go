package corpus

import (
	"context"
	"fmt"
	"time"
)

// Workers is the collection of live generation workers.
const Workers = "workers"

// Worker is one process working on a run, registered while it works so that workers sharing a run
// divide its --rpm/--tpm, and workers sharing an API key divide the limits the server advertises.
// A worker renews its entry every few seconds; an entry past ExpiresAt is a worker that is gone.
type Worker struct {
	ID        string    `bson:"_id" json:"id"` // the worker's owner token, as on its claims
	RunID     string    `bson:"run_id" json:"run_id"`
	Endpoint  string    `bson:"endpoint,omitempty" json:"endpoint,omitempty"` // fingerprint of the API's URL and key
	Host      string    `bson:"host" json:"host"`
	PID       int       `bson:"pid" json:"pid"`
	RunShare  float64   `bson:"run_share" json:"run_share"`         // its share of the run's given limits
	KeyShare  float64   `bson:"key_share" json:"key_share"`         // its share of the key's advertised limits
	RPM       float64   `bson:"rpm,omitempty" json:"rpm,omitempty"` // the request limit it paces at
	TPM       float64   `bson:"tpm,omitempty" json:"tpm,omitempty"`
	ExpiresAt time.Time `bson:"expires_at" json:"expires_at"`
	UpdatedAt time.Time `bson:"updated_at" json:"updated_at"`
}

// PutWorker registers or renews a worker.
func (s *Store) PutWorker(ctx context.Context, w *Worker) error {
	if err := s.docs.replace(ctx, Workers, w.ID, w); err != nil {
		return fmt.Errorf("register worker of run %s: %w", w.RunID, err)
	}
	return nil
}

// RemoveWorker unregisters a worker; removing one that is not registered is no error.
func (s *Store) RemoveWorker(ctx context.Context, id string) error {
	if _, err := s.docs.remove(ctx, Workers, filter{eq("_id", id)}); err != nil {
		return fmt.Errorf("unregister worker: %w", err)
	}
	return nil
}

// LiveWorkers counts the workers alive at now on runID, and those using endpoint (0 when endpoint is
// empty).
func (s *Store) LiveWorkers(ctx context.Context, runID, endpoint string, now time.Time) (onRun, onEndpoint int, err error) {
	live := gt("expires_at", now)
	n, err := s.docs.count(ctx, Workers, filter{eq("run_id", runID), live})
	if err != nil {
		return 0, 0, fmt.Errorf("count workers of run %s: %w", runID, err)
	}
	if endpoint == "" {
		return int(n), 0, nil
	}
	m, err := s.docs.count(ctx, Workers, filter{eq("endpoint", endpoint), live})
	if err != nil {
		return 0, 0, fmt.Errorf("count workers of the API key: %w", err)
	}
	return int(n), int(m), nil
}

// RunWorkers returns the workers registered on a run, live or not yet expired from the list.
func (s *Store) RunWorkers(ctx context.Context, runID string) ([]Worker, error) {
	var out []Worker
	if err := decodeAll(ctx, s.docs, Workers, query{filter: filter{eq("run_id", runID)}}, &out); err != nil {
		return nil, fmt.Errorf("list workers of run %s: %w", runID, err)
	}
	return out, nil
}
