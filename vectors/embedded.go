package vectors

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// Embedded is the default Index: an inverted-file (IVF) index kept in a directory, one
// subdirectory per collection (see embedded_files.go for the files).
//
// A collection's rows are divided into lists, each with a centroid; a new vector joins the list of
// its nearest centroid, and a list that grows past maxList is split in two by 2-means over its own
// rows. A query scores the centroids and scans the rows of the nprobe nearest lists exactly, so it
// costs about nprobe*maxList dot products at any collection size, and a collection of up to about
// nprobe*maxList vectors is scanned whole (exact). Near-duplicates (within a dedup threshold) sit
// in the same or a neighbouring list: TestEmbeddedNearDuplicateRecall measures the recall against
// brute force.
//
// Opening reads each collection's log once, when the collection is first used; vectors are
// memory-mapped, not read. Every Add writes through (vectors into the mapping, entries appended to
// the log), so a killed process loses nothing the kernel has; the store stays the source of truth
// all the same, and an index holding fewer vectors than there are accepted records is rebuilt
// from them (`correctly vectors reindex`).
type Embedded struct {
	dir    string
	mu     sync.Mutex // guards cols
	cols   map[string]*collection
	closed atomic.Bool
	unlock func()

	// listCap is the rows at which a list is split: maxList, or smaller in tests that measure
	// recall at many lists without millions of vectors.
	listCap int
	// joinProbe and joinRerank tune NearPairs: the constants of those names, or other numbers in
	// tests that measure what they give.
	joinProbe, joinRerank int

	// Migrated is the number of vectors converted from an index.gob of an earlier version on open.
	Migrated int
}

// Tuning of the lists: see TestEmbeddedNearDuplicateRecall for what they give.
const (
	maxList = 2048 // rows at which a list is split
	nprobe  = 16   // lists a query scans
	// exactWhere is the number of rows matching a where filter at or below which a query scans
	// them all instead of the lists: exact, and no list scan that finds nothing to keep.
	exactWhere = 16384
)

// collection is one collection's state; rows are numbered in insertion order.
type collection struct {
	name    string
	dir     string
	listCap int
	writeMu sync.Mutex // one Add at a time

	mu      sync.RWMutex // guards the fields below
	dropped bool
	dim     int
	vecs    *vecFile // nil until the first vector
	log     logWriter
	ids     []string
	pos     map[string]int32 // ID -> row, built by rowOf on first use: a query needs none
	posOnce sync.Once
	metaOf  []int32 // row -> meta index
	metas   []map[string]string
	metaIdx map[string]int32 // canonical JSON -> meta index
	metaN   []int32          // rows per meta index
	listOf  []int32          // row -> list
	lists   [][]int32        // list -> rows
	lsigs   [][]sig          // list -> its rows' signatures, in the order of lists
	sigOf   []sig            // row -> signature
	cents   []float32        // list l's centroid at cents[l*dim:(l+1)*dim]
	planes  []float32        // the signatures' hyperplanes, sigBits of dim
	arena   idArena          // the bytes of the IDs loaded from the log
}

// rowOf returns the map from ID to row, building it on first use. Callers hold mu (read or write);
// only holders of the write lock change it.
func (c *collection) rowOf() map[string]int32 {
	c.posOnce.Do(func() {
		c.pos = make(map[string]int32, len(c.ids))
		for r, id := range c.ids {
			c.pos[id] = int32(r)
		}
	})
	return c.pos
}

// idArena holds loaded IDs in large blocks: a million IDs are a few allocations for the collector
// to track, not a million.
type idArena struct{ block []byte }

func (a *idArena) string(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(a.block)+len(b) > cap(a.block) {
		a.block = make([]byte, 0, max(1<<20, len(b)))
	}
	off := len(a.block)
	a.block = append(a.block, b...)
	return unsafe.String(&a.block[off], len(b))
}

// sig is a row's signature: one bit per random hyperplane, set when the vector lies on its
// positive side. Two vectors at angle θ differ in a bit with probability θ/π, so the Hamming
// distance of signatures ranks candidates at a few nanoseconds each, before exact dot products
// (Charikar's SimHash).
type sig [sigWords]uint64

const (
	sigWords = 4
	sigBits  = 64 * sigWords
)

func hyperplanes(dim int) []float32 {
	p := make([]float32, sigBits*dim)
	r := rand.New(rand.NewPCG(0x5eed, uint64(dim)))
	for i := range p {
		p[i] = float32(r.NormFloat64())
	}
	return p
}

func (c *collection) signature(v []float32) sig {
	var s sig
	for p := range sigBits {
		if dot(v, c.planes[p*c.dim:(p+1)*c.dim]) >= 0 {
			s[p/64] |= 1 << (p % 64)
		}
	}
	return s
}

func hamming(a, b *sig) int {
	return bits.OnesCount64(a[0]^b[0]) + bits.OnesCount64(a[1]^b[1]) + bits.OnesCount64(a[2]^b[2]) + bits.OnesCount64(a[3]^b[3])
}

func (c *collection) listAdd(l, row int32) {
	c.lists[l] = append(c.lists[l], row)
	c.lsigs[l] = append(c.lsigs[l], c.sigOf[row])
	c.listOf[row] = l
}

func (c *collection) listRemove(l, row int32) {
	rows := c.lists[l]
	for i, r := range rows {
		if r == row {
			copy(rows[i:], rows[i+1:])
			copy(c.lsigs[l][i:], c.lsigs[l][i+1:])
			c.lists[l] = rows[:len(rows)-1]
			c.lsigs[l] = c.lsigs[l][:len(rows)-1]
			return
		}
	}
}

// snapshotFile is the whole-index file of earlier versions (chromem-go's export), converted on open.
const snapshotFile = "index.gob"

// OpenEmbedded opens (creating if missing) the embedded index in dir. An index.gob written by an
// earlier version is converted on first open and renamed to index.gob.migrated; Migrated says how
// many vectors it held.
func OpenEmbedded(dir string) (*Embedded, error) {
	if dir == "" {
		return nil, errors.New("open embedded vector index: no directory given")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open embedded vector index: %w", err)
	}
	_ = os.Chmod(dir, 0o700)
	unlock, err := lockIndexDir(dir)
	if err != nil {
		return nil, err
	}
	e := &Embedded{dir: dir, cols: map[string]*collection{}, unlock: unlock, listCap: maxList}
	if err := e.migrate(); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

// collDir names a collection's directory: the name itself when it is a plain file name, else a hash.
func collDir(name string) string {
	ok := name != "" && len(name) <= 200 && name[0] != '.'
	for i := 0; ok && i < len(name); i++ {
		ok = isAlnum(name[i]) || name[i] == '.' || name[i] == '_' || name[i] == '-'
	}
	if ok {
		return "c-" + name
	}
	sum := sha256.Sum256([]byte(name))
	return "h-" + hex.EncodeToString(sum[:16])
}

// get returns the collection, loading it from disk on first use; nil when it doesn't exist.
func (e *Embedded) get(name string) (*collection, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.getLocked(name, false)
}

func (e *Embedded) getLocked(name string, create bool) (*collection, error) {
	if c := e.cols[name]; c != nil {
		return c, nil
	}
	dir := filepath.Join(e.dir, collDir(name))
	logPath := filepath.Join(dir, "log")
	if _, err := os.Stat(logPath); err != nil {
		if !create {
			return nil, nil
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create collection %q in %s: %w", name, e.dir, err)
		}
	}
	c, err := loadCollection(name, dir)
	if c != nil {
		c.listCap = e.listCap
	}
	if err != nil {
		return nil, fmt.Errorf("load collection %q from %s: %w (remove that directory; `correctly vectors reindex` rebuilds it from the records)", name, dir, err)
	}
	e.cols[name] = c
	return c, nil
}

func loadCollection(name, dir string) (*collection, error) {
	c := &collection{name: name, dir: dir, metaIdx: map[string]int32{}}
	logPath := filepath.Join(dir, "log")
	good, err := readLog(logPath, c.replay)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	f, err := os.OpenFile(logPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := f.Truncate(good); err != nil { // a torn tail
		f.Close()
		return nil, err
	}
	if _, err := f.Seek(good, 0); err != nil {
		f.Close()
		return nil, err
	}
	c.log.f = f
	if c.dim > 0 {
		if c.vecs, err = openVecFile(filepath.Join(dir, "vectors"), c.dim); err != nil {
			f.Close()
			return nil, err
		}
		if err := c.vecs.ensure(len(c.ids)); err != nil {
			c.close()
			return nil, err
		}
	}
	if len(c.lists) == 0 {
		c.growLists(0)
	}
	for r, l := range c.listOf {
		c.listAdd(l, int32(r))
	}
	return c, nil
}

// replay applies one log entry to the state being loaded.
func (c *collection) replay(kind byte, p []byte) error {
	u := func(i int) uint32 { return binary.LittleEndian.Uint32(p[4*i:]) }
	switch kind {
	case entName:
		c.dim = int(u(0))
		c.planes = hyperplanes(c.dim)
	case entMeta:
		var m map[string]string
		if err := json.Unmarshal(p[4:], &m); err != nil {
			return fmt.Errorf("metadata entry: %w", err)
		}
		c.metaIdx[string(p[4:])] = int32(len(c.metas))
		c.metas = append(c.metas, m)
		c.metaN = append(c.metaN, 0)
	case entRow:
		row, list, meta := int32(u(0)), int32(u(1)), int32(u(2))
		if int(meta) >= len(c.metas) || row > int32(len(c.ids)) {
			return fmt.Errorf("row entry %d refers to what the log lacks", row)
		}
		c.growLists(list)
		var sg sig
		for w := range sg {
			sg[w] = binary.LittleEndian.Uint64(p[12+8*w:])
		}
		if row == int32(len(c.ids)) {
			id := c.arena.string(p[12+8*sigWords:])
			c.ids = append(c.ids, id)
			c.metaOf = append(c.metaOf, meta)
			c.listOf = append(c.listOf, list)
			c.sigOf = append(c.sigOf, sg)
		} else {
			c.metaN[c.metaOf[row]]--
			c.metaOf[row], c.listOf[row], c.sigOf[row] = meta, list, sg
		}
		c.metaN[meta]++
	case entMove:
		row, list := int32(u(0)), int32(u(1))
		if row >= int32(len(c.ids)) {
			return fmt.Errorf("move entry for row %d of %d", row, len(c.ids))
		}
		c.growLists(list)
		c.listOf[row] = list
	case entCentroid:
		list := int32(u(0))
		c.growLists(list)
		for i := range c.dim {
			c.cents[int(list)*c.dim+i] = math.Float32frombits(binary.LittleEndian.Uint32(p[4+4*i:]))
		}
	default:
		return fmt.Errorf("unknown log entry %q", kind)
	}
	return nil
}

// growLists makes list l exist (empty, with a zero centroid).
func (c *collection) growLists(l int32) {
	for int32(len(c.lists)) <= l {
		c.lists = append(c.lists, nil)
		c.lsigs = append(c.lsigs, nil)
		c.cents = append(c.cents, make([]float32, c.dim)...)
	}
}

func (c *collection) close() error {
	var errs []error
	if c.vecs != nil {
		errs = append(errs, c.vecs.close())
	}
	if c.log.f != nil {
		errs = append(errs, c.log.flush(), c.log.f.Close())
	}
	return errors.Join(errs...)
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
	for {
		e.mu.Lock()
		c, err := e.getLocked(collection, true)
		e.mu.Unlock()
		if err != nil {
			return err
		}
		done, err := c.add(ctx, items, dim)
		if err != nil {
			return fmt.Errorf("add %d items to %q: %w", len(items), collection, err)
		}
		if done {
			return nil
		}
		// dropped while we waited for the write lock: create it anew
	}
}

func (c *collection) add(ctx context.Context, items []Item, dim int) (bool, error) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dropped {
		return false, nil
	}
	if c.dim != 0 && c.dim != dim {
		return false, fmt.Errorf("collection holds %d-dimensional vectors, got %d: one collection holds one embedder's vectors", c.dim, dim)
	}
	if c.dim == 0 {
		c.dim = dim
		c.log.entry(entName, append(u32s(uint32(dim)), c.name...))
		var err error
		if c.vecs, err = openVecFile(filepath.Join(c.dir, "vectors"), dim); err != nil {
			return false, err
		}
		c.cents = make([]float32, dim*len(c.lists))
		c.planes = hyperplanes(dim)
	}
	if err := c.vecs.ensure(len(c.ids) + len(items)); err != nil {
		return false, err
	}
	// rows and metadata first (cheap), then what costs dot products, a signature and the nearest
	// centroid per vector, on every core, then the lists in order
	rows := make([]int32, len(items))
	metas := make([]int32, len(items))
	for i, it := range items {
		meta := c.metaIndex(it.Meta)
		row, ok := c.rowOf()[it.ID]
		if !ok {
			row = int32(len(c.ids))
			c.ids = append(c.ids, it.ID)
			c.pos[it.ID] = row
			c.metaOf = append(c.metaOf, meta)
			c.listOf = append(c.listOf, -1)
			c.sigOf = append(c.sigOf, sig{})
		} else {
			c.metaN[c.metaOf[row]]--
			c.metaOf[row] = meta
		}
		c.metaN[meta]++
		rows[i], metas[i] = row, meta
	}
	near := make([]int32, len(items))
	score := make([]float32, len(items))
	sigs := make([]sig, len(items))
	const chunk = 64
	parallel((len(items)+chunk-1)/chunk, func(ch int) {
		for i := ch * chunk; i < min((ch+1)*chunk, len(items)); i++ {
			v := c.vecs.row(rows[i])
			copy(v, items[i].Vector)
			normalize(v)
			sigs[i] = c.signature(v)
			near[i], score[i] = c.nearestList(v)
		}
	})
	if err := ctx.Err(); err != nil {
		return false, err
	}
	for i, it := range items {
		row, list := rows[i], near[i]
		if old := c.listOf[row]; old >= 0 {
			c.listRemove(old, row)
		}
		c.sigOf[row] = sigs[i]
		c.listAdd(list, row)
		p := u32s(uint32(row), uint32(list), uint32(metas[i]))
		for _, w := range sigs[i] {
			p = binary.LittleEndian.AppendUint64(p, w)
		}
		c.log.entry(entRow, append(p, it.ID...))
		if len(c.lists[list]) > c.listCap {
			nl := c.split(list)
			// only the split list's centroid moved and one was added: the vectors still to place
			// keep their nearest unless one of those two is nearer, except those that chose list,
			// which look again
			for j := i + 1; j < len(items); j++ {
				v := c.vecs.row(rows[j])
				if near[j] == list {
					near[j], score[j] = c.nearestList(v)
					continue
				}
				for _, l := range [2]int32{list, nl} {
					if sc := dot(v, c.cents[int(l)*c.dim:(int(l)+1)*c.dim]); sc > score[j] {
						near[j], score[j] = l, sc
					}
				}
			}
		}
	}
	return true, c.log.flush()
}

// metaIndex returns the index of metadata m, logging it when it is new.
func (c *collection) metaIndex(m map[string]string) int32 {
	if m == nil {
		m = map[string]string{}
	}
	b, _ := json.Marshal(m) // sorted keys: a canonical form
	if i, ok := c.metaIdx[string(b)]; ok {
		return i
	}
	i := int32(len(c.metas))
	c.metaIdx[string(b)] = i
	c.metas = append(c.metas, copyMeta(m))
	c.metaN = append(c.metaN, 0)
	c.log.entry(entMeta, append(u32s(uint32(i)), b...))
	return i
}

// nearestList is the list whose centroid is nearest to unit vector v, and v's dot product with it.
func (c *collection) nearestList(v []float32) (int32, float32) {
	if len(c.lists) == 1 {
		return 0, float32(math.Inf(-1))
	}
	best, bestS := int32(0), float32(math.Inf(-1))
	for l := range c.lists {
		if s := dot(v, c.cents[l*c.dim:(l+1)*c.dim]); s > bestS {
			best, bestS = int32(l), s
		}
	}
	return best, bestS
}

// split divides list l in two by spherical 2-means over its rows: l keeps one half, the new list
// it returns takes the other.
func (c *collection) split(l int32) int32 {
	rows := c.lists[l]
	dim := c.dim
	// seeds: the row farthest from the first one, then the row farthest from that
	far := func(from []float32) int32 {
		best, bestS := rows[0], float32(math.Inf(1))
		for _, r := range rows {
			if s := dot(from, c.vecs.row(r)); s < bestS {
				best, bestS = r, s
			}
		}
		return best
	}
	a := far(c.vecs.row(rows[0]))
	b := far(c.vecs.row(a))
	ca := append([]float32(nil), c.vecs.row(a)...)
	cb := append([]float32(nil), c.vecs.row(b)...)
	side := make([]bool, len(rows)) // true: the new list
	for range 6 {
		sa, sb := make([]float32, dim), make([]float32, dim)
		na, nb := 0, 0
		for i, r := range rows {
			v := c.vecs.row(r)
			side[i] = dot(v, cb) > dot(v, ca)
			acc := sa
			if side[i] {
				acc, nb = sb, nb+1
			} else {
				na++
			}
			for j, x := range v {
				acc[j] += x
			}
		}
		if na == 0 || nb == 0 { // identical vectors: halve by position
			for i := range side {
				side[i] = i%2 == 1
			}
			break
		}
		normalize(sa)
		normalize(sb)
		ca, cb = sa, sb
	}
	nl := int32(len(c.lists))
	c.growLists(nl)
	c.lists[l], c.lsigs[l] = nil, nil
	for i, r := range rows {
		if side[i] {
			c.listAdd(nl, r)
			c.log.entry(entMove, u32s(uint32(r), uint32(nl)))
		} else {
			c.listAdd(l, r)
		}
	}
	copy(c.cents[int(l)*dim:], ca)
	copy(c.cents[int(nl)*dim:], cb)
	c.log.entry(entCentroid, floatBytes(u32s(uint32(l)), ca))
	c.log.entry(entCentroid, floatBytes(u32s(uint32(nl)), cb))
	return nl
}

// Query implements Index.
func (e *Embedded) Query(ctx context.Context, collection string, vecs [][]float32, k int, where map[string]string) ([][]Hit, error) {
	if e.closed.Load() {
		return nil, ErrClosed
	}
	if err := checkQuery(vecs, k); err != nil {
		return nil, fmt.Errorf("query %q: %w", collection, err)
	}
	c, err := e.get(collection)
	if err != nil {
		return nil, err
	}
	if c == nil || len(vecs) == 0 {
		return emptyHits(len(vecs)), nil
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if len(c.ids) == 0 || c.dropped {
		return emptyHits(len(vecs)), nil
	}
	for i, v := range vecs {
		if len(v) != c.dim {
			return nil, fmt.Errorf("query %q: vector %d has %d dimensions, the collection holds %d-dimensional vectors", collection, i, len(v), c.dim)
		}
	}
	// rows matching where: by metadata index, so a filter costs the distinct metadata, not the rows
	var keep []bool
	matching := len(c.ids)
	if len(where) > 0 {
		keep = make([]bool, len(c.metas))
		matching = 0
		for i, m := range c.metas {
			ok := true
			for k, v := range where {
				if got, has := m[k]; !has || got != v {
					ok = false
					break
				}
			}
			keep[i] = ok
			if ok {
				matching += int(c.metaN[i])
			}
		}
		if matching == 0 {
			return emptyHits(len(vecs)), nil
		}
	}
	out := make([][]Hit, len(vecs))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(vecs)) {
		wg.Go(func() {
			q := make([]float32, c.dim)
			for {
				i := int(next.Add(1) - 1)
				if i >= len(vecs) || ctx.Err() != nil {
					return
				}
				copy(q, vecs[i])
				normalize(q)
				top := c.search(q, k, keep, matching)
				hits := make([]Hit, len(top))
				for j, cd := range top {
					hits[j] = Hit{ID: c.ids[cd.i], Distance: cd.d, Meta: copyMeta(c.metas[c.metaOf[cd.i]])}
				}
				out[i] = hits
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("query %q: %w", collection, err)
	}
	return out, nil
}

// search returns the k nearest rows to unit vector q among those whose metadata keep allows (all
// when keep is nil; matching of them), nearest first.
func (c *collection) search(q []float32, k int, keep []bool, matching int) []cand {
	t := topK{k: k, ids: c.ids}
	consider := func(r int32) {
		if keep != nil && !keep[c.metaOf[r]] {
			return
		}
		d := 1 - dot(q, c.vecs.row(r))
		if d < 0 {
			d = 0
		}
		t.push(cand{d: d, i: r})
	}
	if len(c.lists) <= nprobe || keep != nil && matching <= exactWhere {
		for r := range c.ids {
			consider(int32(r))
		}
		return t.sorted()
	}
	// the rerank candidates of the nearest lists with the smallest Hamming distance to q's
	// signature, then exactly; more lists while fewer than k rows are found
	qs := c.signature(q)
	ham := hamTop{k: rerank + 2*k}
	order := c.nearestLists(q, nprobe)
	probed := 0
	for n := nprobe; probed < len(c.lists); n *= 2 {
		if len(order) < min(n, len(c.lists)) { // rare: a filter that keeps few rows
			order = c.nearestLists(q, len(c.lists))
		}
		for ; probed < min(n, len(order)); probed++ {
			l := order[probed]
			sigs := c.lsigs[l]
			for j, r := range c.lists[l] {
				if keep != nil && !keep[c.metaOf[r]] {
					continue
				}
				ham.push(hamming(&qs, &sigs[j]), r)
			}
		}
		if len(ham.h) >= min(k, matching) {
			break
		}
	}
	for _, hc := range ham.h {
		consider(hc.r)
	}
	return t.sorted()
}

// rerank is how many candidates, besides 2k, a query compares exactly.
const rerank = 48

// hamTop keeps the k rows of smallest Hamming distance, in a max-heap.
type hamTop struct {
	k int
	h []hamCand
}

type hamCand struct {
	d int
	r int32
}

func (t *hamTop) push(d int, r int32) {
	if len(t.h) < t.k {
		t.h = append(t.h, hamCand{d, r})
		for j := len(t.h) - 1; j > 0; {
			p := (j - 1) / 2
			if t.h[j].d <= t.h[p].d {
				break
			}
			t.h[j], t.h[p] = t.h[p], t.h[j]
			j = p
		}
		return
	}
	if d >= t.h[0].d {
		return
	}
	t.h[0] = hamCand{d, r}
	n := len(t.h)
	for j := 0; ; {
		l, rr, m := 2*j+1, 2*j+2, j
		if l < n && t.h[l].d > t.h[m].d {
			m = l
		}
		if rr < n && t.h[rr].d > t.h[m].d {
			m = rr
		}
		if m == j {
			break
		}
		t.h[j], t.h[m] = t.h[m], t.h[j]
		j = m
	}
}

// nearestLists returns the n lists (all, when there are fewer) whose centroids are most similar
// to q, nearest first. It keeps the best n as it goes rather than sorting every list.
func (c *collection) nearestLists(q []float32, n int) []int32 {
	n = min(n, len(c.lists))
	best := make([]int32, 0, n)
	score := make([]float32, 0, n)
	for l := range c.lists {
		sc := dot(q, c.cents[l*c.dim:(l+1)*c.dim])
		if len(best) == n && sc <= score[n-1] {
			continue
		}
		if len(best) < n {
			best, score = append(best, 0), append(score, 0)
		}
		i := len(best) - 1
		for ; i > 0 && score[i-1] < sc; i-- {
			best[i], score[i] = best[i-1], score[i-1]
		}
		best[i], score[i] = int32(l), sc
	}
	return best
}

// Has implements Index.
func (e *Embedded) Has(_ context.Context, collection string, ids []string) ([]bool, error) {
	if e.closed.Load() {
		return nil, ErrClosed
	}
	out := make([]bool, len(ids))
	c, err := e.get(collection)
	if err != nil || c == nil {
		return out, err
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	for i, id := range ids {
		_, out[i] = c.rowOf()[id]
	}
	return out, nil
}

// Count implements Index.
func (e *Embedded) Count(_ context.Context, collection string) (int, error) {
	if e.closed.Load() {
		return 0, ErrClosed
	}
	c, err := e.get(collection)
	if err != nil || c == nil {
		return 0, err
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
	if c := e.cols[collection]; c != nil {
		c.writeMu.Lock()
		c.mu.Lock()
		c.dropped = true
		err := c.close()
		c.mu.Unlock()
		c.writeMu.Unlock()
		delete(e.cols, collection)
		if err != nil {
			return fmt.Errorf("drop collection %q in %s: %w", collection, e.dir, err)
		}
	}
	if err := os.RemoveAll(filepath.Join(e.dir, collDir(collection))); err != nil {
		return fmt.Errorf("drop collection %q in %s: %w", collection, e.dir, err)
	}
	return nil
}

// Close implements Index: it writes out what is pending and marks the index unusable.
func (e *Embedded) Close() error {
	if e.closed.Swap(true) {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var errs []error
	for _, c := range e.cols {
		c.writeMu.Lock()
		c.mu.Lock()
		c.dropped = true
		errs = append(errs, c.close())
		c.mu.Unlock()
		c.writeMu.Unlock()
	}
	e.cols = map[string]*collection{}
	if e.unlock != nil {
		e.unlock()
	}
	return errors.Join(errs...)
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

// sorted returns the kept candidates nearest first.
func (t *topK) sorted() []cand {
	out := append([]cand(nil), t.h...)
	sort.Slice(out, func(a, b int) bool { return t.worse(out[b], out[a]) })
	return out
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
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
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
