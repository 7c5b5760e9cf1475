package vectors

import (
	"context"
	"fmt"
	"math"
	"sync"
	"unicode"
)

// HashDim is the dimension of Hash vectors.
const HashDim = 512

// HashID is the ID of the Hash embedder.
const HashID = "hash-512"

// Hash is the default, offline embedder: signed feature hashing of character
// 3-5-grams and word unigrams and bigrams of Normalize(text) into HashDim
// dimensions, with sublinear term frequency (1 + ln tf), L2-normalised. It is
// deterministic, needs no model files, and is safe for concurrent use.
type Hash struct{}

// NewHash returns the hash-512 embedder.
func NewHash() *Hash { return &Hash{} }

// ID returns "hash-512".
func (*Hash) ID() string { return HashID }

// Dim returns HashDim.
func (*Hash) Dim() int { return HashDim }

// Embed returns one unit vector per text (all zeros for a text that is empty
// after Normalize). It never fails except when ctx is done.
func (h *Hash) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	backing := make([]float32, len(texts)*HashDim)
	s := hashScratchPool.Get().(*hashScratch)
	defer hashScratchPool.Put(s)
	for i, t := range texts {
		if i%256 == 255 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("hash-embed %d texts: %w", len(texts), err)
			}
		}
		v := backing[i*HashDim : (i+1)*HashDim : (i+1)*HashDim]
		s.embed(Normalize(t), v)
		out[i] = v
	}
	return out, nil
}

// Feature seeds keep the three feature kinds apart in hash space.
const (
	fnvOffset  = 14695981039346656037
	fnvPrime   = 1099511628211
	seedChar   = 0x9e3779b97f4a7c15
	seedWord   = 0xc2b2ae3d27d4eb4f
	seedBigram = 0x165667b19e3779f9
)

// mix64 is the splitmix64 finaliser: it spreads the FNV state over all 64 bits
// so that the low bits (bucket) and the top bit (sign) are independent.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// hashScratch counts feature occurrences in an open-addressing table that is
// reused across texts, so the hot path allocates nothing.
type hashScratch struct {
	runes  []rune
	keys   []uint64 // 0 marks an empty slot; keys are forced non-zero
	counts []uint32
	used   []int32
	mask   uint64
	wordH  []uint64
}

var hashScratchPool = sync.Pool{New: func() any { return newHashScratch(1 << 12) }}

func newHashScratch(size int) *hashScratch {
	return &hashScratch{
		keys:   make([]uint64, size),
		counts: make([]uint32, size),
		mask:   uint64(size - 1),
	}
}

// logTF caches 1+ln(tf) for small term frequencies.
var logTF = func() [64]float32 {
	var t [64]float32
	for i := 1; i < len(t); i++ {
		t[i] = float32(1 + math.Log(float64(i)))
	}
	return t
}()

func (s *hashScratch) grow(features int) {
	size := len(s.keys)
	for size < 2*features {
		size *= 2
	}
	if size != len(s.keys) {
		s.keys = make([]uint64, size)
		s.counts = make([]uint32, size)
		s.mask = uint64(size - 1)
	}
}

func (s *hashScratch) add(key uint64) {
	key = mix64(key) | 1
	i := key & s.mask
	for {
		k := s.keys[i]
		if k == key {
			s.counts[i]++
			return
		}
		if k == 0 {
			s.keys[i] = key
			s.counts[i] = 1
			s.used = append(s.used, int32(i))
			return
		}
		i = (i + 1) & s.mask
	}
}

// embed writes the unit vector of normalised text t into v (len HashDim).
func (s *hashScratch) embed(t string, v []float32) {
	clear(v)
	if t == "" {
		return
	}
	// Pad with spaces so that word starts and ends form their own n-grams.
	s.runes = append(s.runes[:0], ' ')
	for _, r := range t {
		s.runes = append(s.runes, r)
	}
	s.runes = append(s.runes, ' ')
	rs := s.runes
	// Upper bound on distinct features: 3 char n-grams per position plus words and bigrams.
	s.grow(4*len(rs) + 16)
	s.used = s.used[:0]

	for i := range rs {
		h := uint64(fnvOffset)
		for n := 0; n < 5 && i+n < len(rs); n++ {
			h ^= uint64(rs[i+n])
			h *= fnvPrime
			if n >= 2 {
				s.add(h ^ seedChar)
			}
		}
	}

	// Words: maximal runs of letters, digits and apostrophes.
	s.wordH = s.wordH[:0]
	h, inWord := uint64(fnvOffset), false
	for _, r := range rs {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || r == '\'' {
			h ^= uint64(r)
			h *= fnvPrime
			inWord = true
			continue
		}
		if inWord {
			s.wordH = append(s.wordH, h)
			h, inWord = fnvOffset, false
		}
	}
	for i, w := range s.wordH {
		s.add(w ^ seedWord)
		if i > 0 {
			s.add((s.wordH[i-1]*fnvPrime ^ w) ^ seedBigram)
		}
	}

	for _, i := range s.used {
		key, c := s.keys[i], s.counts[i]
		s.keys[i] = 0
		w := float32(0)
		if c < uint32(len(logTF)) {
			w = logTF[c]
		} else {
			w = float32(1 + math.Log(float64(c)))
		}
		// key was mixed in add; reuse its bits: low bits bucket, top bit sign.
		b := (key >> 1) % HashDim
		if key>>63 == 1 {
			v[b] -= w
		} else {
			v[b] += w
		}
	}
	normalize(v)
}

// normalize scales v to unit length in place and reports its original norm.
func normalize(v []float32) float64 {
	var ss float64
	for _, x := range v {
		ss += float64(x) * float64(x)
	}
	if ss == 0 {
		return 0
	}
	n := math.Sqrt(ss)
	inv := float32(1 / n)
	for i := range v {
		v[i] *= inv
	}
	return n
}
