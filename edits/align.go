package edits

import (
	"slices"
	"strings"
	"sync"
)

// Edit is one change between an original token list and its correction.
type Edit struct {
	OStart, OEnd int    // token span in the original tokens, end exclusive (M2 convention)
	CStart, CEnd int    // token span in the corrected tokens, end exclusive
	O, C         string // original and corrected text of the spans, tokens joined by " "
	Type         string // ERRANT-style label: "R:VERB:SVA", "M:DET", "U:PUNCT", "R:ORTH", "R:WO", ...
}

// Extract tokenises before and after with Tokenize and returns the edits between them.
func Extract(before, after string) []Edit {
	return ExtractTokens(Tokenize(before), Tokenize(after))
}

// ExtractTokens aligns orig with cor and returns the typed edits, in order, that turn orig into cor.
// The alignment is ERRANT's linguistic Damerau-Levenshtein alignment (a substitution is cheaper when
// the tokens share a lemma, a word class or characters), and adjacent changes are merged or split by
// ERRANT's merging rules, with word classes guessed from word lists instead of a tagger. It returns
// nil when the token lists are equal. It is safe for concurrent use.
func ExtractTokens(orig, cor []string) []Edit {
	a := alignerPool.Get().(*aligner)
	defer alignerPool.Put(a)
	a.reset(orig, cor)
	return a.extract()
}

// tok is one token with its features, computed on first use.
type tok struct {
	text, low string
	h         uint64 // hash of low, for transposition checks
	w         word
	ready     bool
}

type step struct {
	op             byte // 'M', 'S', 'D', 'I', 'T', or 'X' for a merged span
	o0, o1, c0, c1 int
}

type aligner struct {
	o, c   []tok
	cost   []float64
	ops    []byte
	trk    []int32 // transposition size per cell
	seq    []step
	out    []step
	lowBuf []byte
	edits  []Edit
	inC    []bool // per original token in the aligned region: occurs among the corrected tokens
	inO    []bool
	sortA  []string
	sortB  []string
}

var alignerPool = sync.Pool{New: func() any { return new(aligner) }}

func (a *aligner) reset(orig, cor []string) {
	a.o = a.fillToks(a.o[:0], orig)
	a.c = a.fillToks(a.c[:0], cor)
	a.seq = a.seq[:0]
	a.out = a.out[:0]
}

// fillToks makes the tokens of src, with their lowercase forms cut from one string per side so
// that capitalised words cost no allocation each.
func (a *aligner) fillToks(dst []tok, src []string) []tok {
	buf := a.lowBuf[:0]
	for _, s := range src {
		buf = appendLower(buf, s)
	}
	a.lowBuf = buf
	all := string(buf)
	off := 0
	for _, s := range src {
		n := lowerLen(s)
		low := all[off : off+n]
		off += n
		if low == s {
			low = s
		}
		dst = append(dst, tok{text: s, low: low, h: hashString(low)})
	}
	return dst
}

func appendLower(buf []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return append(buf, strings.ToLower(s)...)
		}
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b >= 'A' && b <= 'Z' {
			b += 'a' - 'A'
		}
		buf = append(buf, b)
	}
	return buf
}

// lowerLen is the byte length of s lowercased, as appendLower writes it.
func lowerLen(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return len(strings.ToLower(s))
		}
	}
	return len(s)
}

func hashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	// Spread the bits so sums of hashes make a good multiset fingerprint.
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	return h
}

func (t *tok) feat() *word {
	if !t.ready {
		t.w = lookup(t.low)
		t.ready = true
	}
	return &t.w
}

func (a *aligner) extract() []Edit {
	n, m := len(a.o), len(a.c)
	p := 0
	for p < n && p < m && a.o[p].text == a.c[p].text {
		p++
	}
	s := 0
	for s < n-p && s < m-p && a.o[n-1-s].text == a.c[m-1-s].text {
		s++
	}
	if p == n && p == m {
		return nil
	}
	a.align(p, n-s, p, m-s)
	// Split the alignment into runs of non-matches; transpositions stand alone.
	edits := a.edits[:0]
	i := 0
	for i < len(a.seq) {
		st := a.seq[i]
		if st.op == 'M' {
			i++
			continue
		}
		if st.op == 'T' {
			a.out = append(a.out[:0], st)
			i++
		} else {
			j := i
			for j < len(a.seq) && a.seq[j].op != 'M' && a.seq[j].op != 'T' {
				j++
			}
			a.out = a.out[:0]
			a.process(a.seq[i:j])
			i = j
		}
		for _, x := range a.out {
			e := Edit{OStart: x.o0, OEnd: x.o1, CStart: x.c0, CEnd: x.c1}
			e.O = joinToks(a.o[x.o0:x.o1])
			e.C = joinToks(a.c[x.c0:x.c1])
			e.Type = a.classify(&e)
			edits = append(edits, e)
		}
	}
	a.edits = edits
	if len(edits) == 0 {
		return nil
	}
	return slices.Clone(edits)
}

func joinToks(ts []tok) string {
	switch len(ts) {
	case 0:
		return ""
	case 1:
		return ts[0].text
	}
	n := len(ts) - 1
	for _, t := range ts {
		n += len(t.text)
	}
	var b strings.Builder
	b.Grow(n)
	for i, t := range ts {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(t.text)
	}
	return b.String()
}

// align fills a.seq with the cheapest alignment of o[o0:o1] and c[c0:c1], framed by matches.
func (a *aligner) align(o0, o1, c0, c1 int) {
	for k := 0; k < o0; k++ {
		a.seq = append(a.seq, step{'M', k, k + 1, k, k + 1})
	}
	n, m := o1-o0, c1-c0
	w := m + 1
	size := (n + 1) * w
	if cap(a.cost) < size {
		a.cost = make([]float64, size)
		a.ops = make([]byte, size)
		a.trk = make([]int32, size)
	}
	cost, ops, trk := a.cost[:size], a.ops[:size], a.trk[:size]
	cost[0], ops[0] = 0, 'O'
	for i := 1; i <= n; i++ {
		cost[i*w] = cost[(i-1)*w] + 1
		ops[i*w] = 'D'
	}
	for j := 1; j <= m; j++ {
		cost[j] = cost[j-1] + 1
		ops[j] = 'I'
	}
	ot, ct := a.o[o0:o1], a.c[c0:c1]
	// A transposition ending at (i, j) needs ot[i] somewhere in ct and ct[j] somewhere in ot.
	a.inC = slices.Grow(a.inC[:0], n)[:n]
	a.inO = slices.Grow(a.inO[:0], m)[:m]
	clear(a.inO)
	for i := range ot {
		a.inC[i] = false
		for j := range ct {
			if ot[i].h == ct[j].h {
				a.inC[i] = true
				a.inO[j] = true
			}
		}
	}
	for i := 0; i < n; i++ {
		for j := 0; j < m; j++ {
			cell := (i+1)*w + j + 1
			diag := cost[i*w+j]
			if ot[i].text == ct[j].text {
				cost[cell] = diag
				ops[cell] = 'M'
				continue
			}
			delCost := cost[i*w+j+1] + 1
			insCost := cost[(i+1)*w+j] + 1
			best := delCost
			op := byte('D')
			if insCost <= best {
				best, op = insCost, 'I'
			}
			// A substitution costs at least 0; skip computing it when it cannot win or tie.
			if diag <= best {
				if sub := diag + a.subCost(&ot[i], &ct[j], best-diag); sub <= best {
					best, op = sub, 'S'
				}
			}
			// Transpositions: walk back along the diagonal while it holds no match.
			if a.inC[i] && a.inO[j] {
				var sumO, sumC, sqO, sqC uint64
				sumO, sumC = ot[i].h, ct[j].h
				sqO, sqC = ot[i].h*ot[i].h, ct[j].h*ct[j].h
				for k := 1; i-k >= 0 && j-k >= 0 && cost[(i-k+1)*w+j-k+1] != cost[(i-k)*w+j-k]; k++ {
					ho, hc := ot[i-k].h, ct[j-k].h
					sumO += ho
					sumC += hc
					sqO += ho * ho
					sqC += hc * hc
					if sumO == sumC && sqO == sqC && a.sameMultiset(ot[i-k:i+1], ct[j-k:j+1]) && !hasPunct(ot[i-k:i+1]) {
						if t := cost[(i-k)*w+j-k] + float64(k); t <= best {
							best, op = t, 'T'
							trk[cell] = int32(k + 1)
						}
						break
					}
				}
			}
			cost[cell] = best
			ops[cell] = op
		}
	}
	// Backtrace from the bottom right.
	start := len(a.seq)
	i, j := n, m
	for i+j != 0 {
		switch ops[i*w+j] {
		case 'M', 'S':
			a.seq = append(a.seq, step{ops[i*w+j], o0 + i - 1, o0 + i, c0 + j - 1, c0 + j})
			i--
			j--
		case 'D':
			a.seq = append(a.seq, step{'D', o0 + i - 1, o0 + i, c0 + j, c0 + j})
			i--
		case 'I':
			a.seq = append(a.seq, step{'I', o0 + i, o0 + i, c0 + j - 1, c0 + j})
			j--
		default:
			k := int(trk[i*w+j])
			a.seq = append(a.seq, step{'T', o0 + i - k, o0 + i, c0 + j - k, c0 + j})
			i -= k
			j -= k
		}
	}
	slices.Reverse(a.seq[start:])
}

func (a *aligner) sameMultiset(x, y []tok) bool {
	a.sortA, a.sortB = a.sortA[:0], a.sortB[:0]
	for k := range x {
		a.sortA = append(a.sortA, x[k].low)
		a.sortB = append(a.sortB, y[k].low)
	}
	slices.Sort(a.sortA)
	slices.Sort(a.sortB)
	return slices.Equal(a.sortA, a.sortB)
}

// subCost is ERRANT's substitution cost: 0 for a case-only difference, otherwise lemma (0 or 0.499),
// word class (0, 0.25 for two open classes, 0.5) and character dissimilarity (0..1) added up.
//
// Once the cost is known to exceed limit it returns a value above limit without finishing the sum.
func (a *aligner) subCost(o, c *tok, limit float64) float64 {
	if o.low == c.low {
		return 0
	}
	wo, wc := o.feat(), c.feat()
	cost := 0.0
	if wo.lemma != wc.lemma {
		cost += 0.499
	}
	if wo.cls != wc.cls {
		if wo.cls.open() && wc.cls.open() {
			cost += 0.25
		} else {
			cost += 0.5
		}
	}
	// The character similarity is at most 2*min/(sum) of the lengths.
	lo, lc := len(o.text), len(c.text)
	if cost+1-float64(2*min(lo, lc))/float64(lo+lc) > limit {
		return limit + 1
	}
	return cost + 1 - charRatio(o.text, c.text)
}

// charRatio is the Indel similarity 2*LCS/(len a + len b) over bytes, 1 for two empty strings.
func charRatio(x, y string) float64 {
	if len(x)+len(y) == 0 {
		return 1
	}
	return float64(2*lcs(x, y)) / float64(len(x)+len(y))
}

// lcs returns the length of the longest common subsequence of x and y, with a bit-parallel
// algorithm when x fits in a machine word.
func lcs(x, y string) int {
	if len(x) > 64 {
		x, y = y, x
	}
	if len(x) > 64 {
		return lcsSlow(x, y)
	}
	// Hyyrö's bit-vector LCS: match masks per byte of x, found by a short linear scan.
	var keys [64]byte
	var masks [64]uint64
	nk := 0
	for i := 0; i < len(x); i++ {
		b := x[i]
		k := 0
		for k < nk && keys[k] != b {
			k++
		}
		if k == nk {
			keys[k] = b
			nk++
		}
		masks[k] |= 1 << uint(i)
	}
	v := ^uint64(0)
	for j := 0; j < len(y); j++ {
		b := y[j]
		var mk uint64
		for k := 0; k < nk; k++ {
			if keys[k] == b {
				mk = masks[k]
				break
			}
		}
		u := v & mk
		v = (v + u) | (v - u)
	}
	// Count zero bits among the low len(x) bits.
	var mask uint64 = ^uint64(0)
	if len(x) < 64 {
		mask = 1<<uint(len(x)) - 1
	}
	z := ^v & mask
	n := 0
	for z != 0 {
		z &= z - 1
		n++
	}
	return n
}

func lcsSlow(x, y string) int {
	prev := make([]int, len(y)+1)
	cur := make([]int, len(y)+1)
	for i := 1; i <= len(x); i++ {
		for j := 1; j <= len(y); j++ {
			switch {
			case x[i-1] == y[j-1]:
				cur[j] = prev[j-1] + 1
			case prev[j] >= cur[j-1]:
				cur[j] = prev[j]
			default:
				cur[j] = cur[j-1]
			}
		}
		prev, cur = cur, prev
	}
	return prev[len(y)]
}

// hasPunct reports a punctuation token among ts: annotators mark a moved comma as a deletion and
// an insertion, not as word order.
func hasPunct(ts []tok) bool {
	for k := range ts {
		if ts[k].feat().cls == cPunct {
			return true
		}
	}
	return false
}
