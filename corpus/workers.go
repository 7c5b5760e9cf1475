package corpus

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
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
	_, err := s.C(Workers).ReplaceOne(ctx, bson.D{{Key: "_id", Value: w.ID}}, w, options.Replace().SetUpsert(true))
	if err != nil {
		return fmt.Errorf("register worker of run %s: %w", w.RunID, err)
	}
	return nil
}

// RemoveWorker unregisters a worker; removing one that is not registered is no error.
func (s *Store) RemoveWorker(ctx context.Context, id string) error {
	if _, err := s.C(Workers).DeleteOne(ctx, bson.D{{Key: "_id", Value: id}}); err != nil {
		return fmt.Errorf("unregister worker: %w", err)
	}
	return nil
}

// LiveWorkers counts the workers alive at now on runID, and those using endpoint (0 when endpoint is
// empty).
func (s *Store) LiveWorkers(ctx context.Context, runID, endpoint string, now time.Time) (onRun, onEndpoint int, err error) {
	live := bson.E{Key: "expires_at", Value: bson.D{{Key: "$gt", Value: now}}}
	n, err := s.C(Workers).CountDocuments(ctx, bson.D{{Key: "run_id", Value: runID}, live})
	if err != nil {
		return 0, 0, fmt.Errorf("count workers of run %s: %w", runID, err)
	}
	if endpoint == "" {
		return int(n), 0, nil
	}
	m, err := s.C(Workers).CountDocuments(ctx, bson.D{{Key: "endpoint", Value: endpoint}, live})
	if err != nil {
		return 0, 0, fmt.Errorf("count workers of the API key: %w", err)
	}
	return int(n), int(m), nil
}

// RunWorkers returns the workers registered on a run, live or not yet expired from the list.
func (s *Store) RunWorkers(ctx context.Context, runID string) ([]Worker, error) {
	var out []Worker
	if err := s.findAll(ctx, Workers, bson.D{{Key: "run_id", Value: runID}}, nil, &out); err != nil {
		return nil, fmt.Errorf("list workers of run %s: %w", runID, err)
	}
	return out, nil
}
