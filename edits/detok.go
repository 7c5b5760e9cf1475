package edits

import (
	"strings"
	"unicode/utf8"
)

// Detokenize joins Penn-Treebank-like tokens (those of an M2 file, or of Tokenize) back into text
// as a writer would type it: no space before closing punctuation and clitics ("do n't" → "don't",
// "ca n't" → "can't"), none inside quotes and brackets, and hyphens and slashes between words joined
// ("well - known" → "well-known"). Tokenize of the result gives the tokens back for nearly every
// sentence of the BEA-2019 dev set; where it cannot, the text still reads naturally.
func Detokenize(toks []string) string {
	var b strings.Builder
	quoteOpen := map[string]bool{}
	glueNext := false // the previous token opened a bracket or quote, or joins the next word
	for i, t := range toks {
		space := i > 0 && !glueNext
		glueNext = false
		switch {
		case t == "":
			continue
		case isClitic(t) || closingPunct(t):
			space = false
		case t == "'" && !quoteOpen["'"] && i > 0 && strings.HasSuffix(strings.ToLower(toks[i-1]), "s"):
			space = false // a possessive: the students' books
		case t == `"` || t == "'" || t == "`" || t == "``" || t == "''":
			q := t
			if q == "``" || q == "''" {
				q = `"`
			}
			if quoteOpen[q] {
				space = false
				quoteOpen[q] = false
			} else {
				quoteOpen[q] = true
				glueNext = true
			}
			if t == "``" || t == "''" {
				t = `"`
			}
		case t == "(" || t == "[" || t == "{" || t == "“" || t == "‘":
			glueNext = true
		case t == "”" || t == "’":
			space = false
		case joiner(t) && i > 0 && i+1 < len(toks) && joins(toks[i-1], t, toks[i+1]):
			space = false
			glueNext = true
		}
		if space {
			b.WriteByte(' ')
		}
		b.WriteString(t)
	}
	return b.String()
}

func isClitic(t string) bool {
	for _, c := range clitics {
		if t == c {
			return true
		}
	}
	switch strings.ToLower(t) {
	case "n't", "'s", "'re", "'ll", "'ve", "'d", "'m":
		return true
	}
	return false
}

// closingPunct reports a token of closing punctuation only: , . ; : ! ? ) ] } % … and runs of them.
func closingPunct(t string) bool {
	for _, r := range t {
		switch r {
		case ',', '.', ';', ':', '!', '?', ')', ']', '}', '%', '…':
		default:
			return false
		}
	}
	return true
}

// joiner is a hyphen (or a run of them) or a slash, which Tokenize splits off between words.
func joiner(t string) bool {
	if t == "/" {
		return true
	}
	for i := 0; i < len(t); i++ {
		if t[i] != '-' {
			return false
		}
	}
	return true
}

// joins reports whether Tokenize splits joiner j off between prev and next when they are written
// together: a hyphen between letters, a slash after a letter or digit and before a letter.
func joins(prev, j, next string) bool {
	p, _ := utf8.DecodeLastRuneInString(prev)
	n, _ := utf8.DecodeRuneInString(next)
	if p >= utf8.RuneSelf || n >= utf8.RuneSelf || !isLetterByte(byte(n)) {
		return false
	}
	if j == "/" {
		return isAlnumByte(byte(p))
	}
	return isLetterByte(byte(p))
}
