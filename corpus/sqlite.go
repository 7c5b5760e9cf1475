package corpus

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// sqliteDocs is the embedded store: one SQLite file (WAL) in the data directory, a table per
// collection holding each document as BSON beside a column per indexed field, with the declared
// indexes as SQLite indexes. Queries run in SQLite on those columns; nothing scans in Go. Writes
// are serialised in-process (SQLite has one writer), reads run beside them.
type sqliteDocs struct {
	db       *sql.DB
	writeMu  sync.Mutex // held by every write transaction
	tablesMu sync.Mutex
	tables   map[string]*table
}

// table is the SQL shape of one collection.
type table struct {
	coll    collection
	name    string            // SQL table name
	columns map[string]string // field → SQL column
	fields  []string          // indexed fields, in column order
	insert  string            // INSERT statement
}

func openSQLite(path string) (*sqliteDocs, error) {
	// the file is ours alone: create it 0600 before SQLite does, and keep WAL and SHM files alike
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create the embedded store %s: %w", path, err)
	}
	f.Close()
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(10000)&_pragma=cache_size(-16384)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open the embedded store %s: %w", path, err)
	}
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	d := &sqliteDocs{db: db, tables: map[string]*table{}}
	if err := d.ensureSchema(context.Background()); err != nil {
		db.Close()
		return nil, fmt.Errorf("open the embedded store %s: %w", path, err)
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if _, err := os.Stat(path + suffix); err == nil {
			_ = os.Chmod(path+suffix, 0o600)
		}
	}
	return d, nil
}

func (d *sqliteDocs) close() error { return d.db.Close() }

// ensureSchema creates every collection's table and indexes; it is idempotent.
func (d *sqliteDocs) ensureSchema(ctx context.Context) error {
	for _, c := range collections {
		if _, err := d.table(ctx, c.name); err != nil {
			return err
		}
	}
	return nil
}

// table returns the table of coll, creating it on first use. Collections not declared in
// collections (a newer version's) get a table with no indexed fields.
func (d *sqliteDocs) table(ctx context.Context, coll string) (*table, error) {
	d.tablesMu.Lock()
	defer d.tablesMu.Unlock()
	if t, ok := d.tables[coll]; ok {
		return t, nil
	}
	d.writeMu.Lock()
	defer d.writeMu.Unlock()
	c, ok := collectionNamed(coll)
	if !ok {
		c = collection{name: coll}
	}
	t := &table{coll: c, name: `"c_` + coll + `"`, columns: map[string]string{"_id": "id"}}
	cols := []string{"id TEXT NOT NULL UNIQUE", "doc BLOB NOT NULL"}
	for _, f := range c.fields() {
		col := `"f_` + strings.ReplaceAll(f, ".", "__") + `"`
		t.columns[f] = col
		t.fields = append(t.fields, f)
		cols = append(cols, col)
	}
	stmts := []string{fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s (%s)", t.name, strings.Join(cols, ", "))}
	for _, ix := range c.indexes {
		var on []string
		for _, f := range ix.fields {
			dir := ""
			if f.desc {
				dir = " DESC"
			}
			on = append(on, t.columns[f.field]+dir)
		}
		unique := ""
		if ix.unique {
			unique = "UNIQUE "
		}
		stmts = append(stmts, fmt.Sprintf(`CREATE %sINDEX IF NOT EXISTS "i_%s_%s" ON %s (%s)`, unique, coll, ix.name(), t.name, strings.Join(on, ", ")))
	}
	for _, s := range stmts {
		if _, err := d.db.ExecContext(ctx, s); err != nil {
			return nil, fmt.Errorf("create table of %s: %w", coll, err)
		}
	}
	marks := strings.Repeat(", ?", len(t.fields))
	names := ""
	for _, f := range t.fields {
		names += ", " + t.columns[f]
	}
	t.insert = fmt.Sprintf("INSERT INTO %s (id, doc%s) VALUES (?, ?%s)", t.name, names, marks)
	d.tables[coll] = t
	return t, nil
}

// row turns a document into the values of its table's row: id, BSON, then the indexed fields.
func (t *table) row(doc any) ([]any, error) {
	raw, err := toRaw(doc)
	if err != nil {
		return nil, err
	}
	id, err := docID(raw)
	if err != nil {
		return nil, err
	}
	vals := make([]any, 0, 2+len(t.fields))
	vals = append(vals, id, []byte(raw))
	for _, f := range t.fields {
		v, err := raw.LookupErr(strings.Split(f, ".")...)
		if err != nil {
			vals = append(vals, nil)
			continue
		}
		vals = append(vals, sqlValueOf(v))
	}
	return vals, nil
}

func toRaw(doc any) (bson.Raw, error) {
	if r, ok := doc.(bson.Raw); ok {
		return r, nil
	}
	b, err := bson.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encode document: %w", err)
	}
	return b, nil
}

// docID is a document's _id as text; a document without one gets a random one, as MongoDB gives an
// ObjectID.
func docID(raw bson.Raw) (string, error) {
	v, err := raw.LookupErr("_id")
	if err != nil {
		b := make([]byte, 12)
		_, _ = rand.Read(b)
		return hex.EncodeToString(b), nil
	}
	switch v.Type {
	case bson.TypeString:
		return v.StringValue(), nil
	case bson.TypeObjectID:
		return v.ObjectID().Hex(), nil
	}
	return "", fmt.Errorf("document _id of type %s: the corpus uses string IDs", v.Type)
}

// sqlValueOf is the column value of a BSON value: numbers, text, times (Unix ms) and booleans; other
// types are not indexable and read as NULL.
func sqlValueOf(v bson.RawValue) any {
	switch v.Type {
	case bson.TypeString:
		return v.StringValue()
	case bson.TypeInt32:
		return int64(v.Int32())
	case bson.TypeInt64:
		return v.Int64()
	case bson.TypeDouble:
		return v.Double()
	case bson.TypeBoolean:
		if v.Boolean() {
			return int64(1)
		}
		return int64(0)
	case bson.TypeDateTime:
		return v.DateTime()
	case bson.TypeObjectID:
		return v.ObjectID().Hex()
	}
	return nil
}

// sqlValue is the column value of a Go value in a filter, as sqlValueOf would store it.
func sqlValue(v any) any {
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		return x
	case int:
		return int64(x)
	case int32:
		return int64(x)
	case int64:
		return x
	case float64:
		return x
	case float32:
		return float64(x)
	case bool:
		if x {
			return int64(1)
		}
		return int64(0)
	case time.Time:
		return x.UnixMilli()
	}
	return fmt.Sprint(v)
}

// where builds the WHERE clause of f on t.
func (t *table) where(f filter) (string, []any, error) {
	if len(f) == 0 {
		return "", nil, nil
	}
	var parts []string
	var args []any
	for _, c := range f {
		col, ok := t.columns[c.field]
		if !ok {
			return "", nil, fmt.Errorf("corpus: %s is not indexed in collection %s: declare an index on it", c.field, t.coll.name)
		}
		switch c.op {
		case "$eq":
			parts = append(parts, col+" = ?")
			args = append(args, sqlValue(c.value))
		case "$ne":
			parts = append(parts, "("+col+" IS NULL OR "+col+" != ?)")
			args = append(args, sqlValue(c.value))
		case "$gt", "$gte", "$lt", "$lte":
			op := map[string]string{"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}[c.op]
			parts = append(parts, col+" "+op+" ?")
			args = append(args, sqlValue(c.value))
		case "$in":
			vs := c.value.([]any)
			if len(vs) == 0 {
				parts = append(parts, "0")
				continue
			}
			parts = append(parts, col+" IN (?"+strings.Repeat(", ?", len(vs)-1)+")")
			for _, v := range vs {
				args = append(args, sqlValue(v))
			}
		default:
			return "", nil, fmt.Errorf("corpus: unknown operator %s", c.op)
		}
	}
	return " WHERE " + strings.Join(parts, " AND "), args, nil
}

func (t *table) orderBy(sort []order) (string, error) {
	if len(sort) == 0 {
		return " ORDER BY rowid", nil
	}
	var parts []string
	for _, o := range sort {
		col, ok := t.columns[o.field]
		if !ok {
			return "", fmt.Errorf("corpus: cannot sort %s by %s: declare an index on it", t.coll.name, o.field)
		}
		if o.desc {
			col += " DESC"
		}
		parts = append(parts, col)
	}
	return " ORDER BY " + strings.Join(parts, ", ") + ", rowid", nil
}

func (d *sqliteDocs) insert(ctx context.Context, coll string, docs []any) []error {
	errs := make([]error, len(docs))
	fail := func(err error) []error {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
		return errs
	}
	t, err := d.table(ctx, coll)
	if err != nil {
		return fail(err)
	}
	rows := make([][]any, len(docs))
	for i, doc := range docs {
		if rows[i], errs[i] = t.row(doc); errs[i] != nil {
			errs[i] = fmt.Errorf("insert into %s: %w", coll, errs[i])
		}
	}
	err = d.write(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, t.insert)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for i, r := range rows {
			if r == nil {
				continue
			}
			if _, err := stmt.ExecContext(ctx, r...); err != nil {
				if isUniqueViolation(err) {
					errs[i] = fmt.Errorf("insert into %s: %w", coll, errDuplicate)
					continue
				}
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fail(fmt.Errorf("insert into %s: %w", coll, err))
	}
	return errs
}

// write runs fn in one write transaction.
func (d *sqliteDocs) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	d.writeMu.Lock()
	defer d.writeMu.Unlock()
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

func isUniqueViolation(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		c := se.Code()
		return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

func (d *sqliteDocs) find(ctx context.Context, coll string, q query, fn func(bson.Raw) error) error {
	t, err := d.table(ctx, coll)
	if err != nil {
		return err
	}
	w, args, err := t.where(q.filter)
	if err != nil {
		return err
	}
	ob, err := t.orderBy(q.sort)
	if err != nil {
		return err
	}
	s := "SELECT doc FROM " + t.name + w + ob
	if q.limit > 0 {
		s += fmt.Sprintf(" LIMIT %d", q.limit)
	}
	rows, err := d.db.QueryContext(ctx, s, args...)
	if err != nil {
		return fmt.Errorf("read %s: %w", coll, err)
	}
	defer rows.Close()
	var doc []byte
	for rows.Next() {
		if err := rows.Scan(&doc); err != nil {
			return fmt.Errorf("read %s: %w", coll, err)
		}
		raw := bson.Raw(doc)
		if len(q.omit) > 0 {
			raw = omitFields(raw, q.omit)
		}
		if err := fn(raw); err != nil {
			return err
		}
	}
	return rows.Err()
}

// omitFields returns raw without the top-level fields named.
func omitFields(raw bson.Raw, omit []string) bson.Raw {
	elems, err := raw.Elements()
	if err != nil {
		return raw
	}
	drop := func(k string) bool {
		for _, o := range omit {
			if o == k {
				return true
			}
		}
		return false
	}
	idx, out := bsoncore.AppendDocumentStart(make([]byte, 0, len(raw)))
	for _, e := range elems {
		if drop(e.Key()) {
			continue
		}
		out = append(out, e...)
	}
	out, _ = bsoncore.AppendDocumentEnd(out, idx)
	return out
}

func (d *sqliteDocs) count(ctx context.Context, coll string, f filter) (int64, error) {
	t, err := d.table(ctx, coll)
	if err != nil {
		return 0, err
	}
	w, args, err := t.where(f)
	if err != nil {
		return 0, err
	}
	var n int64
	if err := d.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+t.name+w, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count %s: %w", coll, err)
	}
	return n, nil
}

func (d *sqliteDocs) update(ctx context.Context, coll string, f filter, set, inc bson.D, upsert bool) (int64, error) {
	t, err := d.table(ctx, coll)
	if err != nil {
		return 0, err
	}
	w, args, err := t.where(f)
	if err != nil {
		return 0, err
	}
	var matched int64
	err = d.write(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, "SELECT rowid, doc FROM "+t.name+w, args...)
		if err != nil {
			return err
		}
		type hit struct {
			rowid int64
			doc   bson.D
		}
		var hits []hit
		for rows.Next() {
			var h hit
			var raw []byte
			if err := rows.Scan(&h.rowid, &raw); err != nil {
				rows.Close()
				return err
			}
			if err := bson.Unmarshal(raw, &h.doc); err != nil {
				rows.Close()
				return fmt.Errorf("decode %s document: %w", coll, err)
			}
			hits = append(hits, h)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		matched = int64(len(hits))
		if matched == 0 && upsert {
			doc := bson.D{}
			for _, c := range f {
				if c.op == "$eq" {
					doc = setPath(doc, c.field, c.value)
				}
			}
			doc = applyChange(doc, set, inc)
			r, err := t.row(doc)
			if err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, t.insert, r...)
			if isUniqueViolation(err) {
				return errDuplicate
			}
			return err
		}
		setCols := "doc = ?"
		for _, fl := range t.fields {
			setCols += ", " + t.columns[fl] + " = ?"
		}
		stmt, err := tx.PrepareContext(ctx, "UPDATE "+t.name+" SET "+setCols+" WHERE rowid = ?")
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, h := range hits {
			r, err := t.row(applyChange(h.doc, set, inc))
			if err != nil {
				return err
			}
			vals := append(r[1:], h.rowid)
			if _, err := stmt.ExecContext(ctx, vals...); err != nil {
				if isUniqueViolation(err) {
					return errDuplicate
				}
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("update %s: %w", coll, err)
	}
	return matched, nil
}

func (d *sqliteDocs) replace(ctx context.Context, coll string, id string, doc any) error {
	t, err := d.table(ctx, coll)
	if err != nil {
		return err
	}
	r, err := t.row(doc)
	if err != nil {
		return err
	}
	if r[0] != id {
		return fmt.Errorf("replace %s %s: the document's _id is %v", coll, id, r[0])
	}
	err = d.write(ctx, func(tx *sql.Tx) error {
		setCols := "doc = ?"
		for _, fl := range t.fields {
			setCols += ", " + t.columns[fl] + " = ?"
		}
		res, err := tx.ExecContext(ctx, "UPDATE "+t.name+" SET "+setCols+" WHERE id = ?", append(r[1:], id)...)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n > 0 {
			return nil
		}
		_, err = tx.ExecContext(ctx, t.insert, r...)
		return err
	})
	if err != nil {
		return fmt.Errorf("write %s %s: %w", coll, id, err)
	}
	return nil
}

func (d *sqliteDocs) remove(ctx context.Context, coll string, f filter) (int64, error) {
	t, err := d.table(ctx, coll)
	if err != nil {
		return 0, err
	}
	w, args, err := t.where(f)
	if err != nil {
		return 0, err
	}
	var n int64
	err = d.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM "+t.name+w, args...)
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("delete from %s: %w", coll, err)
	}
	return n, nil
}

// applyChange sets and increments dotted paths of doc, as MongoDB's $set and $inc do.
func applyChange(doc bson.D, set, inc bson.D) bson.D {
	for _, e := range set {
		doc = setPath(doc, e.Key, e.Value)
	}
	for _, e := range inc {
		cur, _ := getPath(doc, e.Key)
		doc = setPath(doc, e.Key, addNumbers(cur, e.Value))
	}
	return doc
}

func getPath(doc bson.D, path string) (any, bool) {
	key, rest, nested := strings.Cut(path, ".")
	for _, e := range doc {
		if e.Key != key {
			continue
		}
		if !nested {
			return e.Value, true
		}
		if sub, ok := e.Value.(bson.D); ok {
			return getPath(sub, rest)
		}
		return nil, false
	}
	return nil, false
}

func setPath(doc bson.D, path string, v any) bson.D {
	key, rest, nested := strings.Cut(path, ".")
	for i, e := range doc {
		if e.Key != key {
			continue
		}
		if !nested {
			doc[i].Value = v
			return doc
		}
		sub, _ := e.Value.(bson.D)
		doc[i].Value = setPath(sub, rest, v)
		return doc
	}
	if nested {
		return append(doc, bson.E{Key: key, Value: setPath(bson.D{}, rest, v)})
	}
	return append(doc, bson.E{Key: key, Value: v})
}

// addNumbers adds as MongoDB's $inc does: integers stay integers.
func addNumbers(a, b any) any {
	ai, aInt := asInt(a)
	bi, bInt := asInt(b)
	if (aInt || a == nil) && bInt {
		return ai + bi
	}
	return asFloat(a) + asFloat(b)
}

func asInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	}
	return 0, false
}

func asFloat(v any) float64 {
	switch x := v.(type) {
	case nil:
		return 0
	case int:
		return float64(x)
	case int32:
		return float64(x)
	case int64:
		return float64(x)
	case float64:
		return x
	case float32:
		return float64(x)
	}
	return math.NaN()
}
