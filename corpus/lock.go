package corpus

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"time"
)

// Locks is the collection of named leases shared by every process using one database.
const Locks = "locks"

type lease struct {
	ID        string    `bson:"_id"`
	Owner     string    `bson:"owner"`
	ExpiresAt time.Time `bson:"expires_at"`
}

// Lock takes the named lease shared by every process of this database, waiting while another holds
// it; a lease whose holder died is taken over once ttl has passed. The returned func releases it.
// The embedded store has one process by construction, so there it costs nothing.
func (s *Store) Lock(ctx context.Context, name string, ttl time.Duration) (func(), error) {
	if s.Embedded {
		return func() {}, nil
	}
	host, _ := os.Hostname()
	owner := fmt.Sprintf("%s/%d/%d", host, os.Getpid(), rand.Int64())
	id := "lock:" + name
	for {
		now := time.Now().UTC()
		err := s.docs.insert(ctx, Locks, []any{lease{ID: id, Owner: owner, ExpiresAt: now.Add(ttl)}})[0]
		if err == nil {
			return func() {
				_, _ = s.docs.remove(context.WithoutCancel(ctx), Locks, filter{eq("_id", id), eq("owner", owner)})
			}, nil
		}
		if !IsDuplicate(err) {
			return nil, fmt.Errorf("take lock %s: %w", name, err)
		}
		var held lease
		if decodeOne(ctx, s.docs, Locks, byID(id), &held) == nil && now.After(held.ExpiresAt) {
			_, _ = s.docs.remove(ctx, Locks, filter{eq("_id", id), eq("owner", held.Owner)})
			continue
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Duration(2+rand.IntN(8)) * time.Millisecond):
		}
	}
}
