package corpus

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
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
	c := s.C(Locks)
	for {
		now := time.Now().UTC()
		_, err := c.InsertOne(ctx, lease{ID: id, Owner: owner, ExpiresAt: now.Add(ttl)})
		if err == nil {
			return func() {
				_, _ = c.DeleteOne(context.WithoutCancel(ctx), bson.D{{Key: "_id", Value: id}, {Key: "owner", Value: owner}})
			}, nil
		}
		if !IsDuplicate(err) {
			return nil, fmt.Errorf("take lock %s: %w", name, err)
		}
		var held lease
		if c.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&held) == nil && now.After(held.ExpiresAt) {
			_, _ = c.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "owner", Value: held.Owner}})
			continue
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Duration(2+rand.IntN(8)) * time.Millisecond):
		}
	}
}
