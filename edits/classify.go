package edits

import "strings"

// Classify sets e.Type from the tokens of e's spans in orig and cor and their context, following
// ERRANT's classifier with word lists and suffix rules in place of a tagger: the operation (M missing,
// U unnecessary, R replaced) then PUNCT, ORTH, SPELL, WO, CONTR, DET, PREP, PRON, CONJ, PART,
// VERB:SVA, VERB:TENSE, VERB:FORM, NOUN:NUM, NOUN:POSS, ADJ:FORM, MORPH, the open classes NOUN, VERB,
// ADJ, ADV, or OTHER when the evidence allows nothing narrower. An edit that changes nothing is "UNK".
// Spans outside the token lists are clamped.
func Classify(orig, cor []string, e *Edit) {
	a := alignerPool.Get().(*aligner)
	defer alignerPool.Put(a)
	a.reset(orig, cor)
	x := *e
	x.OStart, x.OEnd = clamp(x.OStart, len(orig)), clamp(x.OEnd, len(orig))
	x.CStart, x.CEnd = clamp(x.CStart, len(cor)), clamp(x.CEnd, len(cor))
	if x.OEnd < x.OStart {
		x.OEnd = x.OStart
	}
	if x.CEnd < x.CStart {
		x.CEnd = x.CStart
	}
	e.Type = a.classify(&x)
}

func clamp(v, n int) int {
	if v < 0 {
		return 0
	}
	if v > n {
		return n
	}
	return v
}

// label is the ERRANT category named by a word class; rare classes have none.
func (c class) label() string {
	switch c {
	case cNoun:
		return "NOUN"
	case cVerb, cAux:
		return "VERB"
	case cAdj:
		return "ADJ"
	case cAdv:
		return "ADV"
	case cDet:
		return "DET"
	case cPron:
		return "PRON"
	case cAdp:
		return "PREP"
	case cConj:
		return "CONJ"
	case cPart:
		return "PART"
	case cPunct:
		return "PUNCT"
	}
	return ""
}

// labelClass folds AUX into VERB, as ERRANT's POS map does.
func labelClass(c class) class {
	if c == cAux {
		return cVerb
	}
	return c
}

func (a *aligner) classify(e *Edit) string {
	o0, o1, c0, c1 := e.OStart, e.OEnd, e.CStart, e.CEnd
	for {
		no, nc := o1-o0, c1-c0
		switch {
		case no == 0 && nc == 0:
			return "UNK"
		case no == 0:
			return typeName("M:", a.oneSided(a.c, c0, c1))
		case nc == 0:
			return typeName("U:", a.oneSided(a.o, o0, o1))
		}
		if joinEqual(a.o[o0:o1], a.c[c0:c1]) {
			return "UNK"
		}
		// A case change at the end of a multi-token edit is classified without its last token:
		// [Doctor -> The doctor] is M:DET, [, since -> . Since] is R:PUNCT.
		if a.o[o1-1].low == a.c[c1-1].low && (no > 1 || nc > 1) {
			o1--
			c1--
			continue
		}
		return typeName("R:", a.twoSided(o0, o1, c0, c1))
	}
}

func joinEqual(x, y []tok) bool {
	if len(x) != len(y) {
		return false
	}
	for i := range x {
		if x[i].text != y[i].text {
			return false
		}
	}
	return true
}

// oneSided types a span only one side has, ts[s:e], in the context of its own sentence.
func (a *aligner) oneSided(ts []tok, s, e int) string {
	if e-s == 1 {
		t := &ts[s]
		if a.possessive(ts, s) {
			return "NOUN:POSS"
		}
		if contractions[t.low] {
			return "CONTR"
		}
		if t.low == "to" && s+1 < len(ts) && a.verbRole(ts, s+1) && baseLike(ts[s+1].feat()) {
			return "VERB:FORM"
		}
		if isParticle(t.low) && s > 0 && (s+1 == len(ts) || !startsNounPhrase(ts[s+1].feat().cls)) {
			// A particle closing a phrasal verb: try them [out].
			return "PART"
		}
	}
	var set uint32
	allAux := true
	for k := s; k < e; k++ {
		c := a.clsAt(ts, k)
		set |= 1 << labelClass(c)
		allAux = allAux && c == cAux
	}
	// Modals, and auxiliaries before a verb, are tense: [will] go, [have] been.
	if allAux && (isModal(ts[s].low) || e < len(ts) && a.nextIsVerb(ts, e)) {
		return "VERB:TENSE"
	}
	if set&(set-1) == 0 {
		for c := class(0); c <= cOther; c++ {
			if set == 1<<c {
				if l := c.label(); l != "" {
					return l
				}
			}
		}
	}
	if set == 1<<cPart|1<<cVerb {
		return "VERB"
	}
	return "OTHER"
}

func isModal(low string) bool {
	switch low {
	case "will", "would", "can", "could", "shall", "should", "may", "might", "must", "'ll", "’ll", "wo", "ca":
		return true
	}
	return false
}

func startsNounPhrase(c class) bool {
	return c == cDet || c == cNoun || c == cPron || c == cAdj || c == cNum
}

// nextIsVerb reports whether a verb follows ts[k-1], skipping adverbs and negation.
func (a *aligner) nextIsVerb(ts []tok, k int) bool {
	for ; k < len(ts); k++ {
		w := ts[k].feat()
		switch {
		case w.cls == cAdv || ts[k].low == "not" || ts[k].low == "n't":
			continue
		case w.cls == cVerb || w.cls == cAux:
			return true
		case !w.known && w.cls == cNoun && verbForm(w, ts[k].low) != vfZ && verbForm(w, ts[k].low) != vfBase:
			return true
		}
		return false
	}
	return false
}

func baseLike(w *word) bool { return w.vf == vfBase || w.vf == vfNone && w.cls == cVerb }

func (a *aligner) twoSided(o0, o1, c0, c1 int) string {
	ot, ct := a.o[o0:o1], a.c[c0:c1]
	if onlyOrth(ot, ct) {
		return "ORTH"
	}
	if a.exactReordering(ot, ct) {
		return "WO"
	}
	if len(ot) == 1 && len(ct) == 1 {
		return a.oneToOne(o0, c0)
	}
	var oset, cset uint32
	allAux := true
	for k := o0; k < o1; k++ {
		c := a.clsAt(a.o, k)
		oset |= 1 << labelClass(c)
		allAux = allAux && c == cAux
	}
	for k := c0; k < c1; k++ {
		c := a.clsAt(a.c, k)
		cset |= 1 << labelClass(c)
		allAux = allAux && c == cAux
	}
	set := oset | cset
	lastSame := ot[len(ot)-1].feat().lemma == ct[len(ct)-1].feat().lemma
	if allAux {
		return "VERB:TENSE"
	}
	if set&(set-1) == 0 {
		if set == 1<<cVerb && lastSame {
			return "VERB:TENSE"
		}
		for c := class(0); c <= cOther; c++ {
			if set == 1<<c {
				if l := c.label(); l != "" {
					return l
				}
			}
		}
	}
	if set == 1<<cPart|1<<cVerb {
		if lastSame {
			return "VERB:FORM"
		}
		return "VERB"
	}
	// Possessive nouns: [friends -> friend 's].
	if (len(ot) == 2 && a.possessive(a.o, o0+1) || len(ct) == 2 && a.possessive(a.c, c0+1)) &&
		ot[0].feat().lemma == ct[0].feat().lemma {
		return "NOUN:POSS"
	}
	// Adjective forms with more/most: [more free -> freer].
	if (ot[0].low == "more" || ot[0].low == "most" || ct[0].low == "more" || ct[0].low == "most") &&
		len(ot) <= 2 && len(ct) <= 2 && sameAdjLemma(ot[len(ot)-1].low, ct[len(ct)-1].low) {
		return "ADJ:FORM"
	}
	return "OTHER"
}

// onlyOrth reports a change of case or spacing only: [Hello -> hello], [a lot -> alot].
func onlyOrth(x, y []tok) bool {
	var bx, by strings.Builder
	for _, t := range x {
		bx.WriteString(t.low)
	}
	for _, t := range y {
		by.WriteString(t.low)
	}
	return bx.String() == by.String()
}

func (a *aligner) exactReordering(x, y []tok) bool {
	if len(x) != len(y) || len(x) < 2 {
		return false
	}
	return a.sameMultiset(x, y)
}

func (a *aligner) oneToOne(oi, ci int) string {
	ot, ct := &a.o[oi], &a.c[ci]
	ow, cw := ot.feat(), ct.feat()
	oc, cc := a.roleClass(a.o, oi), a.roleClass(a.c, ci)
	if oc == cPart && cc == cPart && a.possessive(a.o, oi) && a.possessive(a.c, ci) {
		return "NOUN:POSS"
	}
	if (contractions[ot.low] || contractions[ct.low]) && labelClass(oc) == labelClass(cc) {
		return "CONTR"
	}
	if full, ok := auxContractions[ot.low]; ok {
		if full == ct.low {
			return "CONTR"
		}
		return "VERB:TENSE"
	}
	if full, ok := auxContractions[ct.low]; ok {
		if full == ot.low {
			return "CONTR"
		}
		return "VERB:TENSE"
	}
	if (ot.low == "was" && ct.low == "were") || (ot.low == "were" && ct.low == "was") {
		return "VERB:SVA"
	}
	if oc == cPunct && cc == cPunct {
		return "PUNCT"
	}
	sameLemma := ow.lemma == cw.lemma
	if sameAdjLemma(ot.low, ct.low) && (oc == cAdj || cc == cAdj || !ow.known || !cw.known) {
		return "ADJ:FORM"
	}
	// Spelling and inflection errors take precedence when the original is no English word.
	if isAlpha(ot.text) && !inDict(ot.low) {
		if sameLemma && regularInflection(ot.low, ct.low, cw) {
			switch {
			case oc == cc && (oc == cNoun || oc == cVerb):
				return labelClass(oc).label() + ":INFL"
			case cw.plur || cw.cls == cNoun && plural(cw, ct.low):
				return "NOUN:INFL"
			}
			return "MORPH"
		}
		if sim := levSimilarity(ot.low, ct.low); sim > 0.55 || sim > 0.5 && len(ot.low) > 3 {
			return "SPELL"
		}
	}
	if sameLemma && oc != cPunct {
		if t := a.inflection(oi, ci); t != "" {
			return t
		}
	}
	// Derivational morphology: [success -> successful], [quick -> quickly].
	if oc.open() && cc.open() && derived(ot.low, ct.low) {
		return "MORPH"
	}
	if oc == cAux && cc == cAux {
		// Auxiliaries of different lemmas are tense; a copula or "have" as main verb is VERB.
		if a.nextIsVerb(a.c, ci+1) || a.nextIsVerb(a.o, oi+1) {
			return "VERB:TENSE"
		}
		return "VERB"
	}
	if labelClass(oc) == labelClass(cc) {
		if l := labelClass(oc).label(); l != "" {
			return l
		}
	}
	// Determiner and pronoun: a possessive correction is DET, a pronoun one PRON.
	if (oc == cDet || oc == cPron) && (cc == cDet || cc == cPron) {
		switch ct.low {
		case "my", "your", "his", "her", "its", "our", "their":
			return "DET"
		}
		if cc == cPron && personalPronoun(ct.low) {
			return "PRON"
		}
	}
	if (oc == cPart || oc == cAdp) && (cc == cPart || cc == cAdp) {
		return "PART"
	}
	// Unknown words that are neither closed-class nor listed read as the class of the known side.
	if !ow.known && cc.open() && oc.open() {
		return labelClass(cc).label()
	}
	return "OTHER"
}

// inflection types a 1:1 replacement between two forms of one lemma; "" when no rule applies.
func (a *aligner) inflection(oi, ci int) string {
	ot, ct := &a.o[oi], &a.c[ci]
	ow, cw := ot.feat(), ct.feat()
	closed := func(c class) bool { return c >= cDet && c != cPart }
	if closed(a.clsAt(a.o, oi)) || closed(a.clsAt(a.c, ci)) {
		return ""
	}
	verb := ow.cls == cAux || cw.cls == cAux
	if !verb {
		verb = a.verbRole(a.o, oi)
	}
	if !verb {
		// Nouns take no -ed, and a known verb's -ing form after a subject is a verb.
		ovf, cvf := verbForm(ow, ot.low), verbForm(cw, ct.low)
		verb = ovf == vfDN || cvf == vfDN || ovf == vfD || cvf == vfD || ovf == vfN || cvf == vfN
	}
	ovf, cvf := verbForm(ow, ot.low), verbForm(cw, ct.low)
	if !verb && (ovf == vfG || cvf == vfG) && !a.nominalContext(a.o, oi) {
		// A gerund after a preposition or verb: than [take -> taking].
		return "VERB:FORM"
	}
	if !verb {
		if ow.cls == cAdj && cw.cls == cAdj {
			return "ADJ:FORM"
		}
		if ow.cls != cw.cls && (ow.cls == cAdj || ow.cls == cAdv || cw.cls == cAdj || cw.cls == cAdv) {
			// Same lemma, different class: [especial -> especially], [others -> other].
			return "MORPH"
		}
		if op, cp := plural(ow, ot.low), plural(cw, ct.low); op == cp && op && !ow.known && cw.plur {
			// A regular plural of an irregular noun: childs -> children.
			return "NOUN:INFL"
		}
		// Two nouns of one lemma are a number change to ERRANT, even my [cook -> cooking].
		return "NOUN:NUM"
	}
	if a.precededByAux(a.o, oi) || a.precededByAux(a.c, ci) {
		return "VERB:FORM"
	}
	if ovf == vfG || cvf == vfG || ovf == vfN || cvf == vfN {
		return "VERB:FORM"
	}
	if ovf == vfD || cvf == vfD || ovf == vfDN || cvf == vfDN {
		return "VERB:TENSE"
	}
	if ovf == vfZ || cvf == vfZ {
		return "VERB:SVA"
	}
	if ow.cls == cAux && cw.cls == cAux {
		return "VERB:TENSE"
	}
	return "MORPH"
}

func plural(w *word, low string) bool {
	if w.plur {
		return true
	}
	if w.known && w.cls == cNoun {
		return false
	}
	n := len(low)
	return n > 3 && low[n-1] == 's' && low[n-2] != 's' && low[n-2] != 'u' && low[n-2] != 'i'
}

func verbForm(w *word, low string) vform {
	if w.vf != vfNone {
		return w.vf
	}
	n := len(low)
	switch {
	case n > 4 && strings.HasSuffix(low, "ing") && hasVowel(low[:n-3]):
		return vfG
	case n > 3 && strings.HasSuffix(low, "ed"):
		return vfDN
	case n > 2 && low[n-1] == 's' && low[n-2] != 's':
		return vfZ
	}
	return vfBase
}

// verbRole guesses from the left context whether ts[i] is used as a verb: after a subject pronoun,
// auxiliary, "to" or a noun it is; after a determiner, adjective, number, preposition or verb it is not.
func (a *aligner) verbRole(ts []tok, i int) bool {
	w := ts[i].feat()
	k := i - 1
	for k >= 0 && (ts[k].feat().cls == cAdv) {
		k--
	}
	if k < 0 {
		return w.cls == cVerb || w.cls == cAux
	}
	p := &ts[k]
	switch p.low {
	case "i", "you", "he", "she", "it", "we", "they", "who", "that", "which", "to", "not", "n't", "people", "everyone", "someone", "nobody", "everybody":
		return true
	}
	switch a.clsAt(ts, k) {
	case cDet, cAdj, cNum, cAdp, cVerb, cPart:
		return false
	case cAux, cPron:
		return true
	case cNoun:
		// Nouns stack up (telephone number); only a known verb reads as the noun's verb.
		return w.cls == cVerb || w.cls == cAux
	case cPunct, cConj:
		return w.cls == cVerb || w.cls == cAux
	}
	return w.cls == cVerb
}

// precededByAux reports whether an auxiliary, modal or infinitival "to" comes before ts[i], skipping
// adverbs, negation and a subject pronoun in questions.
func (a *aligner) precededByAux(ts []tok, i int) bool {
	if ts[i].feat().cls == cAux {
		return false
	}
	for k := i - 1; k >= 0 && k >= i-3; k-- {
		w := ts[k].feat()
		switch {
		case w.cls == cAdv || ts[k].low == "not" || ts[k].low == "n't":
			continue
		case w.cls == cAux || ts[k].low == "to":
			return true
		}
		return false
	}
	return false
}

func sameAdjLemma(x, y string) bool {
	if x == y {
		return false
	}
	for _, s := range []string{"er", "est", "r", "st"} {
		if strings.HasSuffix(x, s) && x[:len(x)-len(s)] == y || strings.HasSuffix(y, s) && y[:len(y)-len(s)] == x {
			return len(x) > 3 && len(y) > 3
		}
	}
	return false
}

// derived reports a shared stem of at least four letters with only a derivational suffix apart:
// the shorter word (less a final e) starts the longer, or they part in the last four letters.
func derived(x, y string) bool {
	n := 0
	for n < len(x) && n < len(y) && x[n] == y[n] {
		n++
	}
	if n < 4 {
		return false
	}
	short := min(len(x), len(y))
	return n >= short-1 || n >= len(x)-4 && n >= len(y)-4
}

func personalPronoun(low string) bool {
	switch low {
	case "i", "me", "you", "he", "him", "she", "her", "it", "we", "us", "they", "them", "this", "that", "these", "those", "who", "whom", "which":
		return true
	}
	return false
}

func isAlpha(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isLetterByte(s[i]) {
			return false
		}
	}
	return s != ""
}

// levSimilarity is 1 - Levenshtein distance / longer length.
func levSimilarity(x, y string) float64 {
	if len(x) == 0 && len(y) == 0 {
		return 1
	}
	if len(x) > 64 || len(y) > 64 {
		return 0
	}
	var row [65]int
	for j := 0; j <= len(y); j++ {
		row[j] = j
	}
	for i := 1; i <= len(x); i++ {
		prev := row[0]
		row[0] = i
		for j := 1; j <= len(y); j++ {
			cur := row[j]
			best := prev
			if x[i-1] != y[j-1] {
				best = min(prev, row[j], row[j-1]) + 1
			}
			row[j] = best
			prev = cur
		}
	}
	return 1 - float64(row[len(y)])/float64(max(len(x), len(y)))
}

// roleClass is clsAt with a verb's base or -s form read as a noun where the left context calls for
// one: a [travel], their [works].
func (a *aligner) roleClass(ts []tok, i int) class {
	c := a.clsAt(ts, i)
	w := ts[i].feat()
	switch {
	case c == cVerb && (w.vf == vfBase || w.vf == vfZ) && a.nominalContext(ts, i):
		return cNoun
	case c == cNoun && !w.known && !a.nominalContext(ts, i) && a.verbRole(ts, i):
		// An unlisted word after a subject pronoun or auxiliary: I always [copy].
		return cVerb
	}
	return c
}

// nominalContext reports whether a determiner, possessive, adjective or number comes right before
// ts[i] (adverbs skipped): the slot of a noun.
func (a *aligner) nominalContext(ts []tok, i int) bool {
	k := i - 1
	for k >= 0 && ts[k].feat().cls == cAdv {
		k--
	}
	if k < 0 {
		return false
	}
	switch a.clsAt(ts, k) {
	case cDet, cAdj, cNum:
		return true
	case cPart:
		return a.possessive(ts, k)
	}
	return false
}

// regularInflection reports whether o is c's lemma plus a regular suffix (childs -> children,
// goed -> went), as opposed to a misspelling that merely shares a stem (faire -> fairs).
func regularInflection(o, c string, cw *word) bool {
	bases := [3]string{c, "", ""}
	if cw.known {
		if l, ok := lexiconLemma(c); ok {
			bases[1] = l
		}
	}
	for _, b := range []string{"s", "es", "ed", "d", "ing"} {
		if strings.HasSuffix(c, b) && len(c) > len(b)+2 {
			bases[2] = c[:len(c)-len(b)]
			break
		}
	}
	for _, sfx := range []struct{ cut, add string }{{"s", ""}, {"es", ""}, {"ies", "y"}, {"ed", ""}, {"d", ""}, {"ied", "y"}, {"ing", ""}, {"ing", "e"}} {
		if !strings.HasSuffix(o, sfx.cut) || len(o) < len(sfx.cut)+2 {
			continue
		}
		cand := o[:len(o)-len(sfx.cut)] + sfx.add
		for _, b := range bases {
			if b != "" && cand == b {
				return true
			}
		}
	}
	return false
}

// typeNames holds every "OP:CAT" label, so typing an edit allocates nothing.
var typeNames = func() map[string]map[string]string {
	cats := strings.Fields("PUNCT ORTH SPELL WO CONTR DET PREP PRON CONJ PART VERB VERB:SVA VERB:TENSE VERB:FORM VERB:INFL NOUN NOUN:NUM NOUN:POSS NOUN:INFL ADJ ADJ:FORM ADV MORPH OTHER")
	m := map[string]map[string]string{}
	for _, op := range []string{"M:", "U:", "R:"} {
		m[op] = map[string]string{}
		for _, c := range cats {
			m[op][c] = op + c
		}
	}
	return m
}()

func typeName(op, cat string) string {
	if t, ok := typeNames[op][cat]; ok {
		return t
	}
	return op + cat
}
