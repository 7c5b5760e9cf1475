package corpus

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// mongoDocs is a MongoDB database (a server, or anything that speaks its wire protocol).
type mongoDocs struct {
	client *mongo.Client
	db     *mongo.Database
}

func (m *mongoDocs) c(coll string) *mongo.Collection { return m.db.Collection(coll) }

func (m *mongoDocs) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5e9)
	defer cancel()
	return m.client.Disconnect(ctx)
}

// ensureIndexes creates the declared indexes that are missing, one at a time (FerretDB, which the
// tests use as a wire-compatible server, panics when createIndexes names an existing index next to
// a new one).
func (m *mongoDocs) ensureIndexes(ctx context.Context) error {
	for _, c := range collections {
		if len(c.indexes) == 0 {
			continue
		}
		specs, err := m.c(c.name).Indexes().ListSpecifications(ctx)
		if err != nil {
			return fmt.Errorf("list indexes of %s: %w", c.name, err)
		}
		have := map[string]bool{}
		for _, sp := range specs {
			have[sp.Name] = true
		}
		for _, ix := range c.indexes {
			if have[ix.name()] {
				continue
			}
			keys := bson.D{}
			for _, f := range ix.fields {
				dir := 1
				if f.desc {
					dir = -1
				}
				keys = append(keys, bson.E{Key: f.field, Value: dir})
			}
			opts := options.Index().SetName(ix.name())
			if ix.unique {
				opts.SetUnique(true)
			}
			if _, err := m.c(c.name).Indexes().CreateOne(ctx, mongo.IndexModel{Keys: keys, Options: opts}); err != nil {
				return fmt.Errorf("create index %s on %s: %w", ix.name(), c.name, err)
			}
		}
	}
	return nil
}

func (f filter) bson() bson.D {
	out := bson.D{}
	for _, c := range f {
		v := c.value
		if c.op == "$in" {
			v = bson.A(c.value.([]any))
		}
		if c.op == "$eq" {
			out = append(out, bson.E{Key: c.field, Value: v})
			continue
		}
		out = append(out, bson.E{Key: c.field, Value: bson.D{{Key: c.op, Value: v}}})
	}
	return out
}

func sortBSON(sort []order) bson.D {
	out := bson.D{}
	for _, o := range sort {
		dir := 1
		if o.desc {
			dir = -1
		}
		out = append(out, bson.E{Key: o.field, Value: dir})
	}
	return out
}

func (m *mongoDocs) insert(ctx context.Context, coll string, docs []any) []error {
	errs := make([]error, len(docs))
	if len(docs) == 1 {
		_, err := m.c(coll).InsertOne(ctx, docs[0])
		errs[0] = mongoErr(coll, err)
		return errs
	}
	_, err := m.c(coll).InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	var bwe mongo.BulkWriteException
	switch {
	case err == nil:
	case errors.As(err, &bwe) && len(bwe.WriteErrors) > 0:
		// each document gets its own write error; the others only what concerns the whole batch
		for _, we := range bwe.WriteErrors {
			if we.Index >= 0 && we.Index < len(errs) {
				errs[we.Index] = mongoErr(coll, mongo.WriteException{WriteErrors: []mongo.WriteError{we.WriteError}})
			}
		}
		if bwe.WriteConcernError != nil {
			for i := range errs {
				if errs[i] == nil {
					errs[i] = fmt.Errorf("insert into %s: write concern: %s", coll, bwe.WriteConcernError.Message)
				}
			}
		}
	default:
		for i := range errs {
			errs[i] = mongoErr(coll, err)
		}
	}
	return errs
}

// mongoErr wraps a driver error, a duplicate key as errDuplicate.
func mongoErr(coll string, err error) error {
	if err == nil {
		return nil
	}
	if mongo.IsDuplicateKeyError(err) {
		return fmt.Errorf("insert into %s: %w: %v", coll, errDuplicate, err)
	}
	return fmt.Errorf("insert into %s: %w", coll, err)
}

func (m *mongoDocs) find(ctx context.Context, coll string, q query, fn func(bson.Raw) error) error {
	opts := options.Find()
	if len(q.sort) > 0 {
		opts.SetSort(sortBSON(q.sort))
	}
	if q.limit > 0 {
		opts.SetLimit(int64(q.limit))
	}
	if len(q.omit) > 0 {
		p := bson.D{}
		for _, f := range q.omit {
			p = append(p, bson.E{Key: f, Value: 0})
		}
		opts.SetProjection(p)
	}
	cur, err := m.c(coll).Find(ctx, q.filter.bson(), opts)
	if err != nil {
		return fmt.Errorf("read %s: %w", coll, err)
	}
	defer cur.Close(ctx)
	for cur.Next(ctx) {
		if err := fn(cur.Current); err != nil {
			return err
		}
	}
	if err := cur.Err(); err != nil {
		return fmt.Errorf("read %s: %w", coll, err)
	}
	return nil
}

func (m *mongoDocs) count(ctx context.Context, coll string, f filter) (int64, error) {
	n, err := m.c(coll).CountDocuments(ctx, f.bson())
	if err != nil {
		return 0, fmt.Errorf("count %s: %w", coll, err)
	}
	return n, nil
}

func (m *mongoDocs) update(ctx context.Context, coll string, f filter, set, inc bson.D, upsert bool) (int64, error) {
	u := bson.D{}
	if len(set) > 0 {
		u = append(u, bson.E{Key: "$set", Value: set})
	}
	if len(inc) > 0 {
		u = append(u, bson.E{Key: "$inc", Value: inc})
	}
	res, err := m.c(coll).UpdateMany(ctx, f.bson(), u, options.UpdateMany().SetUpsert(upsert))
	if err != nil {
		if mongo.IsDuplicateKeyError(err) {
			return 0, fmt.Errorf("update %s: %w", coll, errDuplicate)
		}
		return 0, fmt.Errorf("update %s: %w", coll, err)
	}
	return res.MatchedCount, nil
}

func (m *mongoDocs) replace(ctx context.Context, coll string, id string, doc any) error {
	_, err := m.c(coll).ReplaceOne(ctx, bson.D{{Key: "_id", Value: id}}, doc, options.Replace().SetUpsert(true))
	if err != nil {
		return fmt.Errorf("write %s %s: %w", coll, id, err)
	}
	return nil
}

func (m *mongoDocs) remove(ctx context.Context, coll string, f filter) (int64, error) {
	res, err := m.c(coll).DeleteMany(ctx, f.bson())
	if err != nil {
		return 0, fmt.Errorf("delete from %s: %w", coll, err)
	}
	return res.DeletedCount, nil
}
