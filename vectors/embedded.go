package vectors

import (
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/philippgille/chromem-go"
)

// Embedded is the default Index: a chromem-go persistent database in a
// directory, with an in-memory copy of every collection's vectors (contiguous,
// normalised) that answers queries by an exact, parallel brute-force scan.
// chromem-go remains the storage; the copy is rebuilt from it on open.
type Embedded struct {
	dir    string
	db     *chromem.DB
	mu     sync.Mutex // guards cols
	cols   map[string]*memCol
	closed atomic.Bool
	unlock func()

	dirty   atomic.Bool   // changed since the last save
	saveMu  sync.Mutex    // one save at a time
	flushed chan struct{} // closed by Close to stop the flush loop
}

// memCol is one collection: its chromem-go store and the scan copy.
type memCol struct {
	name    string
	store   *chromem.Collection
	writeMu sync.Mutex // serialises writes: persist, then apply to the copy

	mu      sync.RWMutex // guards the fields below
	dropped bool
	dim     int
	ids     []string
	vecs    []float32 // row i is vecs[i*dim:(i+1)*dim], unit length
	metas   []map[string]string
	pos     map[string]int32
	// byMeta lists the rows holding each metadata key and value, so that a
	// where filter touches only candidate rows.
	byMeta map[string]map[string][]int32
}

// noEmbed is the chromem-go embedding function of our collections: we always
// pass vectors, so it is never meant to run.
func noEmbed(context.Context, string) ([]float32, error) {
	return nil, errors.New("correctly stores precomputed vectors only")
}

// snapshotFile is the embedded index's file in its directory: chromem-go's own export format.
const snapshotFile = "index.gob"

// OpenEmbedded opens (creating if missing) the embedded index persisted in dir
// and loads every collection into memory.
//
// chromem-go's persistent mode writes one file per vector, which made every
// add cost a file creation; instead the chromem-go DB lives in memory and is
// saved whole, atomically, into dir/index.gob at most every ten seconds
// after a change and on Close. A crash can lose the last seconds of vectors:
// MongoDB is the source of truth, and an index holding fewer vectors than there
// are accepted records is rebuilt from them (`correctly vectors reindex`).
func OpenEmbedded(dir string) (*Embedded, error) {
	if dir == "" {
		return nil, errors.New("open embedded vector index: no directory given")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("open embedded vector index: %w", err)
	}
	unlock, err := lockIndexDir(dir)
	if err != nil {
		return nil, err
	}
	db := chromem.NewDB()
	snap := filepath.Join(dir, snapshotFile)
	if _, err := os.Stat(snap); err == nil {
		if err := db.ImportFromFile(snap, ""); err != nil {
			unlock()
			return nil, fmt.Errorf("open embedded vector index %s: %w (remove it; it is rebuilt from the records with `correctly vectors reindex`)", snap, err)
		}
	}
	e := &Embedded{dir: dir, db: db, cols: map[string]*memCol{}, unlock: unlock, flushed: make(chan struct{})}
	if err := e.load(); err != nil {
		unlock()
		return nil, fmt.Errorf("load embedded vector index from %s: %w (remove the directory to rebuild it with `correctly vectors reindex`)", dir, err)
	}
	go e.flushLoop()
	return e, nil
}

// flushInterval is how long a change may stay only in memory.
const flushInterval = 10 * time.Second

func (e *Embedded) flushLoop() {
	t := time.NewTicker(flushInterval)
	defer t.Stop()
	for {
		select {
		case <-e.flushed:
			return
		case <-t.C:
			if e.dirty.Load() {
				_ = e.save()
			}
		}
	}
}

// save writes the whole index to a temporary file and renames it into place.
func (e *Embedded) save() error {
	e.saveMu.Lock()
	defer e.saveMu.Unlock()
	// chromem-go's export reads its maps unguarded: hold every collection's writes meanwhile
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range e.cols {
		c.writeMu.Lock()
		defer c.writeMu.Unlock()
	}
	e.dirty.Store(false)
	tmp := filepath.Join(e.dir, snapshotFile+".tmp")
	if err := e.db.ExportToFile(tmp, false, ""); err != nil {
		e.dirty.Store(true)
		return fmt.Errorf("save embedded vector index: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(e.dir, snapshotFile)); err != nil {
		e.dirty.Store(true)
		return fmt.Errorf("save embedded vector index: %w", err)
	}
	return nil
}

// load reads all documents through chromem-go's export, the one public way to
// enumerate a collection's documents.
func (e *Embedded) load() error {
	type exportCollection struct {
		Name      string
		Metadata  map[string]string
		Documents map[string]*chromem.Document
	}
	var export struct {
		Collections map[string]*exportCollection
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(e.db.ExportToWriter(pw, false, "")) }()
	err := gob.NewDecoder(pr).Decode(&export)
	// Drain so that the exporting goroutine always finishes.
	_, _ = io.Copy(io.Discard, pr)
	if err != nil {
		return fmt.Errorf("decode collections: %w", err)
	}
	for name, ec := range export.Collections {
		c := &memCol{name: name, store: e.db.GetCollection(name, noEmbed), pos: map[string]int32{}}
		if c.store == nil {
			continue
		}
		ids := make([]string, 0, len(ec.Documents))
		for id := range ec.Documents {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			d := ec.Documents[id]
			if c.dim == 0 {
				c.dim = len(d.Embedding)
			}
			if len(d.Embedding) != c.dim {
				return fmt.Errorf("collection %q mixes %d- and %d-dimensional vectors", name, c.dim, len(d.Embedding))
			}
			c.appendRow(id, d.Embedding, d.Metadata)
		}
		e.cols[name] = c
	}
	return nil
}

func (c *memCol) appendRow(id string, v []float32, meta map[string]string) {
	row := int32(len(c.ids))
	c.pos[id] = row
	c.ids = append(c.ids, id)
	start := len(c.vecs)
	c.vecs = append(c.vecs, v...)
	normalize(c.vecs[start:])
	m := copyMeta(meta)
	c.metas = append(c.metas, m)
	c.indexMeta(row, m)
}

// replaceRow overwrites an existing row's vector and metadata.
func (c *memCol) replaceRow(row int32, v []float32, meta map[string]string) {
	start := int(row) * c.dim
	copy(c.vecs[start:start+c.dim], v)
	normalize(c.vecs[start : start+c.dim])
	for k, val := range c.metas[row] {
		rows := c.byMeta[k][val]
		for i, r := range rows {
			if r == row {
				rows[i] = rows[len(rows)-1]
				c.byMeta[k][val] = rows[:len(rows)-1]
				break
			}
		}
	}
	m := copyMeta(meta)
	c.metas[row] = m
	c.indexMeta(row, m)
}

func (c *memCol) indexMeta(row int32, m map[string]string) {
	if c.byMeta == nil {
		c.byMeta = map[string]map[string][]int32{}
	}
	for k, v := range m {
		vals := c.byMeta[k]
		if vals == nil {
			vals = map[string][]int32{}
			c.byMeta[k] = vals
		}
		vals[v] = append(vals[v], row)
	}
}

func (e *Embedded) get(name string) *memCol {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cols[name]
}

func (e *Embedded) getOrCreate(name string) (*memCol, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if c := e.cols[name]; c != nil {
		return c, nil
	}
	store, err := e.db.GetOrCreateCollection(name, nil, noEmbed)
	if err != nil {
		return nil, fmt.Errorf("create collection %q in %s: %w", name, e.dir, err)
	}
	c := &memCol{name: name, store: store, pos: map[string]int32{}}
	e.cols[name] = c
	return c, nil
}

// Add implements Index.
func (e *Embedded) Add(ctx context.Context, collection string, items []Item) error {
	if e.closed.Load() {
		return ErrClosed
	}
	items, dim, err := prepareItems(items)
	if err != nil {
		return fmt.Errorf("add to %q: %w", collection, err)
	}
	if len(items) == 0 {
		return nil
	}
	docs := make([]chromem.Document, len(items))
	for i, it := range items {
		v := append([]float32(nil), it.Vector...)
		normalize(v)
		docs[i] = chromem.Document{ID: it.ID, Metadata: copyMeta(it.Meta), Embedding: v}
	}
	for {
		c, err := e.getOrCreate(collection)
		if err != nil {
			return err
		}
		done, err := c.add(ctx, docs, dim)
		if err != nil {
			return fmt.Errorf("add %d items to %q: %w", len(items), collection, err)
		}
		if done {
			e.dirty.Store(true)
			return nil
		}
		// Dropped while we waited for the write lock: create it anew.
	}
}

func (c *memCol) add(ctx context.Context, docs []chromem.Document, dim int) (bool, error) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	c.mu.RLock()
	dropped, have := c.dropped, c.dim
	c.mu.RUnlock()
	if dropped {
		return false, nil
	}
	if have != 0 && have != dim {
		return false, fmt.Errorf("collection holds %d-dimensional vectors, got %d: one collection holds one embedder's vectors", have, dim)
	}
	var err error
	if len(docs) == 1 {
		err = c.store.AddDocument(ctx, docs[0])
	} else {
		err = c.store.AddDocuments(ctx, docs, 4*runtime.GOMAXPROCS(0))
	}
	if err != nil {
		return false, fmt.Errorf("persist: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dim = dim
	for _, d := range docs {
		if row, ok := c.pos[d.ID]; ok {
			c.replaceRow(row, d.Embedding, d.Metadata)
			continue
		}
		c.appendRow(d.ID, d.Embedding, d.Metadata)
	}
	return true, nil
}

// Query implements Index.
func (e *Embedded) Query(ctx context.Context, collection string, vecs [][]float32, k int, where map[string]string) ([][]Hit, error) {
	if e.closed.Load() {
		return nil, ErrClosed
	}
	if err := checkQuery(vecs, k); err != nil {
		return nil, fmt.Errorf("query %q: %w", collection, err)
	}
	c := e.get(collection)
	if c == nil || len(vecs) == 0 {
		return emptyHits(len(vecs)), nil
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if len(c.ids) == 0 {
		return emptyHits(len(vecs)), nil
	}
	dim := c.dim
	qs := make([]float32, len(vecs)*dim)
	for i, v := range vecs {
		if len(v) != dim {
			return nil, fmt.Errorf("query %q: vector %d has %d dimensions, the collection holds %d-dimensional vectors", collection, i, len(v), dim)
		}
		copy(qs[i*dim:], v)
		normalize(qs[i*dim : (i+1)*dim])
	}
	var rows []int32
	if len(where) > 0 {
		rows = c.filter(where)
		if len(rows) == 0 {
			return emptyHits(len(vecs)), nil
		}
	}
	tops, err := c.scan(ctx, qs, len(vecs), k, rows)
	if err != nil {
		return nil, fmt.Errorf("query %q: %w", collection, err)
	}
	out := make([][]Hit, len(vecs))
	for q, t := range tops {
		hits := make([]Hit, len(t))
		for j, cd := range t {
			hits[j] = Hit{ID: c.ids[cd.i], Distance: cd.d, Meta: copyMeta(c.metas[cd.i])}
		}
		out[q] = hits
	}
	return out, nil
}

// filter returns the rows whose metadata matches every key of where: the
// shortest posting list among where's keys, checked against the other keys.
func (c *memCol) filter(where map[string]string) []int32 {
	var best []int32
	bestKey := ""
	for k, v := range where {
		rows := c.byMeta[k][v]
		if len(rows) == 0 {
			return nil
		}
		if bestKey == "" || len(rows) < len(best) {
			best, bestKey = rows, k
		}
	}
	out := make([]int32, 0, len(best))
	for _, r := range best {
		m := c.metas[r]
		ok := true
		for k, v := range where {
			if k == bestKey {
				continue
			}
			if got, has := m[k]; !has || got != v {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, r)
		}
	}
	return out
}

// Count implements Index.
func (e *Embedded) Count(_ context.Context, collection string) (int, error) {
	if e.closed.Load() {
		return 0, ErrClosed
	}
	c := e.get(collection)
	if c == nil {
		return 0, nil
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.ids), nil
}

// Drop implements Index.
func (e *Embedded) Drop(_ context.Context, collection string) error {
	if e.closed.Load() {
		return ErrClosed
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.cols[collection]
	if c != nil {
		c.writeMu.Lock()
		defer c.writeMu.Unlock()
		c.mu.Lock()
		c.dropped = true
		c.mu.Unlock()
		delete(e.cols, collection)
	}
	if err := e.db.DeleteCollection(collection); err != nil {
		return fmt.Errorf("drop collection %q in %s: %w", collection, e.dir, err)
	}
	e.dirty.Store(true)
	return nil
}

// Close implements Index: it saves what changed since the last save and marks
// the index unusable.
func (e *Embedded) Close() error {
	if e.closed.Swap(true) {
		return nil
	}
	close(e.flushed)
	var err error
	if e.dirty.Load() {
		err = e.save()
	}
	if e.unlock != nil {
		e.unlock()
	}
	return err
}

// cand is a scan candidate: row index and distance.
type cand struct {
	d float32
	i int32
}

// topK keeps the k best candidates in a max-heap (worst at the root). Ties on
// distance are broken by ID so that answers are deterministic.
type topK struct {
	k   int
	h   []cand
	ids []string
}

func (t *topK) worse(a, b cand) bool {
	if a.d != b.d {
		return a.d > b.d
	}
	return t.ids[a.i] > t.ids[b.i]
}

func (t *topK) push(c cand) {
	if len(t.h) < t.k {
		t.h = append(t.h, c)
		for j := len(t.h) - 1; j > 0; {
			p := (j - 1) / 2
			if !t.worse(t.h[j], t.h[p]) {
				break
			}
			t.h[j], t.h[p] = t.h[p], t.h[j]
			j = p
		}
		return
	}
	if c.d > t.h[0].d || !t.worse(t.h[0], c) {
		return
	}
	t.h[0] = c
	n := len(t.h)
	for j := 0; ; {
		l, r, m := 2*j+1, 2*j+2, j
		if l < n && t.worse(t.h[l], t.h[m]) {
			m = l
		}
		if r < n && t.worse(t.h[r], t.h[m]) {
			m = r
		}
		if m == j {
			break
		}
		t.h[j], t.h[m] = t.h[m], t.h[j]
		j = m
	}
}

// scanBlock rows are scored against every query before moving on, so a block
// stays in cache while the queries pass over it.
const scanBlock = 64

// minRowsPerWorker keeps goroutine overhead small next to the work.
const minRowsPerWorker = 2048

// scan returns, per query, the k nearest rows (all rows, or only rows when not
// nil) sorted nearest first.
func (c *memCol) scan(ctx context.Context, qs []float32, nq, k int, rows []int32) ([][]cand, error) {
	dim := c.dim
	n := len(c.ids)
	if rows != nil {
		n = len(rows)
	}
	workers := min(runtime.GOMAXPROCS(0), max(1, n*nq/minRowsPerWorker))
	parts := make([][]topK, workers)
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := n*w/workers, n*(w+1)/workers
		tops := make([]topK, nq)
		for q := range tops {
			tops[q] = topK{k: k, h: make([]cand, 0, min(k, hi-lo)), ids: c.ids}
		}
		parts[w] = tops
		wg.Go(func() {
			for b := lo; b < hi; b += scanBlock {
				if ctx.Err() != nil {
					return
				}
				be := min(b+scanBlock, hi)
				for q := range nq {
					qv := qs[q*dim : (q+1)*dim]
					t := &tops[q]
					for j := b; j < be; j++ {
						r := int32(j)
						if rows != nil {
							r = rows[j]
						}
						d := 1 - dot(qv, c.vecs[int(r)*dim:int(r+1)*dim])
						if d < 0 {
							d = 0
						}
						t.push(cand{d: d, i: r})
					}
				}
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([][]cand, nq)
	for q := range nq {
		var all []cand
		for w := range workers {
			all = append(all, parts[w][q].h...)
		}
		sort.Slice(all, func(a, b int) bool {
			if all[a].d != all[b].d {
				return all[a].d < all[b].d
			}
			return c.ids[all[a].i] < c.ids[all[b].i]
		})
		if len(all) > k {
			all = all[:k]
		}
		out[q] = all
	}
	return out, nil
}

// dotGo is the portable inner product of two equal-length vectors, unrolled so
// that the four independent sums keep the floating-point units busy.
func dotGo(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+8 <= len(a); i += 8 {
		s0 += a[i]*b[i] + a[i+4]*b[i+4]
		s1 += a[i+1]*b[i+1] + a[i+5]*b[i+5]
		s2 += a[i+2]*b[i+2] + a[i+6]*b[i+6]
		s3 += a[i+3]*b[i+3] + a[i+7]*b[i+7]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// ErrIndexLocked is returned by OpenEmbedded when another process has the index open.
var ErrIndexLocked = errors.New("embedded vector index is in use")

// lockIndexDir takes an exclusive flock on dir/LOCK: the embedded index lives in one process's memory,
// so two processes writing it would each miss the other's vectors.
func lockIndexDir(dir string) (func(), error) {
	path := filepath.Join(dir, "LOCK")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open index lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := os.ReadFile(path)
		f.Close()
		owner := strings.TrimSpace(string(b))
		if owner == "" {
			owner = "unknown"
		}
		return nil, fmt.Errorf("%w: process %s has %s open; several workers need a shared index: set CHROMA_URL (docker compose up -d, or scripts/chroma.sh start)", ErrIndexLocked, owner, dir)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return func() {
		_ = f.Truncate(0)
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
