package generator

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/rs/zerolog"

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
	Indexed   []string // fields kept in the index besides the compared ones (example retrieval)

	Log zerolog.Logger

	admits   group[*corpus.Record, struct{}]
	screens  group[screening, *Match]
	prepared bool
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
	for _, st := range s.Steps {
		if st.Examples != nil && !slices.Contains(d.Indexed, st.Examples.Field) {
			d.Indexed = append(d.Indexed, st.Examples.Field)
		}
	}
	d.admits = group[*corpus.Record, struct{}]{max: maxAdmitBatch, run: d.admitBatch}
	d.screens = group[screening, *Match]{max: maxAdmitBatch, run: d.screenBatch}
	return d
}

// indexFields are the fields kept in the vector index: the compared ones and those example
// retrieval or a query asked for (Indexed).
func (d *Dedup) indexFields() []string {
	out := append([]string(nil), d.Fields...)
	for _, f := range d.Indexed {
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

// Ensure makes field searchable: added to the indexed fields and built from the records if the index
// lacks it.
func (d *Dedup) Ensure(ctx context.Context, field string) error {
	if slices.Contains(d.indexFields(), field) {
		return nil
	}
	d.Indexed = append(d.Indexed, field)
	return d.Prepare(ctx)
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

// Prepare makes sure the index holds every accepted record of the scope. It reads counts only, so a
// start costs the same at any corpus size; only when the index holds fewer vectors than the
// accepted records whose field it can index does it read the records, and then it embeds and adds
// just those the index lacks (a record without the field is counted, never embedded), so each
// record is embedded once.
func (d *Dedup) Prepare(ctx context.Context) error {
	q := corpus.RecordQuery{Status: corpus.StatusAccepted}
	n, err := d.Store.CountRecords(ctx, q)
	if err != nil {
		return fmt.Errorf("count accepted records: %w", err)
	}
	for _, f := range d.indexFields() {
		coll := vectors.CollectionName(f, d.Embedder.ID())
		have, err := d.Index.Count(ctx, coll)
		if err != nil {
			return err
		}
		skipped, err := d.Store.Unindexed(ctx, coll)
		if err != nil {
			return err
		}
		if int64(have)+skipped < n {
			d.Log.Info().Str("field", f).Int("indexed", have).Int64("accepted", n).Int64("without the field", skipped).Msg("adding the records the vector index lacks")
			if _, err := d.reindexField(ctx, f, q, true); err != nil {
				return err
			}
		}
	}
	d.prepared = true
	return nil
}

// Reindex drops and rebuilds the index collections of the dedup fields from the accepted records.
func (d *Dedup) Reindex(ctx context.Context) (int, error) {
	total := 0
	for _, f := range d.indexFields() {
		if err := d.Index.Drop(ctx, vectors.CollectionName(f, d.Embedder.ID())); err != nil {
			return total, err
		}
		n, err := d.reindexField(ctx, f, corpus.RecordQuery{Status: corpus.StatusAccepted}, false)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// reindexField embeds and indexes field of the records q selects, returning how many it added;
// with onlyMissing, those the index already holds are left as they are (not embedded again).
func (d *Dedup) reindexField(ctx context.Context, field string, q corpus.RecordQuery, onlyMissing bool) (int, error) {
	coll := vectors.CollectionName(field, d.Embedder.ID())
	const batch = 512
	var ids, texts []string
	var metas []map[string]string
	n := 0
	flush := func() error {
		if onlyMissing && len(ids) > 0 {
			has, err := d.Index.Has(ctx, coll, ids)
			if err != nil {
				return fmt.Errorf("look up indexed records: %w", err)
			}
			k := 0
			for i := range ids {
				if !has[i] {
					ids[k], texts[k], metas[k] = ids[i], texts[i], metas[i]
					k++
				}
			}
			ids, texts, metas = ids[:k], texts[:k], metas[:k]
		}
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
	var skipped int64
	err := d.Store.EachRecord(ctx, q, func(r *corpus.Record) error {
		t := text(r.Fields[field])
		if strings.TrimSpace(t) == "" {
			skipped++
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
	if err := flush(); err != nil {
		return n, err
	}
	return n, d.Store.SetUnindexed(ctx, coll, skipped)
}

// Match is the nearest earlier record found for a text.
type Match struct {
	RecordID string
	Distance float64
	Field    string
}

// Admit decides whether an accepted record is a duplicate (marking it so) and records its
// fingerprints and vectors when it is not; the caller then writes the record. Records admitted at
// the same time are checked as one batch (group commit): one embedding call, one index query, one
// fingerprint insert and one index add for the whole batch, and each record is also compared with
// the ones before it in its batch.
func (d *Dedup) Admit(ctx context.Context, rec *corpus.Record) error {
	_, err := d.admits.do(ctx, rec)
	return err
}

// maxAdmitBatch is the most records one admission or screening batch holds.
const maxAdmitBatch = 128

func (d *Dedup) admitBatch(ctx context.Context, batch []*corpus.Record) ([]struct{}, error) {
	fields := d.indexFields()
	// exact: one lookup of every fingerprint of the batch
	fpIDs := make([][]string, len(batch)) // per record, per compared field ("" when empty)
	for i, rec := range batch {
		fpIDs[i] = make([]string, len(d.Fields))
		for j, f := range d.Fields {
			if t := text(rec.Fields[f]); t != "" {
				fpIDs[i][j] = d.fingerprintID(f, t)
			}
		}
	}
	if !d.prepared {
		if err := d.Prepare(ctx); err != nil {
			return nil, err
		}
	}
	var ids []string
	for _, fps := range fpIDs {
		for _, id := range fps {
			if id != "" {
				ids = append(ids, id)
			}
		}
	}
	known, err := d.Store.FingerprintOwners(ctx, ids)
	if err != nil {
		return nil, err
	}
	// near: one embedding call per field (outside the lock: it may be a slow API) and one query
	texts := make([][]string, len(fields))
	vecs := make([][][]float32, len(fields))
	hits := make([][][]vectors.Hit, len(fields))
	for fi, f := range fields {
		texts[fi] = make([]string, len(batch))
		for i, rec := range batch {
			texts[fi][i] = text(rec.Fields[f])
			if texts[fi][i] == "" {
				texts[fi][i] = " "
			}
		}
		v, err := d.Embedder.Embed(ctx, texts[fi])
		if err != nil {
			return nil, fmt.Errorf("embed %s: %w", f, err)
		}
		vecs[fi] = v
	}
	// workers in other processes check against the same index: one batch at a time, so that of two
	// near-duplicates written at once the second sees the first
	unlock, err := d.Store.Lock(ctx, "dedup", 5*time.Minute)
	if err != nil {
		return nil, err
	}
	defer unlock()
	for fi, f := range fields {
		v := vecs[fi]
		if slices.Contains(d.Fields, f) {
			h, err := d.Index.Query(ctx, vectors.CollectionName(f, d.Embedder.ID()), v, 2, d.where())
			if err != nil {
				return nil, fmt.Errorf("query nearest %s: %w", f, err)
			}
			hits[fi] = h
		}
	}
	var accepted []int
	for i, rec := range batch {
		if m := d.match(i, rec, fpIDs[i], known, fields, vecs, hits, batch, accepted); m != nil {
			markDuplicate(rec, m)
			continue
		}
		accepted = append(accepted, i)
		for _, id := range fpIDs[i] {
			if id != "" {
				known[id] = rec.ID
			}
		}
	}
	// fingerprints of the accepted, in one unordered insert; a clash means another process accepted
	// the same text a moment ago
	var docs []corpus.Fingerprint
	for _, i := range accepted {
		for j, id := range fpIDs[i] {
			if id != "" {
				docs = append(docs, corpus.Fingerprint{ID: id, RecordID: batch[i].ID, Field: d.Fields[j], Prompt: batch[i].Prompt})
			}
		}
	}
	if len(docs) > 0 {
		clashed := false
		for _, err := range d.Store.AddFingerprints(ctx, docs) {
			if err != nil && !corpus.IsDuplicate(err) {
				return nil, fmt.Errorf("store fingerprints: %w", err)
			}
			clashed = clashed || err != nil
		}
		if clashed {
			kept := accepted[:0]
			for _, i := range accepted {
				if m := d.clash(ctx, batch[i], fpIDs[i]); m != nil {
					markDuplicate(batch[i], m)
					for _, id := range fpIDs[i] {
						if id != "" {
							known[id] = m.RecordID
						}
					}
					continue
				}
				kept = append(kept, i)
			}
			accepted = kept
		}
	}
	// vectors of the accepted, one add per field
	for fi, f := range fields {
		var items []vectors.Item
		var skipped int64
		for _, i := range accepted {
			rec := batch[i]
			if text(rec.Fields[f]) == "" {
				skipped++
				continue
			}
			items = append(items, vectors.Item{ID: rec.ID, Vector: vecs[fi][i], Meta: map[string]string{"prompt": rec.Prompt, "run": rec.RunID}})
		}
		coll := vectors.CollectionName(f, d.Embedder.ID())
		if len(items) > 0 {
			if err := d.Index.Add(ctx, coll, items); err != nil {
				return nil, fmt.Errorf("index records: %w", err)
			}
		}
		if err := d.Store.AddUnindexed(ctx, coll, skipped); err != nil {
			return nil, fmt.Errorf("count records left out of the index: %w", err)
		}
	}
	return nil, nil
}

// Screen looks for an earlier record that the fields made so far already duplicate, before the
// slot pays for its next steps: a learner text the LLM repeated needs no correction nor translation.
// It reads only (no lock, nothing added); Admit stays the check that counts, and also catches the
// near-duplicates being made at the same moment. It returns nil until every compared field is made.
// Screenings made at the same moment share one fingerprint lookup, embedding call and index query.
func (d *Dedup) Screen(ctx context.Context, id string, fields map[string]any) (*Match, error) {
	sc := screening{id: id, texts: make([]string, len(d.Fields))}
	for i, f := range d.Fields {
		if sc.texts[i] = text(fields[f]); sc.texts[i] == "" {
			return nil, nil
		}
	}
	return d.screens.do(ctx, sc)
}

// screening is one record's compared fields, for Screen.
type screening struct {
	id    string
	texts []string // per compared field
}

func (d *Dedup) screenBatch(ctx context.Context, batch []screening) ([]*Match, error) {
	out := make([]*Match, len(batch))
	var fps []string
	for _, sc := range batch {
		for i, f := range d.Fields {
			fps = append(fps, d.fingerprintID(f, sc.texts[i]))
		}
	}
	known, err := d.Store.FingerprintOwners(ctx, fps)
	if err != nil {
		return nil, err
	}
	for b, sc := range batch {
		for i, f := range d.Fields {
			if owner, ok := known[fps[b*len(d.Fields)+i]]; ok && owner != sc.id {
				out[b] = &Match{RecordID: owner, Field: f}
			}
		}
	}
	for i, f := range d.Fields {
		texts := make([]string, len(batch))
		for b, sc := range batch {
			texts[b] = sc.texts[i]
		}
		vecs, err := d.Embedder.Embed(ctx, texts)
		if err != nil {
			return nil, fmt.Errorf("embed %s: %w", f, err)
		}
		hits, err := d.Index.Query(ctx, vectors.CollectionName(f, d.Embedder.ID()), vecs, 2, d.where())
		if err != nil {
			return nil, fmt.Errorf("query nearest %s: %w", f, err)
		}
		for b, sc := range batch {
			for _, h := range hits[b] {
				dist := float64(h.Distance)
				if h.ID == sc.id || dist > d.Threshold {
					continue
				}
				if m := out[b]; m == nil || dist < m.Distance { // an exact match (distance 0) stays
					out[b] = &Match{RecordID: h.ID, Distance: dist, Field: f}
				}
			}
		}
	}
	return out, nil
}

// match finds what record i of a batch duplicates: a stored fingerprint, an indexed neighbour, or a
// record accepted earlier in the same batch.
func (d *Dedup) match(i int, rec *corpus.Record, fps []string, known map[string]string, fields []string, vecs [][][]float32, hits [][][]vectors.Hit, batch []*corpus.Record, accepted []int) *Match {
	for j, id := range fps {
		if owner, ok := known[id]; ok && id != "" && owner != rec.ID {
			return &Match{RecordID: owner, Field: d.Fields[j]}
		}
	}
	var best *Match
	for fi, f := range fields {
		if hits[fi] == nil || text(rec.Fields[f]) == "" {
			continue
		}
		for _, h := range hits[fi][i] {
			if h.ID != rec.ID && float64(h.Distance) <= d.Threshold && (best == nil || float64(h.Distance) < best.Distance) {
				best = &Match{RecordID: h.ID, Distance: float64(h.Distance), Field: f}
			}
		}
		for _, k := range accepted {
			other := batch[k]
			if d.Scope == "prompt" && other.Prompt != rec.Prompt || text(other.Fields[f]) == "" {
				continue
			}
			dist := cosineDistance(vecs[fi][i], vecs[fi][k])
			if dist <= d.Threshold && (best == nil || dist < best.Distance) {
				best = &Match{RecordID: other.ID, Distance: dist, Field: f}
			}
		}
	}
	return best
}

// clash returns the record that owns one of rec's fingerprints, when it is another one.
func (d *Dedup) clash(ctx context.Context, rec *corpus.Record, fps []string) *Match {
	for j, id := range fps {
		if id == "" {
			continue
		}
		owners, err := d.Store.FingerprintOwners(ctx, []string{id})
		if owner, ok := owners[id]; err == nil && ok && owner != rec.ID {
			return &Match{RecordID: owner, Field: d.Fields[j]}
		}
	}
	return nil
}

func cosineDistance(a, b []float32) float64 {
	var dot, na, nb float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	if na == 0 || nb == 0 {
		return 1
	}
	return 1 - dot/math.Sqrt(na*nb)
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
