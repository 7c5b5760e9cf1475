package mistakes

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// find lists every place in t where an error of kind k fits, in text order. It draws from rng only
// where a site has several possible errors, so the list is deterministic for a seed.
func (t *text) find(k Kind, rng *rand.Rand) []candidate {
	var out []candidate
	ctxL, ctxR := 0, 0 // context the point quotes at least, set before add
	add := func(s, e int, repl []string, typ, why string, ctx ...int) {
		c := candidate{kind: k, s: s, e: e, repl: repl, typ: typ, why: why, ctxL: ctxL, ctxR: ctxR}
		if len(ctx) == 2 {
			c.ctxL, c.ctxR = ctx[0], ctx[1]
		}
		out = append(out, c)
	}
	n := len(t.toks)
	for i := 0; i < n; i++ {
		w := t.low[i]
		ctxL, ctxR = 0, 0
		switch k {
		case Article:
			if w == "a" || w == "an" || w == "the" || articleless[t.toks[i]] {
				ctxR = 1
			}
			t.articleSites(i, rng, add)
		case SVA:
			if ref, ok := verbIndex[w]; ok && t.lower(i) && (ref.form == formZ || w == "was") {
				if subj, at := t.subjectOf(i); thirdPersonPronouns[subj] || personNouns[subj] {
					ctxL = i - at
					wrong := ref.v.base
					switch w {
					case "is":
						wrong = "are"
					case "was":
						wrong = "were"
					}
					right := t.toks[i]
					if i+1 < n && t.low[i+1] == "n't" {
						right += "n't"
					}
					add(i, i+1, []string{wrong}, "R:VERB:SVA",
						fmt.Sprintf("주어와 동사의 수 일치 오류 (3인칭 단수 주어에는 %s)", right))
				}
			}
		case Tense:
			ref, ok := verbIndex[w]
			if !ok || ref.form != formPast || !t.lower(i) {
				continue
			}
			subj, at := t.subjectOf(i)
			if subj == "" {
				continue
			}
			ctxL = i - at
			present := ref.v.base
			switch {
			case thirdPersonPronouns[subj] || personNouns[subj]:
				present = ref.v.z
			case ref.v.base == "be" && subj == "i":
				present = "am"
			case ref.v.base == "be":
				present = "are"
			}
			if present == w || present == "am" && i+1 < n && t.low[i+1] == "n't" {
				continue
			}
			right := t.toks[i]
			if i+1 < n && t.low[i+1] == "n't" {
				right += "n't"
			}
			add(i, i+1, []string{present}, "R:VERB:TENSE", fmt.Sprintf("시제 오류 (지나간 일에는 과거형 %s)", right))
		case NounNumber:
			if i > 0 && quantifiers[t.low[i-1]] {
				ctxL = 1
			}
			t.nounSites(i, add)
		case Preposition:
			ctxL = 1
			t.prepSites(i, rng, add)
		case VerbForm:
			ctxL = 1
			t.verbFormSites(i, rng, add)
		case WordOrder:
			ctxL = 1
			if frequencyAdverbs[w] && t.lower(i) && !t.sentenceStart(i) && i+1 < n {
				if ref, ok := verbIndex[t.low[i+1]]; ok && !auxiliary(ref.v.base) && t.lower(i+1) && i+2 < n && isWord(t.low[i+2]) {
					add(i, i+2, []string{t.toks[i+1], t.toks[i]}, "R:WO", fmt.Sprintf("어순 오류 (부사 %s은(는) 일반동사 앞에 옴)", w))
				}
			}
			if w == "really" && t.lower(i) && i > 0 && i+2 < n {
				if ref, ok := verbIndex[t.low[i+1]]; ok && emotionVerbs[ref.v.base] {
					add(i, i+1, []string{"very"}, "R:ADV", "부사 오류 (very는 동사를 꾸미지 못하므로 really를 씀)", 0, 1)
				}
			}
			if i > 0 && i+2 < n && t.low[i+1] == "very" && t.low[i+2] == "much" && t.isObject(i) {
				if _, ok := verbIndex[t.low[i-1]]; ok {
					add(i, i+3, []string{t.toks[i+1], t.toks[i+2], t.toks[i]}, "R:WO", "어순 오류 (very much는 목적어 뒤에 옴)")
				}
			}
		case Spelling:
			if len(w) >= 5 && t.lower(i) && isWord(w) && !strings.ContainsAny(w, "'-") && !functionWords[w] {
				if slip := misspell(w, rng); slip != "" {
					add(i, i+1, []string{slip}, "R:SPELL", fmt.Sprintf("철자 오류 (바른 철자는 %s)", w))
				}
			}
		case Orthography:
			t.orthSites(i, add)
		case CodeSwitch:
			ko, ok := connectives[w]
			if !ok || !(t.sentenceStart(i) && !t.lower(i) || i > 0 && t.low[i-1] == "," && t.lower(i)) || i+1 >= n {
				continue
			}
			if w == "and" && !t.sentenceStart(i) {
				continue // "apples, and pears" is a list, not a clause connective
			}
			add(i, i+1, strings.Fields(ko[rng.IntN(len(ko))]), "R:OTHER",
				fmt.Sprintf("영어 글에 한국어 접속사가 섞임 (영어로는 %s)", t.toks[i]))
		}
	}
	return out
}

// addFunc records a candidate; ctx, when given, is the context the point quotes at least, left
// and right.
type addFunc func(s, e int, repl []string, typ, why string, ctx ...int)

func (t *text) articleSites(i int, rng *rand.Rand, add addFunc) {
	n := len(t.toks)
	w := t.low[i]
	if (w == "a" || w == "an" || w == "the") && t.lower(i) && i > 0 && !t.sentenceStart(i) && i+1 < n &&
		isWord(t.toks[i+1]) && t.lower(i+1) && !articleFixed[t.low[i+1]] {
		next := t.low[i+1]
		type option struct {
			repl []string
			typ  string
			why  string
		}
		opts := []option{{nil, "M:DET", "관사 누락 (셀 수 있는 단수 명사 앞에는 a/an이 필요)"}}
		if w == "the" {
			opts[0].why = "관사 누락 (서로 알고 있는 특정한 대상 앞에는 the가 필요)"
			if _, ok := nouns[next]; ok {
				opts = append(opts, option{[]string{indefinite(next)}, "R:DET", "관사 오류 (서로 알고 있는 특정한 대상에는 the)"})
			}
		} else {
			opts = append(opts, option{[]string{"the"}, "R:DET", fmt.Sprintf("관사 오류 (처음 언급하는 막연한 대상에는 %s)", w)})
		}
		switch {
		case w == "a" && consonantSound(next):
			opts = append(opts, option{[]string{"an"}, "R:DET", "관사 오류 (자음 소리로 시작하는 단어 앞에는 a)"})
		case w == "an" && strings.ContainsRune("aeio", rune(next[0])):
			opts = append(opts, option{[]string{"a"}, "R:DET", "관사 오류 (모음 소리로 시작하는 단어 앞에는 an)"})
		}
		o := opts[rng.IntN(len(opts))]
		add(i, i+1, o.repl, o.typ, o.why)
	}
	if articleless[t.toks[i]] && i > 0 && articleOpeners[t.low[i-1]] && i+1 < n {
		add(i, i, []string{"the"}, "U:DET", fmt.Sprintf("불필요한 관사 (%s 앞에는 보통 관사를 쓰지 않음)", t.toks[i]))
	}
}

// articleFixed are words after which dropping or changing the article changes the phrase itself.
var articleFixed = setOf(`few little lot couple bit while kind sort number same most one other`)

func indefinite(next string) string {
	if strings.ContainsRune("aeio", rune(next[0])) {
		return "an"
	}
	return "a"
}

// consonantSound reports a word that surely starts with a consonant sound (not h-, u-, eu-, one).
func consonantSound(w string) bool {
	return !strings.ContainsRune("aeiouh", rune(w[0])) && w != "one"
}

func (t *text) nounSites(i int, add addFunc) {
	n := len(t.toks)
	w := t.low[i]
	if !t.lower(i) || i+1 >= n {
		return
	}
	prev := ""
	if i > 0 {
		prev = t.low[i-1]
	}
	if sing, ok := plurals[w]; ok && i > 0 {
		_, verbish := verbIndex[w]
		switch {
		case quantifiers[prev]:
			add(i, i+1, []string{sing}, "R:NOUN:NUM", fmt.Sprintf("명사의 수 오류 (%s 뒤의 셀 수 있는 명사는 복수형 %s)", prev, t.toks[i]))
		case verbish && !determiners[prev], subjectPronouns[prev], modals[prev], prev == "to",
			prev == "a", prev == "an", prev == "one", prev == "each", prev == "every":
		default:
			add(i, i+1, []string{sing}, "R:NOUN:NUM", fmt.Sprintf("명사의 수 오류 (여럿을 가리키므로 복수형 %s)", t.toks[i]))
		}
	}
	if uncountable[w] && prev != "a" && prev != "an" {
		// ERRANT files a plural of an uncountable noun under noun inflection, not number.
		add(i, i+1, []string{regularPlural(t.toks[i])}, "R:NOUN:INFL",
			fmt.Sprintf("명사의 수 오류 (%s은(는) 셀 수 없는 명사라 복수형을 쓰지 않음)", t.toks[i]))
	}
}

func (t *text) prepSites(i int, rng *rand.Rand, add addFunc) {
	n := len(t.toks)
	w := t.low[i]
	if !t.lower(i) || i == 0 || i+1 >= n {
		return
	}
	prevVerb := ""
	if ref, ok := verbIndex[t.low[i-1]]; ok {
		prevVerb = ref.v.base
	}
	nextWord := isWord(t.toks[i+1])
	switch {
	case prevVerb == "arrive" && (w == "at" || w == "in") && nextWord:
		add(i, i+1, []string{"to"}, "R:PREP", fmt.Sprintf("전치사 오류 (arrive 뒤에는 to가 아니라 %s)", w))
	case (w == "in" || w == "on" || w == "at") && nextWord && !phrasal[t.low[i-1]]:
		var others []string
		for _, p := range prepSubstitutes {
			if p != w {
				others = append(others, p)
			}
		}
		add(i, i+1, []string{others[rng.IntN(len(others))]}, "R:PREP", fmt.Sprintf("전치사 오류 (이 문맥에 맞는 전치사는 %s)", w))
	case prevVerb != "" && prepNeeded[prevVerb] == w && nextWord:
		if ref, ok := verbIndex[t.low[i+1]]; ok && ref.form == formBase {
			return // "going to visit" is no preposition
		}
		add(i, i+1, nil, "M:PREP", fmt.Sprintf("전치사 누락 (%s 뒤에는 전치사 %s이(가) 필요)", prevVerb, w))
	}
	if prep := prepUnneeded[prevVerb]; prep != "" && (determiners[w] || objectWords[w] || t.isNoun(i)) && t.isVerbAt(i-1) {
		add(i, i, []string{prep}, "U:PREP", fmt.Sprintf("불필요한 전치사 (%s은(는) 전치사 없이 목적어를 바로 씀)", prevVerb))
	}
	if w == "home" && homeVerbs[prevVerb] && t.isVerbAt(i-1) {
		add(i, i, []string{"to"}, "U:PREP", "불필요한 전치사 (home은 부사로 쓰여 앞에 to를 쓰지 않음)")
	}
}

// phrasal verbs whose particle is no free preposition.
var phrasal = setOf(`get got put turn turned log logged check checked come came look looked carry carried
go went keep kept try tried take took give gave hold held hang find found`)

func (t *text) verbFormSites(i int, rng *rand.Rand, add addFunc) {
	n := len(t.toks)
	w := t.low[i]
	if !t.lower(i) && !t.sentenceStart(i) {
		return
	}
	if modals[w] {
		j := i + 1
		if j < n && (t.low[j] == "n't" || t.low[j] == "not") {
			j++
		}
		if j+1 < n && t.lower(j) {
			if ref, ok := verbIndex[t.low[j]]; ok && ref.form == formBase && ref.v.base != "be" {
				switch rng.IntN(4) {
				case 0:
					add(j, j+1, []string{ref.v.ing}, "R:VERB:FORM", fmt.Sprintf("동사 형태 오류 (조동사 %s 뒤에는 동사원형 %s)", w, t.toks[j]))
				case 1:
					if j == i+1 {
						add(j, j, []string{"to"}, "U:VERB:FORM", fmt.Sprintf("동사 형태 오류 (조동사 %s 뒤에는 to 없이 동사원형)", w), 1, 1)
						break
					}
					fallthrough
				default:
					add(j, j+1, []string{ref.v.z}, "R:VERB:FORM", fmt.Sprintf("동사 형태 오류 (조동사 %s 뒤에는 동사원형 %s)", w, t.toks[j]))
				}
			}
		}
		return
	}
	ref, ok := verbIndex[w]
	if !ok || i+2 >= n {
		return
	}
	if gerundVerbs[ref.v.base] && t.lower(i+1) {
		if g, ok := verbIndex[t.low[i+1]]; ok && g.form == formIng && g.v.base != "be" {
			add(i+1, i+2, []string{"to", g.v.base}, "R:VERB:FORM",
				fmt.Sprintf("동사 형태 오류 (%s은(는) to부정사가 아닌 동명사(-ing)를 목적어로 씀)", ref.v.base))
		}
	}
	if infinitiveVerbs[ref.v.base] && t.low[i+1] == "to" && i+3 < n && t.lower(i+2) {
		if b, ok := verbIndex[t.low[i+2]]; ok && b.form == formBase && b.v.ing != t.low[i+2] {
			if rng.IntN(2) == 0 {
				add(i+2, i+3, []string{b.v.ing}, "R:VERB:FORM", fmt.Sprintf("동사 형태 오류 (to부정사는 to 뒤에 동사원형 %s)", t.toks[i+2]))
			} else {
				add(i+1, i+2, nil, "M:VERB:FORM", fmt.Sprintf("동사 형태 오류 (%s 뒤에는 to부정사(to + 동사원형)가 옴)", ref.v.base), 1, 1)
			}
		}
	}
	// Causatives take a bare verb: "let me go", never "let me to go".
	if (ref.v.base == "let" || ref.v.base == "make") && objectWords[t.low[i+1]] && i+3 < n && t.lower(i+2) {
		if b, ok := verbIndex[t.low[i+2]]; ok && b.form == formBase {
			add(i+2, i+2, []string{"to"}, "U:VERB:FORM", fmt.Sprintf("동사 형태 오류 (사역동사 %s 뒤에는 to 없이 동사원형)", ref.v.base), 1, 1)
		}
	}
}

func (t *text) orthSites(i int, add addFunc) {
	n := len(t.toks)
	tok := t.toks[i]
	switch {
	case tok == "I" && i+1 < n:
		add(i, i+1, []string{"i"}, "R:ORTH", "대소문자 오류 (대명사 I는 항상 대문자)")
	case capitalised(tok) && t.sentenceStart(i) && i+1 < n:
		add(i, i+1, []string{t.low[i]}, "R:ORTH", "대소문자 오류 (문장의 첫 글자는 대문자)")
	case capitalised(tok) && i > 0 && isWord(t.toks[i-1]) && i+1 < n:
		add(i, i+1, []string{t.low[i]}, "R:ORTH", fmt.Sprintf("대소문자 오류 (고유명사 %s은(는) 대문자로 시작)", tok))
	case tok == "." && i == n-1 && i > 0 && isWord(t.toks[i-1]):
		add(i, i+1, nil, "M:PUNCT", "문장 부호 누락 (문장 끝에는 마침표)")
	case tok == "," && i > 0 && i+1 < n && isWord(t.toks[i-1]) && isWord(t.toks[i+1]):
		add(i, i+1, nil, "M:PUNCT", "문장 부호 누락 (절이나 도입 어구 뒤에는 쉼표)")
	}
}

// capitalised reports a word with an upper-case first letter and lower-case rest ("Seoul", not "TV").
func capitalised(s string) bool {
	if len(s) < 2 || !isWord(s) || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	return strings.ToLower(s[1:]) == s[1:]
}

// subjectOf returns the lowercase subject of the verb at i ("he", or a person noun after "my", "the",
// ...) and its index, allowing one adverb between, or "" when the verb has no clear subject.
func (t *text) subjectOf(i int) (string, int) {
	j := i - 1
	if j >= 0 && frequencyAdverbs[t.low[j]] {
		j--
	}
	if j < 0 {
		return "", -1
	}
	s := t.low[j]
	if subjectPronouns[s] {
		if j > 0 && (t.low[j-1] == "to" || t.low[j-1] == "that" || t.low[j-1] == "and" || t.low[j-1] == "than") {
			return "", -1 // "gave it to him", an object or a coordinated subject
		}
		return s, j
	}
	if personNouns[s] && j > 0 && possessiveDets[t.low[j-1]] {
		return s, j
	}
	return "", -1
}

// sentenceStart reports a token that begins a sentence.
func (t *text) sentenceStart(i int) bool {
	for i > 0 && (t.toks[i-1] == "\"" || t.toks[i-1] == "“" || t.toks[i-1] == "(") {
		i--
	}
	if i == 0 {
		return true
	}
	p := t.toks[i-1]
	return p == "." || p == "!" || p == "?" || p == ":"
}

// lower reports a token written in lower case.
func (t *text) lower(i int) bool { return t.toks[i] == t.low[i] }

func (t *text) isNoun(i int) bool {
	_, sing := nouns[t.low[i]]
	_, plur := plurals[t.low[i]]
	return sing || plur || capitalised(t.toks[i]) && t.toks[i] != "I" && !t.sentenceStart(i)
}

func (t *text) isObject(i int) bool { return objectWords[t.low[i]] || t.isNoun(i) }

// isVerbAt reports a verb form at i that is not a noun after a determiner ("my visit").
func (t *text) isVerbAt(i int) bool {
	if _, ok := verbIndex[t.low[i]]; !ok || !t.lower(i) {
		return false
	}
	return i == 0 || !determiners[t.low[i-1]]
}

func auxiliary(base string) bool { return base == "be" || base == "have" || base == "do" }

// misspell returns a plausible slip for a content word, or "" when every slip it tries is a word.
func misspell(w string, rng *rand.Rand) string {
	for try := 0; try < 4; try++ {
		var s string
		switch rng.IntN(4) {
		case 0: // swap two neighbouring inner letters
			p := 1 + rng.IntN(len(w)-3)
			if w[p] == w[p+1] {
				continue
			}
			s = w[:p] + string(w[p+1]) + string(w[p]) + w[p+2:]
		case 1: // drop one of a doubled letter, or an inner vowel
			p := -1
			for k := 1; k+1 < len(w); k++ {
				if w[k] == w[k+1] {
					p = k
					break
				}
			}
			if p < 0 {
				p = 1 + rng.IntN(len(w)-2)
				if !isVowel(w[p]) {
					continue
				}
			}
			s = w[:p] + w[p+1:]
		case 2: // double an inner consonant
			p := 1 + rng.IntN(len(w)-2)
			if isVowel(w[p]) || w[p] == w[p-1] || w[p] == w[p+1] {
				continue
			}
			s = w[:p+1] + w[p:]
		default: // confuse a vowel with its neighbour in sound
			p := 1 + rng.IntN(len(w)-2)
			swap := map[byte]byte{'a': 'e', 'e': 'a', 'i': 'e', 'o': 'u', 'u': 'o'}
			r, ok := swap[w[p]]
			if !ok {
				continue
			}
			s = w[:p] + string(r) + w[p+1:]
		}
		if known(s) {
			continue
		}
		return s
	}
	return ""
}

// known reports a word from the package's lists, which a slip must not produce.
func known(s string) bool {
	_, v := verbIndex[s]
	_, n := nouns[s]
	_, p := plurals[s]
	return v || n || p || functionWords[s] || uncountable[s] || frequencyAdverbs[s]
}
