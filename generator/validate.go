package generator

import (
	"fmt"
	"strings"
	"unicode"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/correctly/correctly/corpus"
	"github.com/correctly/correctly/edits"
	"github.com/correctly/correctly/prompts"
)

// Reject and flag codes.
const (
	CodeMalformed        = "malformed"
	CodeOversized        = "oversized" // an answer far larger than max_tokens allows
	CodeMissingField     = "missing_field"
	CodeUnchanged        = "unchanged"
	CodeHangulInEnglish  = "hangul_in_text"
	CodeNotKorean        = "not_korean"
	CodeMissingDimension = "missing_dimension_value"
	CodeTooShort         = "too_short"
	CodeTooLong          = "too_long"
	CodeClaimWithoutEdit = "claim_without_edit"
	CodeClaimsNoChange   = "claims_without_change"
	CodeClaimsCoverage   = "claims_coverage_low" // a flag, not a rejection
	CodeNegativeChanged  = "negative_changed"    // a negative slot's text was corrected: it was not natural
)

// Validate runs the schema's validators on a record and returns why it must be rejected (empty when
// it passes) and what is worth flagging. Validators that read a field the backend does not produce are
// skipped (the rules backend writes no translation).
func Validate(s *prompts.Schema, rec *corpus.Record, produced []string) (reasons, flags []corpus.Reason) {
	has := map[string]bool{}
	for _, f := range produced {
		has[f] = true
	}
	for _, v := range s.Validators {
		if len(produced) > 0 {
			kept := v.Fields[:0:0]
			for _, f := range v.Fields {
				if has[f] {
					kept = append(kept, f)
				}
			}
			// a required check keeps the fields the backend fills; any other check needs all of them
			if len(kept) < len(v.Fields) && (v.Kind != "required" || len(kept) == 0) {
				continue
			}
			v.Fields = kept
		}
		r, f := validate(v, rec)
		reasons = append(reasons, r...)
		flags = append(flags, f...)
	}
	return reasons, flags
}

func validate(v prompts.Validator, rec *corpus.Record) (reasons, flags []corpus.Reason) {
	reject := func(code, format string, args ...any) {
		reasons = append(reasons, corpus.Reason{Code: code, Message: fmt.Sprintf(format, args...)})
	}
	switch v.Kind {
	case "required":
		for _, f := range v.Fields {
			if isEmpty(rec.Fields[f]) {
				reject(CodeMissingField, "%s is empty", f)
			}
		}
	case "differs":
		// a negative slot asks for a text needing no correction: there the fields must be the same,
		// and only there may they be
		if len(v.Fields) != 2 {
			return
		}
		same := squash(text(rec.Fields[v.Fields[0]])) == squash(text(rec.Fields[v.Fields[1]]))
		switch {
		case rec.Negative && !same:
			reject(CodeNegativeChanged, "the slot asks for a text that needs no correction, but %s and %s differ", v.Fields[0], v.Fields[1])
		case !rec.Negative && same:
			reject(CodeUnchanged, "%s and %s are the same text", v.Fields[0], v.Fields[1])
		}
	case "no_hangul":
		for _, f := range v.Fields {
			if h, _ := hangulShare(text(rec.Fields[f])); h > 0 {
				reject(CodeHangulInEnglish, "%s still contains Korean (%d Hangul letters)", f, h)
			}
		}
	case "hangul":
		ratio := v.Ratio
		if ratio == 0 {
			ratio = 0.5
		}
		for _, f := range v.Fields {
			h, letters := hangulShare(text(rec.Fields[f]))
			if letters == 0 || float64(h)/float64(letters) < ratio {
				reject(CodeNotKorean, "%s is %.0f%% Hangul, want at least %.0f%%", f, 100*share(h, letters), 100*ratio)
			}
		}
	case "contains":
		want := rec.Dims[v.Dim]
		found := false
		for _, f := range v.Fields {
			if containsExpression(text(rec.Fields[f]), want) {
				found = true
			}
		}
		if want != "" && !found {
			reject(CodeMissingDimension, "%s does not use the %s %q", strings.Join(v.Fields, "/"), v.Dim, want)
		}
	case "length":
		for _, f := range v.Fields {
			n := len(strings.Fields(text(rec.Fields[f])))
			if v.Min > 0 && n < v.Min {
				reject(CodeTooShort, "%s has %d words, want at least %d", f, n, v.Min)
			}
			if v.Max > 0 && n > v.Max {
				reject(CodeTooLong, "%s has %d words, want at most %d", f, n, v.Max)
			}
		}
	case "claims":
		if len(v.Fields) != 3 {
			return
		}
		points := list(rec.Fields[v.Fields[0]])
		before, after := text(rec.Fields[v.Fields[1]]), text(rec.Fields[v.Fields[2]])
		claims := edits.ParseClaims(points)
		if len(claims) == 0 {
			return
		}
		check := edits.CheckClaims(before, after, claims, FromCorpusEdits(rec.Edits))
		if check.NoChange {
			reject(CodeClaimsNoChange, "%d correction points are claimed but the text did not change", len(claims))
			return
		}
		for _, c := range check.Unmatched {
			reject(CodeClaimWithoutEdit, "point %d claims %q → %q, but no such change was made", c.Line, c.Before, c.After)
		}
		ratio := v.Ratio
		if ratio == 0 {
			ratio = 0.9
		}
		if check.Coverage < ratio {
			flags = append(flags, corpus.Reason{Code: CodeClaimsCoverage,
				Message: fmt.Sprintf("the points explain %.0f%% of the %d changes made, below %.0f%%", 100*check.Coverage, len(rec.Edits), 100*ratio)})
		}
	}
	return reasons, flags
}

func text(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []string:
		return strings.Join(x, "\n")
	case bson.A:
		return text([]any(x))
	case []any:
		parts := make([]string, 0, len(x))
		for _, p := range x {
			parts = append(parts, fmt.Sprint(p))
		}
		return strings.Join(parts, "\n")
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

func list(v any) []string {
	switch x := v.(type) {
	case []string:
		return x
	case bson.A:
		return list([]any(x))
	case []any:
		out := make([]string, 0, len(x))
		for _, p := range x {
			out = append(out, fmt.Sprint(p))
		}
		return out
	case string:
		if x == "" {
			return nil
		}
		return strings.Split(x, "\n")
	}
	return nil
}

func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return strings.TrimSpace(x) == ""
	case []string:
		return len(x) == 0
	case bson.A:
		return len(x) == 0
	case []any:
		return len(x) == 0
	}
	return false
}

func squash(s string) string { return strings.Join(strings.Fields(s), " ") }

func hangulShare(s string) (hangul, letters int) {
	for _, r := range s {
		if unicode.IsLetter(r) {
			letters++
			if unicode.Is(unicode.Hangul, r) {
				hangul++
			}
		}
	}
	return hangul, letters
}

func share(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// placeholders stand for any word in an expression's base form ("make up one's mind").
var placeholders = map[string]bool{"one's": true, "oneself": true, "someone": true, "someone's": true, "something": true, "sb": true, "sth": true}

// containsExpression reports whether text uses expr, allowing inflection ("made up my mind" uses
// "make up one's mind"): each word of expr must appear in order, a placeholder matches any one word,
// and a word matches an inflected form that shares its first letters or is a close spelling.
func containsExpression(text, expr string) bool {
	if expr == "" {
		return true
	}
	words := wordsOf(text)
	want := wordsOf(expr)
	for i := range words {
		if matchAt(words[i:], want) {
			return true
		}
	}
	return false
}

func matchAt(words, want []string) bool {
	j := 0
	for _, w := range want {
		if j >= len(words) {
			return false
		}
		if !placeholders[w] && !sameWord(words[j], w) {
			return false
		}
		j++
	}
	return true
}

func sameWord(got, base string) bool {
	switch {
	case got == base:
		return true
	case len(base) <= 2: // to, of, in, up: exact
		return false
	case len(base) == 3: // get/gets/got, run/ran, end/ended
		return strings.HasPrefix(got, base) || (len(got) == 3 && got[0] == base[0] && levenshtein(got, base) <= 1)
	}
	if len(got) >= 4 && got[:4] == base[:4] {
		return true
	}
	// irregular inflections: make/made, take/took, come/came, give/gave, keep/kept, catch/caught
	return got[0] == base[0] && levenshtein(got, base) <= 3
}

func wordsOf(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '\'' || r == '’')
	})
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
