package edits

// process appends to a.out the edits made from a run of adjacent D, I and S steps, merging and
// splitting them by ERRANT's rules (errant/en/merger.py), with guessed word classes for POS tags.
func (a *aligner) process(seq []step) {
	if len(seq) == 0 {
		return
	}
	if len(seq) == 1 {
		a.out = append(a.out, seq[0])
		return
	}
	allD, allI := true, true
	for _, s := range seq {
		allD = allD && s.op == 'D'
		allI = allI && s.op == 'I'
	}
	// Most human multi-token edits contain a substitution: merge pure deletions or insertions. A run
	// that replaces Korean is one code-switch edit, however its words happen to align.
	if allD || allI || a.hasHangul(seq) {
		a.merge(seq)
		return
	}
	// A word change with a punctuation mark added right after it is one edit to annotators:
	// [goald -> goal .].
	if len(seq) == 2 && seq[0].op == 'S' && seq[1].op == 'I' && a.c[seq[1].c0].feat().cls == cPunct {
		a.merge(seq)
		return
	}
	content := false
	L := len(seq)
	for size := L - 1; size >= 1; size-- {
		for start := 0; start+size < L; start++ {
			end := start + size
			hasS := false
			for _, s := range seq[start : end+1] {
				if s.op == 'S' {
					hasS = true
					break
				}
			}
			if !hasS {
				continue
			}
			oa, ob := seq[start].o0, seq[end].o1
			ca, cb := seq[start].c0, seq[end].c1
			no, nc := ob-oa, cb-ca
			// Possessive suffix first: [friends -> friend 's] keeps its first step apart.
			if start == 0 && (no > 0 && a.possessive(a.o, oa) || nc > 0 && a.possessive(a.c, ca)) {
				a.out = append(a.out, seq[0])
				a.process(seq[1:])
				return
			}
			if no > 0 && a.possessive(a.o, ob-1) || nc > 0 && a.possessive(a.c, cb-1) {
				a.process(seq[:end-1])
				a.merge(seq[end-1 : end+1])
				a.process(seq[end+1:])
				return
			}
			// Case changes, except i -> I, which needs no sentence boundary to happen.
			if no > 0 && nc > 0 && a.o[ob-1].low == a.c[cb-1].low && !(a.o[ob-1].text == "i" && a.c[cb-1].text == "I") {
				// Merge a first-token insertion or deletion: [Cat -> The big cat].
				if start == 0 && (no == 1 && isUpperStart(a.c[ca].text) || nc == 1 && isUpperStart(a.o[oa].text)) {
					a.merge(seq[start : end+1])
					a.process(seq[end+1:])
					return
				}
				// Merge with previous punctuation: [, we -> . We], [we -> . We].
				if no > 1 && a.o[ob-2].feat().cls == cPunct || nc > 1 && a.c[cb-2].feat().cls == cPunct {
					a.process(seq[:end-1])
					a.merge(seq[end-1 : end+1])
					a.process(seq[end+1:])
					return
				}
			}
			// Whitespace and hyphens: [acat -> a cat], [sub - way -> subway].
			// Only when the spacing changed: case changes of several words stay apart.
			if no != nc && sameIgnoringJoiners(a.o[oa:ob], a.c[ca:cb]) {
				a.process(seq[:start])
				a.merge(seq[start : end+1])
				a.process(seq[end+1:])
				return
			}
			// Same class, or auxiliary/infinitive/phrasal verbs: [to eat -> eating], [watch -> look at].
			var set uint32
			for k := oa; k < ob; k++ {
				set |= 1 << a.clsAt(a.o, k)
			}
			for k := ca; k < cb; k++ {
				set |= 1 << a.clsAt(a.c, k)
			}
			const verbal = 1<<cAux | 1<<cPart | 1<<cVerb
			if no != nc && (set&(set-1) == 0 || set&^verbal == 0) {
				a.process(seq[:start])
				a.merge(seq[start : end+1])
				a.process(seq[end+1:])
				return
			}
			// Split rules apply to the smallest chunks.
			if end-start < 2 {
				// Split adjacent substitutions.
				if no == 2 && nc == 2 {
					a.process(seq[:start+1])
					a.process(seq[start+1:])
					return
				}
				// Split similar substitutions at sequence boundaries.
				if seq[start].op == 'S' && charRatio(a.o[oa].text, a.c[ca].text) > 0.75 ||
					seq[end].op == 'S' && charRatio(a.o[ob-1].text, a.c[cb-1].text) > 0.75 {
					a.process(seq[:start+1])
					a.process(seq[start+1:])
					return
				}
				// Split final determiners.
				last := seq[L-1].op
				if end == L-1 && ((last == 'D' || last == 'S') && a.clsAt(a.o, ob-1) == cDet ||
					(last == 'I' || last == 'S') && a.clsAt(a.c, cb-1) == cDet) {
					a.process(seq[:L-1])
					a.out = append(a.out, seq[L-1])
					return
				}
			}
			const openSet = 1<<cAdj | 1<<cAux | 1<<cAdv | 1<<cNoun | 1<<cVerb
			if set&openSet != 0 {
				content = true
			}
		}
	}
	if content {
		a.merge(seq)
		return
	}
	a.out = append(a.out, seq...)
}

func (a *aligner) hasHangul(seq []step) bool {
	for _, s := range seq {
		for k := s.o0; k < s.o1; k++ {
			if a.o[k].feat().cls == cOther && hasHangul(a.o[k].text) {
				return true
			}
		}
	}
	return false
}

func (a *aligner) merge(seq []step) {
	if len(seq) == 0 {
		return
	}
	a.out = append(a.out, step{'X', seq[0].o0, seq[len(seq)-1].o1, seq[0].c0, seq[len(seq)-1].c1})
}

// clsAt is the class of ts[i], with a possessive 's or ' counted as a particle (spaCy's PART).
func (a *aligner) clsAt(ts []tok, i int) class {
	if a.possessive(ts, i) {
		return cPart
	}
	w := ts[i].feat()
	switch {
	case ts[i].low == "that" && i+1 < len(ts):
		// spaCy 2 tags demonstrative and relative "that" DT/WDT (DET) and the complementiser IN
		// (ADP): that [he] left, that [the] bus.
		if n := ts[i+1].feat(); n.cls == cPron || n.cls == cDet || n.cls == cAdp {
			return cAdp
		}
		return cDet
	case ts[i].low == "like" && i > 0:
		// "like" after a subject is the verb: they [like] it.
		if a.verbRole(ts, i) {
			return cVerb
		}
	case i > 0 && isParticle(ts[i].low):
		// Phrasal-verb particles (RP): pick [up], find [out].
		if p := ts[i-1].feat(); p.cls == cVerb || p.cls == cAux {
			return cPart
		}
	case ts[i].low == "to" && i+1 < len(ts):
		// Infinitival "to" is a particle, as spaCy tags it.
		if n := ts[i+1].feat(); (n.cls == cVerb || n.cls == cAux) && n.vf == vfBase {
			return cPart
		}
	case !w.known && w.cls == cNoun && i > 0:
		// An unlisted word after "to" or a modal is a verb: to swim, can cook.
		if p := ts[i-1].feat(); ts[i-1].low == "to" || p.cls == cAux && p.lemma != "b" && p.lemma != "hav" {
			return cVerb
		}
	}
	return w.cls
}

// possessive guesses whether ts[i] is a possessive suffix ('s after a noun, ' after a plural).
func (a *aligner) possessive(ts []tok, i int) bool {
	low := ts[i].low
	if i == 0 {
		return false
	}
	switch low {
	case "'s", "’s":
		prev := ts[i-1].feat()
		switch ts[i-1].low {
		case "that", "what", "there", "here", "where", "who", "how", "let", "this", "it", "he", "she", "everything", "nothing", "something", "everyone", "one":
			return false
		}
		return prev.cls == cNoun || prev.cls == cOther && !isPunctToken(ts[i-1].low)
	case "'", "’":
		p := ts[i-1].low
		return len(p) > 1 && p[len(p)-1] == 's' && ts[i-1].feat().cls == cNoun
	}
	return false
}

func isUpperStart(s string) bool { return s != "" && s[0] >= 'A' && s[0] <= 'Z' }

// sameIgnoringJoiners reports whether x and y spell the same lowercase letters once spaces,
// apostrophes and hyphens are removed.
func sameIgnoringJoiners(x, y []tok) bool {
	i, j := 0, 0
	xi, yi := 0, 0 // byte offsets within x[i], y[j]
	next := func(ts []tok, k, off *int) (byte, bool) {
		for *k < len(ts) {
			s := ts[*k].low
			for *off < len(s) {
				b := s[*off]
				*off++
				if b != '\'' && b != '-' {
					return b, true
				}
			}
			*k++
			*off = 0
		}
		return 0, false
	}
	for {
		bx, okx := next(x, &i, &xi)
		by, oky := next(y, &j, &yi)
		if okx != oky {
			return false
		}
		if !okx {
			return true
		}
		if bx != by {
			return false
		}
	}
}

func isParticle(low string) bool {
	switch low {
	case "up", "out", "off", "down", "away", "back":
		return true
	}
	return false
}
