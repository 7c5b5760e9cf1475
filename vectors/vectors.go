// Package vectors turns texts into embeddings and keeps them in a vector index
// (a Chroma server, or the embedded chromem-go index) so that near-duplicates
// can be found across every run and similar records retrieved as examples.
//
// Vectors of different embedders are never mixed: each (field, embedder) pair
// has its own collection, named by CollectionName. Distances are cosine
// distances (1 - cosine similarity), in [0, 2], smaller is closer.
package vectors

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Embedder turns texts into vectors of a fixed dimension.
type Embedder interface {
	// ID names the embedder and its settings, e.g. "hash-512" or
	// "openai:text-embedding-3-small"; vectors from different IDs are not comparable.
	ID() string
	// Dim is the vector dimension, or 0 while it is not known yet.
	Dim() int
	// Embed returns one vector per text, in order.
	Embed(ctx context.Context, texts []string) ([][]float32, error)
}

// Normalize returns text in the form that dedup compares: NFKC-normalised,
// lowercased, with every run of white space collapsed to one space and the ends
// trimmed.
func Normalize(text string) string {
	if isASCII(text) {
		return normalizeASCII(text)
	}
	s := norm.NFKC.String(text)
	s = strings.ToLower(s)
	return strings.Join(strings.Fields(s), " ")
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// normalizeASCII is Normalize for ASCII text, where NFKC changes nothing, in
// one pass.
func normalizeASCII(s string) string {
	b := make([]byte, 0, len(s))
	space := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c >= '\t' && c <= '\r':
			space = len(b) > 0
			continue
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		}
		if space {
			b = append(b, ' ')
			space = false
		}
		b = append(b, c)
	}
	return string(b)
}

// Fingerprint is the hex SHA-256 of Normalize(text): equal fingerprints mean
// exact duplicates up to case, Unicode compatibility forms and white space.
func Fingerprint(text string) string {
	sum := sha256.Sum256([]byte(Normalize(text)))
	return hex.EncodeToString(sum[:])
}

// CollectionName returns the index collection for a record field embedded by
// embedderID, e.g. "correctly_before_hash-512". The name is a valid Chroma
// collection name (3-512 characters of [a-zA-Z0-9._-], starting and ending with
// a letter or digit). Characters outside that set are replaced by '-' and a
// short hash of the original is appended, so distinct inputs keep distinct names.
func CollectionName(field, embedderID string) string {
	raw := "correctly_" + field + "_" + embedderID
	var b strings.Builder
	changed := false
	for _, r := range raw {
		if r < utf8.RuneSelf && (isAlnum(byte(r)) || r == '.' || r == '_' || r == '-') {
			b.WriteRune(r)
			continue
		}
		b.WriteByte('-')
		changed = true
	}
	name := b.String()
	// ".." is not allowed by Chroma either.
	if strings.Contains(name, "..") {
		name = strings.ReplaceAll(name, "..", "-")
		changed = true
	}
	const maxLen = 512
	if len(name) > maxLen-9 {
		name = name[:maxLen-9]
		changed = true
	}
	if changed || !isAlnum(name[len(name)-1]) {
		sum := sha256.Sum256([]byte(raw))
		name += "-" + hex.EncodeToString(sum[:4])
	}
	return name
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// HashThreshold is the calibrated default near-duplicate threshold (cosine
// distance) for the hash-512 embedder; see TestCalibration and
// testdata/neardup.jsonl for the labelled set it is measured on.
const HashThreshold = 0.25

// OpenAIThreshold is the default near-duplicate threshold for OpenAI-compatible
// embedders. It is not calibrated here (no API in tests); 0.15 is a common
// starting point for text-embedding-3 models on paraphrases.
const OpenAIThreshold = 0.15

// DefaultThreshold returns the default near-duplicate threshold, as a cosine
// distance, for vectors made by embedderID: a new text whose nearest accepted
// neighbour is at most this far away counts as a near-duplicate.
func DefaultThreshold(embedderID string) float64 {
	if embedderID == HashID {
		return HashThreshold
	}
	return OpenAIThreshold
}
