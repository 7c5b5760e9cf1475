// Package report compares prompt versions on what their records show: outcomes and reject reasons,
// cost, tokens and latency, the diversity of the texts, how well the dimension values follow the
// schema's weights, and which edits the corrections make. It renders the comparison as text, JSON
// or one self-contained HTML page of charts.
package report

import (
	"bytes"
	"compress/gzip"
	"math"
	"sort"
	"strings"
	"unicode"

	"github.com/correctly/correctly/corpus"
	"github.com/correctly/correctly/prompts"
)

// DefaultBatchSize is how many accepted records one diversity batch holds.
const DefaultBatchSize = 100

// HistMax is the last bucket of the edits-per-record histogram: records with HistMax or more edits.
const HistMax = 10

// Options say how diversity is measured.
type Options struct {
	BatchSize int    // accepted records per diversity batch; 0 means DefaultBatchSize
	Field     string // the text field measured; "" means before
}

// Report is one column per prompt version.
type Report struct {
	BatchSize int      `json:"batch_size"`
	Field     string   `json:"field"`
	Columns   []Column `json:"columns"`
	// Models are the evaluated models (AddModels), best first on each test set.
	Models []Model `json:"models"`
}

// Count is a label and how often it occurs; Rate is Count over the column's denominator for it
// (attempts for reasons, edits for edit types).
type Count struct {
	Label string  `json:"label"`
	Count int     `json:"count"`
	Rate  float64 `json:"rate"`
}

// Column is the report on one prompt version.
type Column struct {
	Prompt  string   `json:"prompt"`
	Version string   `json:"version"`
	Runs    []string `json:"runs"`

	Attempts      int     `json:"attempts"` // records of every status
	Accepted      int     `json:"accepted"`
	Rejected      int     `json:"rejected"`
	Failed        int     `json:"failed"`
	Duplicates    int     `json:"duplicates"`
	AcceptRate    float64 `json:"accept_rate"`
	RejectRate    float64 `json:"reject_rate"`
	DuplicateRate float64 `json:"duplicate_rate"`
	// RejectReasons counts the reason codes of rejected and failed records (once per record), as a
	// share of attempts; Flags counts the flags of accepted records, as a share of accepted.
	RejectReasons []Count `json:"reject_reasons"`
	Flags         []Count `json:"flags"`

	Cost            float64      `json:"cost_usd"`
	CostPerAccepted float64      `json:"cost_per_accepted_usd"` // 0 when nothing was accepted
	Tokens          corpus.Usage `json:"tokens"`
	TokensPerAccept float64      `json:"tokens_per_accepted"`
	LatencyP50MS    int64        `json:"latency_p50_ms"` // nearest rank, over every attempt
	LatencyP95MS    int64        `json:"latency_p95_ms"`

	Diversity Diversity  `json:"diversity"`
	Coverage  []Coverage `json:"coverage"`

	Edits          int     `json:"edits"` // edits of accepted records
	EditTypes      []Count `json:"edit_types"`
	EditCategories []Count `json:"edit_categories"` // edit types without their M:/R:/U: operation
	EditsPerRecord float64 `json:"edits_per_record"`
	// EditHistogram[i] counts accepted records with i edits; the last bucket, HistMax or more.
	EditHistogram []int `json:"edit_histogram"`

	// Negatives counts accepted records of negative slots (a text that needs no correction);
	// NegativeRate is their share of accepted.
	Negatives    int     `json:"negatives"`
	NegativeRate float64 `json:"negative_rate"`

	firstSeen int
}

// Diversity is measured per batch of accepted records and averaged over the batches.
type Diversity struct {
	Batches   int  `json:"batches"`
	BatchSize int  `json:"batch_size"`
	Partial   bool `json:"partial"` // fewer accepted records than one batch: the one batch is smaller
	// Distinct-n: distinct word n-grams over all word n-grams of a batch (n-grams within one text).
	Distinct1 float64 `json:"distinct_1"`
	Distinct2 float64 `json:"distinct_2"`
	Distinct3 float64 `json:"distinct_3"`
	// CompressionRatio is the batch's texts (joined by newlines) in bytes over their gzip size:
	// higher means more repetitive.
	CompressionRatio float64 `json:"compression_ratio"`
	// TopOpening is the share of texts that begin with the batch's most common first three words.
	TopOpening float64         `json:"top_opening"`
	PerBatch   []BatchMeasures `json:"per_batch"`
}

// BatchMeasures are the diversity figures of one batch.
type BatchMeasures struct {
	Distinct1        float64 `json:"distinct_1"`
	Distinct2        float64 `json:"distinct_2"`
	Distinct3        float64 `json:"distinct_3"`
	CompressionRatio float64 `json:"compression_ratio"`
	TopOpening       float64 `json:"top_opening"`
	TopOpeningWords  string  `json:"top_opening_words"`
}

// Coverage compares the values of one dimension among accepted records with the schema's weights.
type Coverage struct {
	Dim    string          `json:"dim"`
	Values []ValueCoverage `json:"values"`
	// Other counts accepted records whose value is not one of the schema's (or that have none).
	Other     int     `json:"other"`
	ChiSquare float64 `json:"chi_square"`
	DF        int     `json:"df"`
	// P is the chi-square goodness-of-fit p-value of the counts against the weights; nil when it is
	// undefined (fewer than two weighted values, or no record).
	P *float64 `json:"p"`
}

// ValueCoverage is one value's observed count and the count its weight leads to expect.
type ValueCoverage struct {
	Value    string  `json:"value"`
	Weight   float64 `json:"weight"`
	Count    int     `json:"count"`
	Expected float64 `json:"expected"`
}

// Builder accumulates records one at a time, so that a report over many records does not hold them.
type Builder struct {
	opts   Options
	cols   map[string]*acc
	nAdded int
	z      compressor
}

type acc struct {
	col       Column
	runs      map[string]bool
	reasons   map[string]int
	flags     map[string]int
	latencies []int64
	dims      map[string]map[string]int
	edits     map[string]int
	editCats  map[string]int
	hist      []int
	batch     []string
	batches   []BatchMeasures
}

// NewBuilder starts an empty report.
func NewBuilder(o Options) *Builder {
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.Field == "" {
		o.Field = "before"
	}
	return &Builder{opts: o, cols: map[string]*acc{}}
}

// Add counts one record in its prompt version's column. Records should come in generation order
// (run, slot): diversity batches are cut in the order records arrive.
func (b *Builder) Add(r *corpus.Record) {
	key := r.Prompt + "@" + r.PromptVersion
	a := b.cols[key]
	if a == nil {
		a = &acc{
			col:  Column{Prompt: r.Prompt, Version: r.PromptVersion, firstSeen: b.nAdded},
			runs: map[string]bool{}, reasons: map[string]int{}, flags: map[string]int{},
			dims: map[string]map[string]int{}, edits: map[string]int{}, editCats: map[string]int{},
			hist: make([]int, HistMax+1),
		}
		b.cols[key] = a
	}
	b.nAdded++
	c := &a.col
	a.runs[r.RunID] = true
	c.Attempts++
	c.Cost += r.Cost
	c.Tokens = c.Tokens.Add(r.Usage)
	a.latencies = append(a.latencies, r.LatencyMS)
	switch r.Status {
	case corpus.StatusAccepted:
		c.Accepted++
		if r.Negative {
			c.Negatives++
		}
		countCodes(a.flags, r.Flags)
		for d, v := range r.Dims {
			m := a.dims[d]
			if m == nil {
				m = map[string]int{}
				a.dims[d] = m
			}
			m[v]++
		}
		for _, e := range r.Edits {
			a.edits[e.Type]++
			a.editCats[category(e.Type)]++
		}
		c.Edits += len(r.Edits)
		a.hist[min(len(r.Edits), HistMax)]++
		a.batch = append(a.batch, fieldText(r.Fields[b.opts.Field]))
		if len(a.batch) == b.opts.BatchSize {
			a.batches = append(a.batches, measureBatch(a.batch, &b.z))
			a.batch = a.batch[:0]
		}
	case corpus.StatusRejected:
		c.Rejected++
		countCodes(a.reasons, r.Reasons)
	case corpus.StatusFailed:
		c.Failed++
		countCodes(a.reasons, r.Reasons)
	case corpus.StatusDuplicate:
		c.Duplicates++
	}
}

// countCodes counts each reason code once per record.
func countCodes(m map[string]int, rs []corpus.Reason) {
	seen := map[string]bool{}
	for _, x := range rs {
		if !seen[x.Code] {
			seen[x.Code] = true
			m[x.Code]++
		}
	}
}

// category drops the operation from an ERRANT-style type: "R:VERB:SVA" → "VERB:SVA".
func category(t string) string {
	for _, op := range []string{"M:", "R:", "U:"} {
		if strings.HasPrefix(t, op) {
			return t[len(op):]
		}
	}
	return t
}

// Report finishes the columns. schemas maps a prompt version to its schema, for the weights of the
// dimension coverage; a version without one gets no coverage. Columns are ordered by prompt name,
// then by when their first record was added.
func (b *Builder) Report(schemas map[string]*prompts.Schema) *Report {
	rep := &Report{BatchSize: b.opts.BatchSize, Field: b.opts.Field, Columns: []Column{}, Models: []Model{}}
	for _, a := range b.cols {
		c := a.col
		c.Runs = sortedKeys(a.runs)
		if c.Attempts > 0 {
			c.AcceptRate = float64(c.Accepted) / float64(c.Attempts)
			c.RejectRate = float64(c.Rejected) / float64(c.Attempts)
			c.DuplicateRate = float64(c.Duplicates) / float64(c.Attempts)
		}
		c.RejectReasons = counts(a.reasons, c.Attempts)
		c.Flags = counts(a.flags, c.Accepted)
		if c.Accepted > 0 {
			c.CostPerAccepted = c.Cost / float64(c.Accepted)
			c.TokensPerAccept = float64(c.Tokens.PromptTokens+c.Tokens.CompletionTokens) / float64(c.Accepted)
			c.EditsPerRecord = float64(c.Edits) / float64(c.Accepted)
			c.NegativeRate = float64(c.Negatives) / float64(c.Accepted)
		}
		c.LatencyP50MS = percentile(a.latencies, 50)
		c.LatencyP95MS = percentile(a.latencies, 95)
		c.EditTypes = counts(a.edits, c.Edits)
		c.EditCategories = counts(a.editCats, c.Edits)
		c.EditHistogram = a.hist
		c.Diversity = a.diversity(b.opts.BatchSize, &b.z)
		c.Coverage = []Coverage{}
		if s := schemas[c.Version]; s != nil {
			for _, d := range s.Dimensions {
				c.Coverage = append(c.Coverage, coverage(d, a.dims[d.Name], c.Accepted))
			}
		}
		rep.Columns = append(rep.Columns, c)
	}
	sort.Slice(rep.Columns, func(i, j int) bool {
		ci, cj := rep.Columns[i], rep.Columns[j]
		if ci.Prompt != cj.Prompt {
			return ci.Prompt < cj.Prompt
		}
		return ci.firstSeen < cj.firstSeen
	})
	return rep
}

func (a *acc) diversity(size int, z *compressor) Diversity {
	bs := a.batches
	d := Diversity{BatchSize: size, PerBatch: []BatchMeasures{}}
	if len(bs) == 0 && len(a.batch) > 0 {
		bs = []BatchMeasures{measureBatch(a.batch, z)}
		d.Partial, d.BatchSize = true, len(a.batch)
	}
	d.Batches = len(bs)
	if len(bs) == 0 {
		return d
	}
	for _, m := range bs {
		d.Distinct1 += m.Distinct1
		d.Distinct2 += m.Distinct2
		d.Distinct3 += m.Distinct3
		d.CompressionRatio += m.CompressionRatio
		d.TopOpening += m.TopOpening
	}
	n := float64(len(bs))
	d.Distinct1 /= n
	d.Distinct2 /= n
	d.Distinct3 /= n
	d.CompressionRatio /= n
	d.TopOpening /= n
	d.PerBatch = append(d.PerBatch, bs...)
	return d
}

// counts turns a map of counts into a list, most frequent first (ties by label), with rates over of.
func counts(m map[string]int, of int) []Count {
	out := make([]Count, 0, len(m))
	for k, n := range m {
		c := Count{Label: k, Count: n}
		if of > 0 {
			c.Rate = float64(n) / float64(of)
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Label < out[j].Label
	})
	return out
}

// percentile is the nearest-rank percentile: the smallest value with at least p% of values at or
// below it; 0 for no values.
func percentile(vs []int64, p float64) int64 {
	if len(vs) == 0 {
		return 0
	}
	s := append([]int64(nil), vs...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[max(rank, 1)-1]
}

func coverage(d prompts.Dimension, observed map[string]int, accepted int) Coverage {
	cv := Coverage{Dim: d.Name, Values: []ValueCoverage{}}
	sumW := 0.0
	inSchema := 0
	for i, v := range d.Values {
		w := 1.0
		if i < len(d.Weights) {
			w = d.Weights[i]
		}
		if w > 0 {
			sumW += w
		}
		cv.Values = append(cv.Values, ValueCoverage{Value: v, Weight: w, Count: observed[v]})
		inSchema += observed[v]
	}
	cv.Other = accepted - inSchema
	k := 0
	for i := range cv.Values {
		vc := &cv.Values[i]
		if vc.Weight <= 0 || sumW == 0 {
			continue
		}
		k++
		vc.Expected = vc.Weight / sumW * float64(inSchema)
		if vc.Expected > 0 {
			diff := float64(vc.Count) - vc.Expected
			cv.ChiSquare += diff * diff / vc.Expected
		}
	}
	if k >= 2 && inSchema > 0 {
		cv.DF = k - 1
		p := ChiSquareP(cv.ChiSquare, cv.DF)
		cv.P = &p
	}
	return cv
}

// measureBatch computes the diversity figures of one batch of texts.
func measureBatch(texts []string, z *compressor) BatchMeasures {
	var m BatchMeasures
	// n-grams are keyed by the batch's word numbers, 21 bits each: exact while a batch has fewer
	// than two million distinct words, and cheaper than joined strings
	ids := map[string]uint64{}
	var grams [3]map[uint64]struct{}
	var totals [3]int
	for n := range grams {
		grams[n] = map[uint64]struct{}{}
	}
	openings := map[string]int{}
	var seq []uint64
	for _, t := range texts {
		ws := Words(t)
		seq = seq[:0]
		for _, w := range ws {
			id, ok := ids[w]
			if !ok {
				id = uint64(len(ids)) + 1
				ids[w] = id
			}
			seq = append(seq, id)
		}
		for i := range seq {
			grams[0][seq[i]] = struct{}{}
			if i+1 < len(seq) {
				grams[1][seq[i]<<21|seq[i+1]] = struct{}{}
			}
			if i+2 < len(seq) {
				grams[2][seq[i]<<42|seq[i+1]<<21|seq[i+2]] = struct{}{}
			}
		}
		for n := range totals {
			totals[n] += max(0, len(seq)-n)
		}
		openings[strings.Join(ws[:min(3, len(ws))], " ")]++
	}
	ratio := func(n int) float64 {
		if totals[n] == 0 {
			return 0
		}
		return float64(len(grams[n])) / float64(totals[n])
	}
	m.Distinct1, m.Distinct2, m.Distinct3 = ratio(0), ratio(1), ratio(2)
	m.CompressionRatio = z.ratio(strings.Join(texts, "\n"))
	best := -1
	for o, n := range openings {
		if n > best || n == best && o < m.TopOpeningWords {
			best, m.TopOpeningWords = n, o
		}
	}
	if len(texts) > 0 {
		m.TopOpening = float64(best) / float64(len(texts))
	}
	return m
}

// compressor measures gzip sizes with one reused writer (a new one allocates about a megabyte).
type compressor struct {
	buf bytes.Buffer
	zw  *gzip.Writer
}

func (z *compressor) ratio(text string) float64 {
	if text == "" {
		return 0
	}
	z.buf.Reset()
	if z.zw == nil {
		z.zw = gzip.NewWriter(&z.buf)
	} else {
		z.zw.Reset(&z.buf)
	}
	_, _ = z.zw.Write([]byte(text)) // a bytes.Buffer does not fail
	_ = z.zw.Close()
	return float64(len(text)) / float64(z.buf.Len())
}

// Words splits text into lower-case words: runs of letters, digits and apostrophes.
func Words(text string) []string {
	return strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '\'' || r == '’')
	})
}

// CompressionRatio is len(text) over its gzip size (default level, header included); 0 for "".
func CompressionRatio(text string) float64 {
	var z compressor
	return z.ratio(text)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func fieldText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	}
	return ""
}
