package vectors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	v2 "github.com/amikos-tech/chroma-go/pkg/api/v2"
	chhttp "github.com/amikos-tech/chroma-go/pkg/commons/http"
	"github.com/amikos-tech/chroma-go/pkg/embeddings"
)

// Chroma is an Index on a Chroma 1.x server, through chroma-go's v2 API.
// Collections use the cosine space; records are stored without documents,
// with our own vectors and string metadata.
type Chroma struct {
	url      string
	client   v2.Client
	maxBatch int
	mu       sync.Mutex // guards cols
	cols     map[string]v2.Collection
	closed   atomic.Bool
}

// defaultMaxBatch is used when the server does not report max_batch_size.
const defaultMaxBatch = 1000

// OpenChroma connects to the Chroma server at rawURL (e.g.
// http://127.0.0.1:8000), checks that it answers, and reads its batch limit.
func OpenChroma(ctx context.Context, rawURL string) (*Chroma, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("open Chroma index: CHROMA_URL %q is not an http(s) URL like http://127.0.0.1:8000", rawURL)
	}
	base := strings.TrimSuffix(strings.TrimSuffix(rawURL, "/"), "/api/v2")
	hc := &http.Client{
		Timeout: 5 * time.Minute,
		Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			MaxIdleConns:        64,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     90 * time.Second,
		},
	}
	// chroma-go v0.3.5 replaces http.DefaultClient's transport while it builds
	// a client; put it back so that we don't change the rest of the process.
	prev := http.DefaultClient.Transport
	client, err := v2.NewHTTPClient(v2.WithBaseURL(base), v2.WithHTTPClient(hc))
	http.DefaultClient.Transport = prev
	if err != nil {
		return nil, fmt.Errorf("open Chroma index at %s: %w", base, err)
	}
	unreachable := func(err error) error {
		_ = client.Close()
		return fmt.Errorf("connect to Chroma at %s: %w: start it with `scripts/chroma.sh start`, or unset CHROMA_URL to use the embedded index", base, err)
	}
	if err := client.Heartbeat(ctx); err != nil {
		return nil, unreachable(err)
	}
	maxBatch, err := preflightMaxBatch(ctx, hc, base)
	if err != nil {
		return nil, unreachable(err)
	}
	return &Chroma{url: base, client: client, maxBatch: maxBatch, cols: map[string]v2.Collection{}}, nil
}

func preflightMaxBatch(ctx context.Context, hc *http.Client, base string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v2/pre-flight-checks", nil)
	if err != nil {
		return 0, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET /api/v2/pre-flight-checks: %s", resp.Status)
	}
	var body struct {
		MaxBatchSize int `json:"max_batch_size"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return 0, fmt.Errorf("decode /api/v2/pre-flight-checks: %w", err)
	}
	if body.MaxBatchSize <= 0 {
		return defaultMaxBatch, nil
	}
	return body.MaxBatchSize, nil
}

// MaxBatch is the most records one request may carry, from the server's
// pre-flight checks; Add splits larger batches.
func (c *Chroma) MaxBatch() int { return c.maxBatch }

// collection returns the named collection, creating it when create is set;
// nil without error when it doesn't exist and create is not set.
func (c *Chroma) collection(ctx context.Context, name string, create bool) (v2.Collection, error) {
	c.mu.Lock()
	col := c.cols[name]
	c.mu.Unlock()
	if col != nil {
		return col, nil
	}
	var err error
	if create {
		col, err = c.client.GetOrCreateCollection(ctx, name,
			v2.WithHNSWSpaceCreate(embeddings.COSINE),
			// An explicit function keeps chroma-go from fetching its default ONNX model.
			v2.WithEmbeddingFunctionCreate(externalVectors{}),
		)
	} else {
		col, err = c.client.GetCollection(ctx, name, v2.WithEmbeddingFunctionGet(externalVectors{}))
		if isNotFound(err) {
			return nil, nil
		}
	}
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if have := c.cols[name]; have != nil {
		return have, nil
	}
	c.cols[name] = col
	return col, nil
}

// forget drops a cached collection handle, e.g. after another client dropped
// and recreated the collection under a new ID.
func (c *Chroma) forget(name string) {
	c.mu.Lock()
	delete(c.cols, name)
	c.mu.Unlock()
}

func isNotFound(err error) bool {
	if err == nil {
		return false
	}
	var ce *chhttp.ChromaError
	if errors.As(err, &ce) && ce.ErrorCode == http.StatusNotFound {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "does not exist") || strings.Contains(msg, "NotFound")
}

// retryStale runs op on the collection handle, and once more with a fresh
// handle when the cached one points at a collection that no longer exists.
func (c *Chroma) retryStale(ctx context.Context, name string, create bool, op func(v2.Collection) error) error {
	for attempt := 0; ; attempt++ {
		col, err := c.collection(ctx, name, create)
		if err != nil {
			return err
		}
		if col == nil {
			return errMissing
		}
		err = op(col)
		if err != nil && isNotFound(err) && attempt == 0 {
			c.forget(name)
			continue
		}
		return err
	}
}

var errMissing = errors.New("collection does not exist")

// Add implements Index. Items are upserted in chunks of MaxBatch.
func (c *Chroma) Add(ctx context.Context, collection string, items []Item) error {
	if c.closed.Load() {
		return ErrClosed
	}
	items, _, err := prepareItems(items)
	if err != nil {
		return fmt.Errorf("add to %q: %w", collection, err)
	}
	for start := 0; start < len(items); start += c.maxBatch {
		chunk := items[start:min(start+c.maxBatch, len(items))]
		ids := make([]v2.DocumentID, len(chunk))
		embs := make([]embeddings.Embedding, len(chunk))
		metas := make([]v2.DocumentMetadata, len(chunk))
		for i, it := range chunk {
			ids[i] = v2.DocumentID(it.ID)
			embs[i] = embeddings.NewEmbeddingFromFloat32(it.Vector)
			metas[i] = chromaMeta(it.Meta)
		}
		err := c.retryStale(ctx, collection, true, func(col v2.Collection) error {
			return col.Upsert(ctx, v2.WithIDs(ids...), v2.WithEmbeddings(embs...), v2.WithMetadatas(metas...))
		})
		if err != nil {
			return fmt.Errorf("add items %d-%d of %d to Chroma collection %q at %s: %w", start, start+len(chunk)-1, len(items), collection, c.url, err)
		}
	}
	return nil
}

func chromaMeta(m map[string]string) v2.DocumentMetadata {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	attrs := make([]*v2.MetaAttribute, len(keys))
	for i, k := range keys {
		attrs[i] = v2.NewStringAttribute(k, m[k])
	}
	return v2.NewDocumentMetadata(attrs...)
}

func chromaWhere(where map[string]string) v2.WhereFilter {
	keys := make([]string, 0, len(where))
	for k := range where {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	clauses := make([]v2.WhereClause, len(keys))
	for i, k := range keys {
		clauses[i] = v2.EqString(v2.K(k), where[k])
	}
	if len(clauses) == 1 {
		return clauses[0]
	}
	return v2.And(clauses...)
}

// Query implements Index. Vectors are sent in chunks of MaxBatch.
func (c *Chroma) Query(ctx context.Context, collection string, vecs [][]float32, k int, where map[string]string) ([][]Hit, error) {
	if c.closed.Load() {
		return nil, ErrClosed
	}
	if err := checkQuery(vecs, k); err != nil {
		return nil, fmt.Errorf("query %q: %w", collection, err)
	}
	if len(vecs) == 0 {
		return [][]Hit{}, nil
	}
	out := make([][]Hit, 0, len(vecs))
	for start := 0; start < len(vecs); start += c.maxBatch {
		chunk := vecs[start:min(start+c.maxBatch, len(vecs))]
		embs := make([]embeddings.Embedding, len(chunk))
		for i, v := range chunk {
			embs[i] = embeddings.NewEmbeddingFromFloat32(v)
		}
		opts := []v2.QueryOption{
			v2.WithQueryEmbeddings(embs...),
			v2.WithNResults(k),
			// Records carry no documents; asking for them breaks decoding on v0.3.5.
			v2.WithInclude(v2.IncludeDistances, v2.IncludeMetadatas),
		}
		if len(where) > 0 {
			opts = append(opts, v2.WithWhere(chromaWhere(where)))
		}
		var res v2.QueryResult
		err := c.retryStale(ctx, collection, false, func(col v2.Collection) error {
			var err error
			res, err = col.Query(ctx, opts...)
			return err
		})
		if errors.Is(err, errMissing) {
			return emptyHits(len(vecs)), nil
		}
		if err != nil {
			return nil, fmt.Errorf("query Chroma collection %q at %s: %w", collection, c.url, err)
		}
		hits, err := chromaHits(res, len(chunk))
		if err != nil {
			return nil, fmt.Errorf("query Chroma collection %q at %s: %w", collection, c.url, err)
		}
		out = append(out, hits...)
	}
	return out, nil
}

func chromaHits(res v2.QueryResult, n int) ([][]Hit, error) {
	idGroups := res.GetIDGroups()
	distGroups := res.GetDistancesGroups()
	metaGroups := res.GetMetadatasGroups()
	if len(idGroups) == 0 {
		return emptyHits(n), nil
	}
	if len(idGroups) != n || len(distGroups) != n {
		return nil, fmt.Errorf("server answered %d result lists for %d query vectors", len(idGroups), n)
	}
	out := make([][]Hit, n)
	for q, ids := range idGroups {
		hits := make([]Hit, len(ids))
		for i, id := range ids {
			h := Hit{ID: string(id), Meta: map[string]string{}}
			if i < len(distGroups[q]) {
				h.Distance = float32(distGroups[q][i])
			}
			if q < len(metaGroups) && i < len(metaGroups[q]) && metaGroups[q][i] != nil {
				h.Meta = metaStrings(metaGroups[q][i])
			}
			hits[i] = h
		}
		// The server's order is by distance; make ties deterministic.
		sort.SliceStable(hits, func(a, b int) bool {
			if hits[a].Distance != hits[b].Distance {
				return hits[a].Distance < hits[b].Distance
			}
			return hits[a].ID < hits[b].ID
		})
		out[q] = hits
	}
	return out, nil
}

func metaStrings(m v2.DocumentMetadata) map[string]string {
	out := map[string]string{}
	impl, ok := m.(*v2.DocumentMetadataImpl)
	if !ok {
		return out
	}
	for _, k := range impl.Keys() {
		if s, ok := m.GetString(k); ok {
			out[k] = s
			continue
		}
		if raw, ok := m.GetRaw(k); ok {
			out[k] = fmt.Sprint(raw)
		}
	}
	return out
}

// Has implements Index, asking for the IDs in chunks of MaxBatch.
func (c *Chroma) Has(ctx context.Context, collection string, ids []string) ([]bool, error) {
	if c.closed.Load() {
		return nil, ErrClosed
	}
	out := make([]bool, len(ids))
	pos := make(map[string][]int, len(ids))
	var uniq []v2.DocumentID // Chroma refuses a repeated ID
	for i, id := range ids {
		if pos[id] == nil {
			uniq = append(uniq, v2.DocumentID(id))
		}
		pos[id] = append(pos[id], i)
	}
	for start := 0; start < len(uniq); start += c.maxBatch {
		chunk := uniq[start:min(start+c.maxBatch, len(uniq))]
		var found v2.DocumentIDs
		err := c.retryStale(ctx, collection, false, func(col v2.Collection) error {
			res, err := col.Get(ctx, v2.WithIDs(chunk...), v2.WithInclude(v2.IncludeMetadatas))
			if err != nil {
				return err
			}
			found = res.GetIDs()
			return nil
		})
		if errors.Is(err, errMissing) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("look up %d IDs in Chroma collection %q at %s: %w", len(chunk), collection, c.url, err)
		}
		for _, id := range found {
			for _, i := range pos[string(id)] {
				out[i] = true
			}
		}
	}
	return out, nil
}

// Count implements Index.
func (c *Chroma) Count(ctx context.Context, collection string) (int, error) {
	if c.closed.Load() {
		return 0, ErrClosed
	}
	var n int
	err := c.retryStale(ctx, collection, false, func(col v2.Collection) error {
		var err error
		n, err = col.Count(ctx)
		return err
	})
	if errors.Is(err, errMissing) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("count Chroma collection %q at %s: %w", collection, c.url, err)
	}
	return n, nil
}

// Drop implements Index.
func (c *Chroma) Drop(ctx context.Context, collection string) error {
	if c.closed.Load() {
		return ErrClosed
	}
	c.forget(collection)
	err := c.client.DeleteCollection(ctx, collection)
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("drop Chroma collection %q at %s: %w", collection, c.url, err)
	}
	return nil
}

// Close implements Index.
func (c *Chroma) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	if err := c.client.Close(); err != nil {
		return fmt.Errorf("close Chroma client for %s: %w", c.url, err)
	}
	return nil
}

// externalVectors is the embedding function we hand chroma-go: correctly
// always passes its own vectors, so embedding through it is an error.
type externalVectors struct{}

var errExternal = errors.New("correctly passes precomputed vectors; Chroma must not embed texts")

func (externalVectors) EmbedDocuments(context.Context, []string) ([]embeddings.Embedding, error) {
	return nil, errExternal
}

func (externalVectors) EmbedQuery(context.Context, string) (embeddings.Embedding, error) {
	return nil, errExternal
}

func (externalVectors) Name() string { return "correctly_external" }

func (externalVectors) GetConfig() embeddings.EmbeddingFunctionConfig {
	return embeddings.EmbeddingFunctionConfig{}
}

func (externalVectors) DefaultSpace() embeddings.DistanceMetric { return embeddings.COSINE }

func (externalVectors) SupportedSpaces() []embeddings.DistanceMetric {
	return []embeddings.DistanceMetric{embeddings.COSINE, embeddings.L2, embeddings.IP}
}
