package edits

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Tokenize splits s into Penn-Treebank-like tokens, the way spaCy tokenised the M2 files this package
// is measured on: punctuation and quotes become tokens, the clitics n't, 's, 're, 'll, 've, 'd and 'm
// are split off (can't -> ca n't, won't -> wo n't), hyphens between letters become tokens, and a run
// of Hangul is kept as one token apart from any Latin text touching it. Abbreviations such as "Mr."
// and "U.S." keep their period. Token text is never rewritten, so joining tokens recovers the words.
func Tokenize(s string) []string {
	toks := make([]string, 0, len(s)/4+1)
	i := 0
	for i < len(s) {
		if c := s[i]; c < utf8.RuneSelf {
			if c == ' ' || c >= '\t' && c <= '\r' {
				i++
				continue
			}
		} else if r, size := utf8.DecodeRuneInString(s[i:]); unicode.IsSpace(r) {
			i += size
			continue
		}
		j := i
		plain := true // only ASCII letters: the common word needs no splitting
		for j < len(s) {
			c := s[j]
			if c < utf8.RuneSelf {
				if c == ' ' || c >= '\t' && c <= '\r' {
					break
				}
				plain = plain && isLetterByte(c)
				j++
				continue
			}
			r, size := utf8.DecodeRuneInString(s[j:])
			if unicode.IsSpace(r) {
				break
			}
			plain = false
			j += size
		}
		if plain {
			toks = append(toks, s[i:j])
		} else {
			toks = splitScripts(s[i:j], toks)
		}
		i = j
	}
	return toks
}

func isHangul(r rune) bool {
	return r >= 0xAC00 && r <= 0xD7A3 || r >= 0x1100 && r <= 0x11FF || r >= 0x3130 && r <= 0x318F
}

// splitScripts cuts a whitespace-free chunk where it switches between Hangul and anything else.
func splitScripts(w string, toks []string) []string {
	start := 0
	prevHangul := false
	for i, r := range w {
		h := isHangul(r)
		if i > 0 && h != prevHangul {
			toks = splitChunk(w[start:i], prevHangul, toks)
			start = i
		}
		prevHangul = h
	}
	return splitChunk(w[start:], prevHangul, toks)
}

func splitChunk(w string, hangul bool, toks []string) []string {
	if hangul {
		return append(toks, w)
	}
	// A clitic written apart ("friend 's") stays whole.
	for _, c := range clitics {
		if w == c {
			return append(toks, w)
		}
	}
	// Leading punctuation, one token each (a run of hyphens is one token).
	for len(w) > 0 {
		r, size := utf8.DecodeRuneInString(w)
		if !isLeadPunct(r) || len(w) == size {
			break
		}
		if r == '-' {
			k := 0
			for k < len(w) && w[k] == '-' {
				k++
			}
			size = k
		}
		toks = append(toks, w[:size])
		w = w[size:]
	}
	if w == "" {
		return toks
	}
	// Trailing punctuation, collected right to left.
	var tail [16]string
	nt := 0
	for len(w) > 0 && nt < len(tail) {
		r, size := utf8.DecodeLastRuneInString(w)
		if r == '.' {
			k := len(w)
			for k > 0 && w[k-1] == '.' {
				k--
			}
			if k == len(w)-1 && k > 0 && isAbbrev(w[:k]) {
				break
			}
			if k == 0 {
				break
			}
			tail[nt] = w[k:]
			nt++
			w = w[:k]
			continue
		}
		if r == '…' || isTrailPunct(r) {
			if len(w) == size {
				break
			}
			tail[nt] = w[len(w)-size:]
			nt++
			w = w[:len(w)-size]
			continue
		}
		break
	}
	toks = splitInner(w, toks)
	for k := nt - 1; k >= 0; k-- {
		toks = append(toks, tail[k])
	}
	return toks
}

// splitInner splits clitics and infixes (hyphens and slashes between letters, commas and sentence
// periods glued between words) of a chunk with no outer punctuation.
func splitInner(w string, toks []string) []string {
	if w == "" {
		return toks
	}
	for i := 1; i < len(w)-1; i++ {
		c := w[i]
		prev, next := w[i-1], w[i+1]
		switch {
		case c == '-' && isLetterByte(prev) && isLetterByte(next),
			c == '/' && isAlnumByte(prev) && isLetterByte(next),
			c == ',' && isLetterByte(prev) && isLetterByte(next),
			c == '.' && prev >= 'a' && prev <= 'z' && next >= 'A' && next <= 'Z' && !strings.Contains(w[:i], "."):
			toks = splitClitics(w[:i], toks)
			toks = append(toks, w[i:i+1])
			return splitInner(w[i+1:], toks)
		case c == '-' && next == '-' && isLetterByte(prev):
			k := i
			for k < len(w) && w[k] == '-' {
				k++
			}
			toks = splitClitics(w[:i], toks)
			toks = append(toks, w[i:k])
			return splitInner(w[k:], toks)
		}
	}
	return splitClitics(w, toks)
}

var clitics = []string{"n't", "n’t", "'s", "’s", "'re", "’re", "'ll", "’ll", "'ve", "’ve", "'d", "’d", "'m", "’m", "'S", "N'T", "'RE", "'LL", "'VE", "'D", "'M"}

func splitClitics(w string, toks []string) []string {
	if w == "" {
		return toks
	}
	lw := len(w)
	if lw == 6 && strings.EqualFold(w, "cannot") {
		return append(toks, w[:3], w[3:])
	}
	if strings.IndexByte(w, '\'') < 0 && !strings.Contains(w, "’") {
		return append(toks, w)
	}
	for _, c := range clitics {
		if lw > len(c) && strings.HasSuffix(w, c) {
			base := w[:lw-len(c)]
			if c[0] == 'n' || c[0] == 'N' {
				if !isLetterByte(base[len(base)-1]) {
					break
				}
			}
			toks = append(toks, base)
			return append(toks, w[lw-len(c):])
		}
	}
	return append(toks, w)
}

func isLetterByte(b byte) bool { return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' }
func isAlnumByte(b byte) bool  { return isLetterByte(b) || b >= '0' && b <= '9' }

func isQuote(r rune) bool {
	switch r {
	case '"', '\'', '“', '”', '‘', '’', '`', '«', '»', '„':
		return true
	}
	return false
}

func isLeadPunct(r rune) bool {
	switch r {
	case '"', '\'', '“', '‘', '`', '«', '„', '(', '[', '{', '<', '¿', '¡', '”', '’', '*', '#', '-', '…':
		return true
	}
	return false
}

func isTrailPunct(r rune) bool {
	switch r {
	case ',', ';', ':', '!', '?', ')', ']', '}', '>', '"', '\'', '”', '’', '“', '»', '*', '%', '…', '-':
		return true
	}
	return false
}

var abbreviations = map[string]bool{
	"mr": true, "mrs": true, "ms": true, "dr": true, "prof": true, "st": true, "jr": true, "sr": true,
	"vs": true, "etc": true, "e.g": true, "i.e": true, "a.m": true, "p.m": true,
}

// isAbbrev reports whether w (without its final period) is an abbreviation that keeps the period.
func isAbbrev(w string) bool {
	if strings.IndexByte(w, '.') > 0 {
		// Initialisms: U.S, T.V, e.g, a.m
		for i := 0; i < len(w); i++ {
			if w[i] != '.' && !isLetterByte(w[i]) {
				return false
			}
		}
		return true
	}
	if len(w) > 4 {
		return false
	}
	var buf [4]byte
	for i := 0; i < len(w); i++ {
		b := w[i]
		if b >= 'A' && b <= 'Z' {
			b += 'a' - 'A'
		}
		buf[i] = b
	}
	return abbreviations[string(buf[:len(w)])]
}
