package generator

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/correctly/correctly/corpus"
	"github.com/correctly/correctly/prompts"
	"github.com/correctly/correctly/vectors"
)

// Dedup checks each new accepted record against the whole corpus, every earlier run included, before
// it is written: exact fingerprints (unique-indexed in MongoDB) first, then the nearest accepted
// neighbour in the vector index. MongoDB stays the source of truth: an index that holds fewer vectors
// than there are accepted records is rebuilt from the records, not trusted.
type Dedup struct {
	Store     *corpus.Store
	Index     vectors.Index
	Embedder  vectors.Embedder
	Fields    []string // record fields compared; default before
	Threshold float64  // cosine distance at or under which a record is a near-duplicate
	Scope     string   // "all" or "prompt"
	Prompt    string   // schema name, for scope "prompt"

	mu sync.Mutex // checks and index adds are serialised: of two near-duplicates in flight one wins
}

// NewDedup configures dedup for a schema: its dedup section, else before with the embedder's
// calibrated threshold over the whole corpus. threshold > 0 overrides both.
func NewDedup(st *corpus.Store, idx vectors.Index, emb vectors.Embedder, s *prompts.Schema, threshold float64) *Dedup {
	d := &Dedup{Store: st, Index: idx, Embedder: emb, Fields: []string{"before"}, Scope: "all", Prompt: s.Name,
		Threshold: vectors.DefaultThreshold(emb.ID())}
	if s.Dedup != nil {
		if len(s.Dedup.Fields) > 0 {
			d.Fields = s.Dedup.Fields
		}
		if s.Dedup.Scope != "" {
			d.Scope = s.Dedup.Scope
		}
		if s.Dedup.Threshold != nil {
			d.Threshold = *s.Dedup.Threshold
		}
	}
	if threshold > 0 {
		d.Threshold = threshold
	}
	return d
}

// indexFields are the fields kept in the vector index: the compared ones, plus before and after so
// that `dedup query --field` and example retrieval work on either.
func (d *Dedup) indexFields() []string {
	out := append([]string(nil), d.Fields...)
	for _, f := range []string{"before", "after"} {
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

// fingerprint is an exact-duplicate key, unique-indexed by _id.
type fingerprint struct {
	ID       string `bson:"_id"`
	RecordID string `bson:"record_id"`
	Field    string `bson:"field"`
	Prompt   string `bson:"prompt"`
}

func (d *Dedup) fingerprintID(field, text string) string {
	scope := "*"
	if d.Scope == "prompt" {
		scope = d.Prompt
	}
	return scope + "/" + field + "/" + vectors.Fingerprint(text)
}

func (d *Dedup) where() map[string]string {
	if d.Scope == "prompt" {
		return map[string]string{"prompt": d.Prompt}
	}
	return nil
}

// Prepare makes sure the index holds every accepted record of the scope, rebuilding it from MongoDB
// when it holds fewer.
func (d *Dedup) Prepare(ctx context.Context) error {
	q := corpus.RecordQuery{Status: corpus.StatusAccepted}
	n, err := d.Store.C(corpus.Records).CountDocuments(ctx, bson.D{{Key: "status", Value: corpus.StatusAccepted}})
	if err != nil {
		return fmt.Errorf("count accepted records: %w", err)
	}
	for _, f := range d.indexFields() {
		have, err := d.Index.Count(ctx, vectors.CollectionName(f, d.Embedder.ID()))
		if err != nil {
			return err
		}
		if int64(have) < n {
			if _, err := d.reindexField(ctx, f, q); err != nil {
				return err
			}
		}
	}
	return nil
}

// Reindex drops and rebuilds the index collections of the dedup fields from the accepted records.
func (d *Dedup) Reindex(ctx context.Context) (int, error) {
	total := 0
	for _, f := range d.indexFields() {
		if err := d.Index.Drop(ctx, vectors.CollectionName(f, d.Embedder.ID())); err != nil {
			return total, err
		}
		n, err := d.reindexField(ctx, f, corpus.RecordQuery{Status: corpus.StatusAccepted})
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

func (d *Dedup) reindexField(ctx context.Context, field string, q corpus.RecordQuery) (int, error) {
	coll := vectors.CollectionName(field, d.Embedder.ID())
	const batch = 512
	var ids, texts []string
	var metas []map[string]string
	n := 0
	flush := func() error {
		if len(texts) == 0 {
			return nil
		}
		vecs, err := d.Embedder.Embed(ctx, texts)
		if err != nil {
			return fmt.Errorf("embed %s for reindex: %w", field, err)
		}
		items := make([]vectors.Item, len(vecs))
		for i := range vecs {
			items[i] = vectors.Item{ID: ids[i], Vector: vecs[i], Meta: metas[i]}
		}
		if err := d.Index.Add(ctx, coll, items); err != nil {
			return fmt.Errorf("index %s: %w", field, err)
		}
		n += len(items)
		ids, texts, metas = ids[:0], texts[:0], metas[:0]
		return nil
	}
	err := d.Store.EachRecord(ctx, q, func(r *corpus.Record) error {
		t := text(r.Fields[field])
		if strings.TrimSpace(t) == "" {
			return nil
		}
		ids = append(ids, r.ID)
		texts = append(texts, t)
		metas = append(metas, map[string]string{"prompt": r.Prompt, "run": r.RunID})
		if len(texts) >= batch {
			return flush()
		}
		return nil
	})
	if err != nil {
		return n, err
	}
	return n, flush()
}

// Match is the nearest earlier record found for a text.
type Match struct {
	RecordID string
	Distance float64
	Field    string
}

// Check returns the duplicate a record is of, if any, without changing anything.
func (d *Dedup) Check(ctx context.Context, rec *corpus.Record) (*Match, [][]float32, error) {
	for _, f := range d.Fields {
		t := text(rec.Fields[f])
		if t == "" {
			continue
		}
		var fp fingerprint
		err := d.Store.C(corpus.Fingerprints).FindOne(ctx, bson.D{{Key: "_id", Value: d.fingerprintID(f, t)}}).Decode(&fp)
		if err == nil && fp.RecordID != rec.ID {
			return &Match{RecordID: fp.RecordID, Field: f}, nil, nil
		}
		if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
			return nil, nil, fmt.Errorf("look up fingerprint: %w", err)
		}
	}
	fields := d.indexFields()
	texts := make([]string, len(fields))
	for i, f := range fields {
		texts[i] = text(rec.Fields[f])
	}
	vecs, err := d.Embedder.Embed(ctx, texts)
	if err != nil {
		return nil, nil, fmt.Errorf("embed record: %w", err)
	}
	for i, f := range fields {
		if texts[i] == "" || !slices.Contains(d.Fields, f) {
			continue
		}
		hits, err := d.Index.Query(ctx, vectors.CollectionName(f, d.Embedder.ID()), vecs[i:i+1], 2, d.where())
		if err != nil {
			return nil, nil, fmt.Errorf("query nearest %s: %w", f, err)
		}
		for _, h := range hits[0] {
			if h.ID != rec.ID && float64(h.Distance) <= d.Threshold {
				return &Match{RecordID: h.ID, Distance: float64(h.Distance), Field: f}, vecs, nil
			}
		}
	}
	return nil, vecs, nil
}

// Admit decides whether an accepted record is a duplicate, records its fingerprints and vectors when
// it is not, and writes it through write.
func (d *Dedup) Admit(ctx context.Context, rec *corpus.Record, write func(*corpus.Record) error) error {
	if err := d.admit(ctx, rec); err != nil {
		return err
	}
	return write(rec)
}

func (d *Dedup) admit(ctx context.Context, rec *corpus.Record) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	m, vecs, err := d.Check(ctx, rec)
	if err != nil {
		return err
	}
	if m != nil {
		markDuplicate(rec, m)
		return nil
	}
	for _, f := range d.Fields {
		t := text(rec.Fields[f])
		if t == "" {
			continue
		}
		fp := fingerprint{ID: d.fingerprintID(f, t), RecordID: rec.ID, Field: f, Prompt: rec.Prompt}
		_, err := d.Store.C(corpus.Fingerprints).InsertOne(ctx, fp)
		if corpus.IsDuplicate(err) {
			// another process accepted the same text a moment ago
			var other fingerprint
			if d.Store.C(corpus.Fingerprints).FindOne(ctx, bson.D{{Key: "_id", Value: fp.ID}}).Decode(&other) == nil && other.RecordID != rec.ID {
				markDuplicate(rec, &Match{RecordID: other.RecordID, Field: f})
				return nil
			}
		} else if err != nil {
			return fmt.Errorf("store fingerprint: %w", err)
		}
	}
	for i, f := range d.indexFields() {
		if vecs == nil || text(rec.Fields[f]) == "" {
			continue
		}
		item := vectors.Item{ID: rec.ID, Vector: vecs[i], Meta: map[string]string{"prompt": rec.Prompt, "run": rec.RunID}}
		if err := d.Index.Add(ctx, vectors.CollectionName(f, d.Embedder.ID()), []vectors.Item{item}); err != nil {
			return fmt.Errorf("index record: %w", err)
		}
	}
	return nil
}

func markDuplicate(rec *corpus.Record, m *Match) {
	dist := m.Distance
	rec.Status = corpus.StatusDuplicate
	rec.DupOf = m.RecordID
	rec.Distance = &dist
	rec.Reasons = append(rec.Reasons, corpus.Reason{Code: "duplicate",
		Message: fmt.Sprintf("%s is within %.3f of %s", m.Field, dist, m.RecordID)})
}

// Neighbour is one similar record.
type Neighbour struct {
	RecordID string  `json:"id"`
	Distance float64 `json:"distance"`
	Text     string  `json:"text"`
	Status   string  `json:"status"`
	RunID    string  `json:"run_id"`
}

// Similar returns the k records nearest to text in field, nearest first, ties broken by ID so that the
// answer is deterministic for a corpus state. exclude is left out (a record is never its own example).
func (d *Dedup) Similar(ctx context.Context, field, query string, k int, exclude string) ([]Neighbour, error) {
	vecs, err := d.Embedder.Embed(ctx, []string{query})
	if err != nil {
		return nil, err
	}
	hits, err := d.Index.Query(ctx, vectors.CollectionName(field, d.Embedder.ID()), vecs, k+1, d.where())
	if err != nil {
		return nil, err
	}
	hs := hits[0]
	sort.SliceStable(hs, func(i, j int) bool {
		if hs[i].Distance != hs[j].Distance {
			return hs[i].Distance < hs[j].Distance
		}
		return hs[i].ID < hs[j].ID
	})
	out := make([]Neighbour, 0, k)
	for _, h := range hs {
		if h.ID == exclude || len(out) == k {
			continue
		}
		out = append(out, Neighbour{RecordID: h.ID, Distance: float64(h.Distance), RunID: h.Meta["run"]})
	}
	return out, nil
}

// Examples returns the retrieval function for schema steps with examples: the k accepted records most
// similar to the rendered query, each as a map of its fields.
func (d *Dedup) Examples(ctx context.Context, ex *prompts.Examples, data map[string]any) ([]map[string]any, error) {
	q, err := ex.RenderQuery(data)
	if err != nil {
		return nil, err
	}
	exclude := ""
	if run, ok := data["run_id"].(string); ok {
		if slot, ok := data["slot"].(int); ok {
			exclude = RecordID(run, slot)
		}
	}
	ns, err := d.Similar(ctx, ex.Field, q, ex.K, exclude)
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, 0, len(ns))
	for _, n := range ns {
		r, err := d.Store.GetRecord(ctx, n.RecordID)
		if err != nil {
			continue // an index entry whose record is gone is skipped; reindex cleans it
		}
		m := map[string]any{"id": r.ID, "distance": n.Distance}
		for k, v := range r.Fields {
			m[k] = normalizeValue(v)
		}
		for k, v := range r.Dims {
			m[k] = v
		}
		out = append(out, m)
	}
	return out, nil
}
