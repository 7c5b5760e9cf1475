package corpus

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Fingerprint is an exact-duplicate key of one field of an accepted record, unique by ID (scope,
// field and text hash): of two records with the same text, the first insert wins.
type Fingerprint struct {
	ID       string `bson:"_id"`
	RecordID string `bson:"record_id"`
	Field    string `bson:"field"`
	Prompt   string `bson:"prompt"`
}

// AddFingerprints stores fingerprints in one write and returns one error per fingerprint: nil, or
// an IsDuplicate error when another record holds it.
func (s *Store) AddFingerprints(ctx context.Context, fps []Fingerprint) []error {
	docs := make([]any, len(fps))
	for i := range fps {
		docs[i] = fps[i]
	}
	return s.docs.insert(ctx, Fingerprints, docs)
}

// FingerprintOwners returns, for the fingerprint IDs given, the records that hold them (IDs no
// record holds are absent).
func (s *Store) FingerprintOwners(ctx context.Context, ids []string) (map[string]string, error) {
	out := make(map[string]string, len(ids))
	const batch = 500
	for lo := 0; lo < len(ids); lo += batch {
		hi := min(lo+batch, len(ids))
		var fps []Fingerprint
		if err := decodeAll(ctx, s.docs, Fingerprints, query{filter: filter{in("_id", ids[lo:hi])}}, &fps); err != nil {
			return nil, fmt.Errorf("read fingerprints: %w", err)
		}
		for _, fp := range fps {
			out[fp.ID] = fp.RecordID
		}
	}
	return out, nil
}

// indexNote is what the store remembers of a vector index collection: how many accepted records it
// leaves out on purpose (their field is empty), so that a count below the accepted records is told
// apart from an index that lost vectors.
type indexNote struct {
	ID        string `bson:"_id"`
	Unindexed int64  `bson:"unindexed"`
}

// Unindexed returns how many accepted records the vector index collection leaves out on purpose.
func (s *Store) Unindexed(ctx context.Context, collection string) (int64, error) {
	var n indexNote
	err := decodeOne(ctx, s.docs, metaColl, byID("index:"+collection), &n)
	if errors.Is(err, ErrNotFound) {
		return 0, nil
	}
	return n.Unindexed, err
}

// AddUnindexed counts k more accepted records left out of the collection (k may be negative).
func (s *Store) AddUnindexed(ctx context.Context, collection string, k int64) error {
	if k == 0 {
		return nil
	}
	_, err := s.docs.update(ctx, metaColl, filter{eq("_id", "index:"+collection)}, nil, bson.D{{Key: "unindexed", Value: k}}, true)
	return err
}

// SetUnindexed records how many accepted records a rebuilt collection left out.
func (s *Store) SetUnindexed(ctx context.Context, collection string, k int64) error {
	_, err := s.docs.update(ctx, metaColl, filter{eq("_id", "index:"+collection)}, bson.D{{Key: "unindexed", Value: k}}, nil, true)
	return err
}
