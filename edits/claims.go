package edits

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Claim is one correction point an LLM claims to have made: `"Before" → "After": Reason`.
type Claim struct {
	Before, After, Reason string
	Line                  int // the item's own number ("3." or "3)"), else its 1-based position
}

// arrows are the separators accepted between the quoted before- and after-texts.
var arrows = []string{"→", "->", "=>", "⇒", "➔", "⟶", "➡"}

// ParseClaims extracts the claims from correction points, one point per element. A point may be
// numbered ("1.", "2)") or bulleted ("-", "*", "•") and may hold several `"X" → "Y"` pairs embedded
// in prose (`2. **주어-동사 일치**: "he is make" → "he makes"로 수정`); each pair becomes a Claim.
// Quotes may be straight or curly, double or single; arrows →, -> or =>. The reason is the text
// after a colon that follows the last pair, or else the bold or colon-terminated label before the
// first pair. Points without a pair yield nothing.
func ParseClaims(points []string) []Claim {
	var out []Claim
	for i, p := range points {
		num, body := itemNumber(p)
		if num == 0 {
			num = i + 1
		}
		first := len(out)
		labelEnd, restStart := -1, -1
		pos := 0
		for {
			b, a, ok := nextPair(body, pos)
			if !ok {
				break
			}
			if labelEnd < 0 {
				labelEnd = b.open
			}
			out = append(out, Claim{Before: body[b.open+b.qlen : b.close], After: body[a.open+a.qlen : a.close], Line: num})
			pos = a.close + a.clen
			restStart = pos
		}
		if labelEnd < 0 {
			continue
		}
		reason := claimReason(body[:labelEnd], body[restStart:])
		for k := first; k < len(out); k++ {
			out[k].Reason = reason
		}
	}
	return out
}

// itemNumber strips a leading list marker and returns the item's number (0 for bullets or none).
func itemNumber(s string) (int, string) {
	s = strings.TrimSpace(s)
	n, k := 0, 0
	for k < len(s) && s[k] >= '0' && s[k] <= '9' && k < 4 {
		n = n*10 + int(s[k]-'0')
		k++
	}
	if k > 0 && k < len(s) && (s[k] == '.' || s[k] == ')') {
		return n, strings.TrimSpace(s[k+1:])
	}
	for _, b := range []string{"- ", "* ", "• ", "· ", "– "} {
		if strings.HasPrefix(s, b) {
			return 0, strings.TrimSpace(s[len(b):])
		}
	}
	return 0, s
}

func claimReason(label, rest string) string {
	rest = strings.TrimSpace(rest)
	if r, ok := strings.CutPrefix(rest, ":"); ok {
		return strings.TrimSpace(r)
	}
	if r, ok := strings.CutPrefix(rest, "："); ok {
		return strings.TrimSpace(r)
	}
	label = strings.TrimSpace(label)
	label = strings.TrimSpace(strings.TrimSuffix(label, ":"))
	label = strings.TrimSpace(strings.Trim(label, "*_"))
	if label != "" {
		return label
	}
	return rest
}

// quoted is a quoted span of a line: the byte offsets of its opening and closing quotes.
type quoted struct{ open, qlen, close, clen int }

// nextPair finds the next `"X" <arrow> "Y"` in s at or after pos.
func nextPair(s string, pos int) (before, after quoted, ok bool) {
	for pos < len(s) {
		ai, alen := -1, 0
		for _, a := range arrows {
			if k := strings.Index(s[pos:], a); k >= 0 && (ai < 0 || pos+k < ai) {
				ai, alen = pos+k, len(a)
			}
		}
		if ai < 0 {
			return quoted{}, quoted{}, false
		}
		b, okb := quoteBefore(s, pos, ai)
		a, oka := quoteAfter(s, ai+alen)
		if okb && oka {
			return b, a, true
		}
		pos = ai + alen
	}
	return quoted{}, quoted{}, false
}

// quoteBefore finds the quoted text ending just before the arrow at end, starting at or after lo.
func quoteBefore(s string, lo, end int) (quoted, bool) {
	k := end
	for k > lo && s[k-1] == ' ' {
		k--
	}
	r, size := utf8.DecodeLastRuneInString(s[lo:k])
	if !isQuote(r) {
		return quoted{}, false
	}
	closeAt := k - size
	// The opening quote is the nearest matching quote at a word start.
	for j := closeAt - 1; j >= lo; j-- {
		q, qs := utf8.DecodeRuneInString(s[j:])
		if q == utf8.RuneError || !isQuote(q) || !quotesPair(q, r) {
			continue
		}
		if single(q) && j > lo {
			p, _ := utf8.DecodeLastRuneInString(s[lo:j])
			if unicode.IsLetter(p) || unicode.IsDigit(p) {
				continue
			}
		}
		return quoted{open: j, qlen: qs, close: closeAt, clen: size}, true
	}
	return quoted{}, false
}

// quoteAfter finds the quoted text starting just after the arrow ending at start.
func quoteAfter(s string, start int) (quoted, bool) {
	k := start
	for k < len(s) && s[k] == ' ' {
		k++
	}
	q, qs := utf8.DecodeRuneInString(s[k:])
	if !isQuote(q) {
		return quoted{}, false
	}
	for j := k + qs; j < len(s); {
		r, size := utf8.DecodeRuneInString(s[j:])
		if isQuote(r) && quotesPair(q, r) {
			// A single quote followed by a Latin letter is an apostrophe (don't), not the end.
			n, _ := utf8.DecodeRuneInString(s[j+size:])
			if !single(r) || j+size >= len(s) || !(n < utf8.RuneSelf && unicode.IsLetter(n)) {
				return quoted{open: k, qlen: qs, close: j, clen: size}, true
			}
		}
		j += size
	}
	return quoted{}, false
}

func single(r rune) bool { return r == '\'' || r == '‘' || r == '’' }

// quotesPair reports whether open and close are quotes of the same kind (double or single).
func quotesPair(open, close rune) bool {
	if single(open) {
		return single(close)
	}
	return !single(close)
}

// ClaimCheck is the outcome of checking claims against the computed edits.
type ClaimCheck struct {
	Claims    []Claim
	Matched   []int   // per claim, the index of the edit it matches, or -1
	Unmatched []Claim // claims that match no edit: claim_without_edit
	NoChange  bool    // claims exist but there are no edits
	Coverage  float64 // share of the edits some claim matches; 1 when there are no edits
}

// CheckClaims matches each claim to one of edits (computed with Extract(before, after)): a claim
// matches when its before-text occurs in before and its after-text in after (case, quote style and
// spacing aside; a trailing "..." or "…" makes it a prefix) and both occurrences overlap the same
// edit. A claim whose before-text is Korean that the awkward text does not contain verbatim (a
// paraphrased code-switch) matches on its after-text alone. A claim whose two texts are equal never
// matches. Coverage counts every edit any claim overlaps.
func CheckClaims(before, after string, claims []Claim, edits []Edit) ClaimCheck {
	res := ClaimCheck{Claims: claims, Matched: make([]int, len(claims)), Coverage: 1}
	res.NoChange = len(claims) > 0 && len(edits) == 0
	orig := normToks(Tokenize(before))
	cor := normToks(Tokenize(after))
	covered := make([]bool, len(edits))
	for i, cl := range claims {
		res.Matched[i] = -1
		bt, bprefix := claimToks(cl.Before)
		at, aprefix := claimToks(cl.After)
		// a claim that changes nothing is fabricated; case counts here ("my" → "My" is an edit)
		if strings.TrimSpace(cl.Before) == strings.TrimSpace(cl.After) || strings.Join(bt, " ") == strings.Join(at, " ") && bprefix == aprefix && !caseOnly(cl.Before, cl.After) {
			res.Unmatched = append(res.Unmatched, cl)
			continue
		}
		oSpans := occurrences(orig, bt, bprefix)
		cSpans := occurrences(cor, at, aprefix)
		afterOnly := len(oSpans) == 0 && (len(bt) == 0 || hasHangul(cl.Before))
		beforeOnly := len(cSpans) == 0 && len(at) == 0
		if len(oSpans) == 0 && !afterOnly || len(cSpans) == 0 && !beforeOnly {
			res.Unmatched = append(res.Unmatched, cl)
			continue
		}
		for k, e := range edits {
			oHit := afterOnly || anyOverlap(oSpans, e.OStart, e.OEnd)
			cHit := beforeOnly || anyOverlap(cSpans, e.CStart, e.CEnd)
			if oHit && cHit {
				covered[k] = true
				if res.Matched[i] < 0 {
					res.Matched[i] = k
				}
			}
		}
		if res.Matched[i] < 0 {
			res.Unmatched = append(res.Unmatched, cl)
		}
	}
	if len(edits) > 0 {
		n := 0
		for _, c := range covered {
			if c {
				n++
			}
		}
		res.Coverage = float64(n) / float64(len(edits))
	}
	return res
}

type span struct{ s, e int }

// anyOverlap reports whether the edit span [es, ee) overlaps one of spans; an empty edit span (an
// insertion point) overlaps a span it touches.
func anyOverlap(spans []span, es, ee int) bool {
	for _, sp := range spans {
		if es == ee {
			if sp.s <= es && es <= sp.e {
				return true
			}
			continue
		}
		if sp.s < ee && es < sp.e || sp.s == sp.e && es <= sp.s && sp.s <= ee {
			return true
		}
	}
	return false
}

// occurrences returns every span of toks equal to pat, or starting with pat when prefix is set.
// An empty pattern occurs nowhere.
func occurrences(toks, pat []string, prefix bool) []span {
	var out []span
	if len(pat) == 0 {
		return nil
	}
outer:
	for i := 0; i+len(pat) <= len(toks); i++ {
		for k, p := range pat {
			if toks[i+k] != p {
				continue outer
			}
		}
		end := i + len(pat)
		if prefix {
			// The elided rest runs to the end of the sentence.
			end = len(toks)
			for j := i + len(pat); j < len(toks); j++ {
				if toks[j] == "." || toks[j] == "!" || toks[j] == "?" {
					end = j + 1
					break
				}
			}
		}
		out = append(out, span{i, end})
	}
	return out
}

// claimToks tokenises a claim text for matching; a trailing ellipsis makes it a prefix.
func claimToks(s string) ([]string, bool) {
	s = strings.TrimSpace(s)
	prefix := false
	for {
		t := strings.TrimSpace(strings.TrimSuffix(strings.TrimSuffix(s, "..."), "…"))
		if t == s {
			break
		}
		s, prefix = t, true
	}
	return normToks(Tokenize(s)), prefix
}

// normToks lowercases tokens and folds every quote mark to '"' and ’ to '.
func normToks(toks []string) []string {
	out := make([]string, len(toks))
	for i, t := range toks {
		r, size := utf8.DecodeRuneInString(t)
		if size == len(t) && isQuote(r) {
			out[i] = `"`
			continue
		}
		out[i] = strings.ReplaceAll(strings.ToLower(t), "’", "'")
	}
	return out
}

func hasHangul(s string) bool {
	for _, r := range s {
		if isHangul(r) {
			return true
		}
	}
	return false
}

// caseOnly reports whether two claim texts differ in letter case alone.
func caseOnly(a, b string) bool {
	a, b = strings.TrimSpace(a), strings.TrimSpace(b)
	return a != b && strings.EqualFold(a, b)
}
