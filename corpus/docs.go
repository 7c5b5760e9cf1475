package corpus

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// docs is the document database under a Store: a MongoDB server (mongoDocs), or the embedded SQLite
// file (sqliteDocs). It is deliberately narrow: inserts guarded by unique indexes, finds by the
// declared indexes with one sort and a limit, counts, updates by filter, deletes. Everything the
// corpus does is written once on top of it, so both databases behave alike, and a query the indexes
// cannot serve is a bug found by the tests rather than a scan found by a user.
type docs interface {
	// insert stores docs and returns one error per doc: nil, errDuplicate (a unique index clash),
	// or what went wrong.
	insert(ctx context.Context, coll string, docs []any) []error
	// find calls fn with each document q selects, in q's order. fn must not keep raw.
	find(ctx context.Context, coll string, q query, fn func(raw bson.Raw) error) error
	count(ctx context.Context, coll string, f filter) (int64, error)
	// update applies set and inc (dotted paths allowed) to every document f selects and returns how
	// many it matched; with upsert and no match it inserts one made of f's equalities, set and inc.
	update(ctx context.Context, coll string, f filter, set, inc bson.D, upsert bool) (int64, error)
	// replace writes doc whole under its _id, inserting it when there is none.
	replace(ctx context.Context, coll string, id string, doc any) error
	remove(ctx context.Context, coll string, f filter) (int64, error)
	close() error
}

// errDuplicate is a unique index clash.
var errDuplicate = errors.New("duplicate key")

// IsDuplicate reports whether err is a unique-index violation.
func IsDuplicate(err error) bool { return errors.Is(err, errDuplicate) }

// cond is one condition of a filter on a field (a dotted path; "_id" for the ID).
type cond struct {
	field string
	op    string // $eq, $ne, $in, $gt, $gte, $lt, $lte
	value any
}

// filter selects the documents that meet every condition.
type filter []cond

func eq(field string, v any) cond { return cond{field, "$eq", v} }
func ne(field string, v any) cond { return cond{field, "$ne", v} }
func in[T any](field string, vs []T) cond {
	out := make([]any, len(vs))
	for i, v := range vs {
		out[i] = v
	}
	return cond{field, "$in", out}
}
func gt(field string, v any) cond  { return cond{field, "$gt", v} }
func gte(field string, v any) cond { return cond{field, "$gte", v} }
func lt(field string, v any) cond  { return cond{field, "$lt", v} }

// order sorts by a field.
type order struct {
	field string
	desc  bool
}

// query is what find reads: a filter, a sort, a limit (0 = none), and top-level fields to leave out.
type query struct {
	filter filter
	sort   []order
	limit  int
	omit   []string
}

// collection declares what a collection is queried by: its indexes, in MongoDB's terms. The
// embedded store keeps each indexed field in a column of its own; MongoDB gets the same indexes.
type collection struct {
	name    string
	indexes []index
}

type index struct {
	fields []order
	unique bool
}

func idx(unique bool, fields ...string) index {
	ix := index{unique: unique}
	for _, f := range fields {
		o := order{field: strings.TrimPrefix(f, "-"), desc: strings.HasPrefix(f, "-")}
		ix.fields = append(ix.fields, o)
	}
	return ix
}

// name is MongoDB's default name of the index (field_1_other_-1).
func (ix index) name() string {
	parts := make([]string, 0, len(ix.fields))
	for _, f := range ix.fields {
		dir := 1
		if f.desc {
			dir = -1
		}
		parts = append(parts, fmt.Sprintf("%s_%d", f.field, dir))
	}
	return strings.Join(parts, "_")
}

// fields lists the indexed fields of c, each once.
func (c collection) fields() []string {
	var out []string
	seen := map[string]bool{}
	for _, ix := range c.indexes {
		for _, f := range ix.fields {
			if !seen[f.field] {
				seen[f.field] = true
				out = append(out, f.field)
			}
		}
	}
	return out
}

// Collection names.
const (
	Prompts      = "prompts"
	Runs         = "runs"
	Claims       = "claims"
	Steps        = "steps"
	Records      = "records"
	Fingerprints = "fingerprints"
	Splits       = "splits"
	SplitMembers = "split_members"
	TrainRuns    = "train_runs"
	Summaries    = "summaries"
)

// collections is every collection of the corpus with the indexes its queries need. A query may
// filter and sort only by fields indexed here (and _id): the embedded store refuses others.
var collections = []collection{
	{Prompts, []index{idx(false, "name", "-created_at"), idx(false, "-created_at")}},
	{Runs, []index{idx(false, "-created_at"), idx(false, "prompt", "prompt_version")}},
	// a claim is unique per (run, slot, attempt): the insert that wins owns the slot
	{Claims, []index{idx(true, "run_id", "slot", "attempt"), idx(false, "run_id", "owner", "slot")}},
	{Steps, []index{idx(false, "run_id", "slot", "created_at")}},
	// one outcome per (run, slot): the first finisher wins
	{Records, []index{idx(true, "run_id", "slot"), idx(false, "status", "run_id", "slot")}},
	{Fingerprints, nil},
	{Splits, []index{idx(false, "-created_at"), idx(false, "status", "pid")}},
	{SplitMembers, []index{idx(true, "split", "record_id"), idx(false, "split", "part")}},
	{TrainRuns, []index{idx(false, "-created_at")}},
	{Workers, []index{idx(false, "run_id", "expires_at"), idx(false, "endpoint", "expires_at")}},
	{Locks, nil},
	{Summaries, nil},
	{Evals, []index{idx(false, "-created_at")}},
	// one answer per (eval, item): a resumed eval asks only for the missing ones
	{Predictions, []index{idx(true, "eval_id", "index")}},
	// generate --batch: a run's provider batches, and each request line by its custom_id
	{Batches, []index{idx(false, "run_id", "created_at")}},
	{BatchLines, []index{idx(false, "run_id", "batch")}},
}

func collectionNamed(name string) (collection, bool) {
	for _, c := range collections {
		if c.name == name {
			return c, true
		}
	}
	return collection{}, false
}

// decodeAll decodes every document q selects into *out, a pointer to a slice.
func decodeAll[T any](ctx context.Context, d docs, coll string, q query, out *[]T) error {
	return d.find(ctx, coll, q, func(raw bson.Raw) error {
		var v T
		if err := bson.Unmarshal(raw, &v); err != nil {
			return fmt.Errorf("decode %s document: %w", coll, err)
		}
		*out = append(*out, v)
		return nil
	})
}

// errStop ends a find early without an error.
var errStop = errors.New("stop")

// decodeOne decodes the first document q selects into out; ErrNotFound when there is none.
func decodeOne(ctx context.Context, d docs, coll string, q query, out any) error {
	q.limit = 1
	found := false
	err := d.find(ctx, coll, q, func(raw bson.Raw) error {
		found = true
		if err := bson.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("decode %s document: %w", coll, err)
		}
		return errStop
	})
	if err != nil && !errors.Is(err, errStop) {
		return err
	}
	if !found {
		return ErrNotFound
	}
	return nil
}

func byID(id string) query { return query{filter: filter{eq("_id", id)}} }
