package prompts

import (
	"encoding/binary"
	"hash/fnv"
	"math"
	"text/template"
)

// Sample picks one value of every dimension for a generation slot. The result
// depends only on seed, slot and the schema's dimensions: the same inputs give
// the same values on every machine. Values are picked with probability
// proportional to their weights.
//
// Each (dimension, value) pair draws its own uniform number from a hash of
// (seed, slot, dimension, value), and the value with the smallest
// -ln(u)/weight wins (an exponential race). So adding a dimension does not
// change the others, the order of values in the file does not matter (a
// weight mapping loses its order in a database round trip), and adding a value
// only moves the slots that now pick it.
func (s *Schema) Sample(seed int64, slot int) map[string]string {
	out := make(map[string]string, len(s.Dimensions))
	for i := range s.Dimensions {
		if v, ok := s.Dimensions[i].pick(seed, slot); ok {
			out[s.Dimensions[i].Name] = v
		}
	}
	return out
}

func (d *Dimension) pick(seed int64, slot int) (string, bool) {
	var prefix [16]byte
	binary.LittleEndian.PutUint64(prefix[:8], uint64(seed))
	binary.LittleEndian.PutUint64(prefix[8:], uint64(int64(slot)))
	h := fnv.New64a()
	h.Write(prefix[:])
	h.Write([]byte(d.Name))
	base := splitmix(h.Sum64())

	best, bestKey := -1, math.Inf(1)
	for i, v := range d.Values {
		w := 1.0
		if i < len(d.Weights) {
			w = d.Weights[i]
		}
		if !(w > 0) {
			continue
		}
		vh := fnv.New64a()
		vh.Write([]byte(v))
		x := splitmix(base ^ splitmix(vh.Sum64()))
		u := (float64(x>>11) + 0.5) / (1 << 53) // in (0, 1)
		if key := -math.Log(u) / w; key < bestKey {
			best, bestKey = i, key
		}
	}
	if best < 0 {
		return "", false
	}
	return d.Values[best], true
}

// splitmix is the SplitMix64 finalizer: it spreads every input bit over the
// output, which FNV alone does poorly in the high bits.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// Negative reports whether a slot is one of the schema's negatives: a slot that asks for a text
// needing no correction. Like Sample it depends only on seed and slot (and the share), so a resumed
// or repeated run has the same negatives; a share of 0 has none.
func (s *Schema) Negative(seed int64, slot int) bool {
	if s.Negatives <= 0 {
		return false
	}
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], uint64(seed))
	binary.LittleEndian.PutUint64(b[8:], uint64(int64(slot)))
	h := fnv.New64a()
	h.Write(b[:])
	h.Write([]byte("negative"))
	u := (float64(splitmix(h.Sum64())>>11) + 0.5) / (1 << 53)
	return u < s.Negatives
}

// readsNegative reports whether a step template refers to .negative.
func (s *Schema) readsNegative() bool {
	for _, st := range s.Steps {
		for _, t := range []*template.Template{st.system, st.user} {
			if t == nil {
				continue
			}
			for _, r := range templateRefs(t) {
				if r.name == "negative" {
					return true
				}
			}
		}
	}
	return false
}
