package edits

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// class is a coarse part of speech guessed from closed word lists and suffixes; it stands in for the
// POS tags ERRANT gets from spaCy.
type class uint8

const (
	cNoun class = iota // also the guess for unknown alphabetic words
	cVerb
	cAdj
	cAdv
	cAux // be, have, do, modals and their clitics
	cDet
	cPron
	cAdp // prepositions
	cConj
	cPart // to, not, n't, possessive 's
	cNum
	cPunct
	cIntj
	cOther // Hangul, symbols, anything else
)

// open reports whether c is an open class in ERRANT's alignment sense (ADJ, ADV, NOUN, VERB).
func (c class) open() bool { return c <= cAdv }

// vform is a verb's inflection, standing in for the PTB tags VB, VBZ, VBD, VBN, VBG.
type vform uint8

const (
	vfNone vform = iota
	vfBase
	vfZ  // 3rd person singular present
	vfD  // past
	vfN  // past participle
	vfDN // past or past participle (regular -ed)
	vfG  // -ing
)

// word is what the lexicon knows about one lowercase form.
type word struct {
	cls   class
	lemma string
	vf    vform
	plur  bool // plural noun (irregular list)
	known bool
}

var lexicon = map[string]word{}

// Closed word lists. A word's first listed class wins.
const (
	determiners  = "a an the this that these those my your his her its our their some any no every each either neither another much many few several all both such what whose which enough"
	pronouns     = "i me you he him she it we us they them myself yourself himself herself itself ourselves yourselves themselves mine yours hers ours theirs who whom someone somebody something anyone anybody anything everyone everybody everything nobody nothing none one ones"
	prepositions = "of in on at to for with about from by into onto over under after before during through between among against without within along across behind beyond around near towards toward upon since until till like per via despite except inside outside above below beside besides throughout"
	conjunctions = "and or but nor yet"
	// Subordinating conjunctions carry the PTB tag IN, which spaCy 2 (ERRANT's tagger for the BEA
	// data) maps to ADP, so ERRANT types their edits PREP.
	subordinators = "because although though while whereas if unless whether as once than that"
	particles     = "not n't"
	interjs       = "oh yes yeah hi hello wow ok okay please thanks bye"
	adverbs       = "there when whenever where wherever however therefore moreover so why how always never often usually sometimes still even only just also really very too quite already again ever soon now then here today tomorrow yesterday almost maybe perhaps probably rather well much more most less least far away back together instead especially actually finally recently certainly definitely simply exactly nearly hardly mostly else ago anymore abroad home"
	adjectives    = "good bad big small new old great little long high young important different large next early late same able other own happy sad nice beautiful pretty hard easy difficult free full sure true best better worse worst last possible real whole dear clear strong busy tired interesting interested boring bored excited exciting popular healthy friendly lovely ready afraid alone fun funny rich poor cheap expensive hot cold warm cool quiet safe fine glad kind wrong right certain common simple special public"
	numbers       = "zero one two three four five six seven eight nine ten eleven twelve twenty thirty forty fifty hundred thousand million first second third"
)

// Auxiliaries: lemma followed by its forms with their inflections.
var auxiliaries = []struct {
	lemma string
	forms string // form:vf pairs
}{
	{"be", "be:B am:B are:B is:Z was:D were:D been:N being:G 'm:B 're:B ’m:B ’re:B 's:Z ’s:Z"},
	{"have", "have:B has:Z had:D having:G 've:B ’ve:B"},
	{"do", "do:B does:Z did:D done:N doing:G"},
	{"will", "will:B would:D 'll:B ’ll:B wo:B 'd:D ’d:D"},
	{"can", "can:B could:D ca:B"},
	{"shall", "shall:B should:D"},
	{"may", "may:B might:D"},
	{"must", "must:B"},
}

// irregularVerbs lists base, past and past participle ("a/b" for alternatives).
const irregularVerbs = `arise arose arisen|awake awoke awoken|bear bore born|beat beat beaten|become became become|begin began begun|bend bent bent|bet bet bet|bind bound bound|bite bit bitten|bleed bled bled|blow blew blown|break broke broken|breed bred bred|bring brought brought|build built built|burn burnt burnt|buy bought bought|catch caught caught|choose chose chosen|come came come|cost cost cost|cut cut cut|deal dealt dealt|dig dug dug|draw drew drawn|dream dreamt dreamt|drink drank drunk|drive drove driven|eat ate eaten|fall fell fallen|feed fed fed|feel felt felt|fight fought fought|find found found|fly flew flown|forbid forbade forbidden|forget forgot forgotten|forgive forgave forgiven|freeze froze frozen|get got gotten/got|give gave given|go went gone|grow grew grown|hang hung hung|hear heard heard|hide hid hidden|hit hit hit|hold held held|hurt hurt hurt|keep kept kept|know knew known|lay laid laid|lead led led|lean leant leant|learn learnt learnt|leave left left|lend lent lent|let let let|lie lay lain|lose lost lost|make made made|mean meant meant|meet met met|pay paid paid|put put put|quit quit quit|read read read|ride rode ridden|ring rang rung|rise rose risen|run ran run|say said said|see saw seen|seek sought sought|sell sold sold|send sent sent|set set set|shake shook shaken|shine shone shone|shoot shot shot|show showed shown|shut shut shut|sing sang sung|sink sank sunk|sit sat sat|sleep slept slept|slide slid slid|speak spoke spoken|spend spent spent|spread spread spread|stand stood stood|steal stole stolen|stick stuck stuck|strike struck struck|swim swam swum|swear swore sworn|sweep swept swept|take took taken|teach taught taught|tear tore torn|tell told told|think thought thought|throw threw thrown|understand understood understood|wake woke woken|wear wore worn|win won won|write wrote written|spell spelt spelt|smell smelt smelt|spill spilt spilt|light lit lit|upset upset upset|overcome overcame overcome|undergo underwent undergone|withdraw withdrew withdrawn|mislead misled misled|misunderstand misunderstood misunderstood`

// commonVerbs are regular verbs frequent in learner writing; they tip unknown -s/-ed/-ing words to VERB.
const commonVerbs = `want like love live work play study help need try use ask answer call change start stop finish open close visit watch listen talk walk travel enjoy decide seem look turn move happen believe remember arrive agree allow create improve include continue cook clean dance hope plan prefer prepare receive relax return save share smile stay suggest wait wish worry learn show explain follow provide offer reach join kill miss pass pick place plant post pull push rain rest shop solve spend support test thank touch trust order laugh cry die hate imagine invite manage mention need notice pray produce promise protect realize reduce refuse remind rent repeat reply report search serve settle sign smoke snow suppose surprise develop describe discuss encourage exist express fail fill graduate hurry increase influence introduce marry matter mind own paint perform print recommend relate remain replace require respect retire review succeed suffer achieve affect apply attend avoid book borrow care carry check choose collect compare complain consider contact count cover damage decrease deliver depend deserve destroy disagree discover download earn employ end enter escape expect experience explore face fix focus gain greet handle hire hug hunt inform involve join judge jump kiss knock last lie like lift link lock mark measure melt mix name note obtain organize pack park pause perform phone pretend print raise reach recognize record relax remove rescue risk rob roll rush satisfy score scream shout sound spell stare state stress suggest taste tend text tie train treat type visit vote waste wonder worry yell`

// irregularNouns lists singular then plural.
const irregularNouns = `man men|woman women|child children|person people|foot feet|tooth teeth|mouse mice|goose geese|life lives|knife knives|wife wives|leaf leaves|half halves|wolf wolves|shelf shelves|thief thieves|ox oxen|phenomenon phenomena|criterion criteria|crisis crises|analysis analyses|thesis theses|medium media|datum data|cactus cacti|fish fish|sheep sheep|deer deer|series series|species species`

// contractions are the clitic tokens ERRANT's CONTR type covers.
var contractions = map[string]bool{"n't": true, "'s": true, "'re": true, "'ll": true, "'ve": true, "'d": true, "'m": true, "’s": true, "’re": true, "’ll": true, "’ve": true, "’d": true, "’m": true, "n’t": true}

// auxContractions pairs the clipped auxiliaries with their full forms (ca -> can, wo -> will, sha -> shall).
var auxContractions = map[string]string{"ca": "can", "wo": "will", "sha": "shall"}

func init() {
	addList := func(list string, c class) {
		for _, w := range strings.Fields(list) {
			if _, ok := lexicon[w]; !ok {
				lexicon[w] = word{cls: c, lemma: w, known: true}
			}
		}
	}
	addList(particles, cPart)
	addList(determiners, cDet)
	addList(pronouns, cPron)
	addList(prepositions, cAdp)
	addList(conjunctions, cConj)
	addList(subordinators, cAdp)
	for _, a := range auxiliaries {
		for _, f := range strings.Fields(a.forms) {
			form, tag, _ := strings.Cut(f, ":")
			lexicon[form] = word{cls: cAux, lemma: a.lemma, vf: vformOf(tag), known: true}
		}
	}
	lexicon["n’t"] = word{cls: cPart, lemma: "not", known: true}
	lexicon["n't"] = word{cls: cPart, lemma: "not", known: true}
	lexicon["not"] = word{cls: cPart, lemma: "not", known: true}
	lexicon["cannot"] = word{cls: cAux, lemma: "can", vf: vfBase, known: true}
	addList(interjs, cIntj)
	addList(numbers, cNum)
	addList(adverbs, cAdv)
	addList(adjectives, cAdj)
	for _, entry := range strings.Split(irregularVerbs, "|") {
		f := strings.Fields(entry)
		base := f[0]
		addVerb(base, base, vfBase)
		addVerb(regularZ(base), base, vfZ)
		addVerb(regularG(base), base, vfG)
		for _, p := range strings.Split(f[1], "/") {
			addVerb(p, base, vfD)
		}
		for _, p := range strings.Split(f[2], "/") {
			if p == f[1] {
				addVerb(p, base, vfDN)
			} else {
				addVerb(p, base, vfN)
			}
		}
	}
	for _, base := range strings.Fields(commonVerbs) {
		addVerb(base, base, vfBase)
		addVerb(regularZ(base), base, vfZ)
		addVerb(regularG(base), base, vfG)
		addVerb(regularD(base), base, vfDN)
	}
	for _, entry := range strings.Split(irregularNouns, "|") {
		f := strings.Fields(entry)
		if _, ok := lexicon[f[0]]; !ok {
			lexicon[f[0]] = word{cls: cNoun, lemma: f[0], known: true}
		}
		if _, ok := lexicon[f[1]]; !ok || f[1] == f[0] {
			lexicon[f[1]] = word{cls: cNoun, lemma: f[0], plur: true, known: true}
		}
	}
	// Comparatives of the irregular adjectives.
	for _, e := range []string{"good better best", "bad worse worst", "far further furthest", "little less least", "many more most", "much more most"} {
		f := strings.Fields(e)
		for _, w := range f[1:] {
			if cur, ok := lexicon[w]; ok {
				cur.lemma = f[0]
				lexicon[w] = cur
				continue
			}
			lexicon[w] = word{cls: cAdj, lemma: f[0], known: true}
		}
	}
}

func addVerb(form, base string, vf vform) {
	cur, ok := lexicon[form]
	if !ok {
		lexicon[form] = word{cls: cVerb, lemma: base, vf: vf, known: true}
		return
	}
	// A closed-class or already listed reading wins ("like" stays a preposition); a past form that is
	// also the participle becomes vfDN.
	if cur.cls == cVerb && (cur.vf == vfD && vf == vfN || cur.vf == vfN && vf == vfD) {
		cur.vf = vfDN
		lexicon[form] = cur
	}
}

func vformOf(tag string) vform {
	switch tag {
	case "Z":
		return vfZ
	case "D":
		return vfD
	case "N":
		return vfN
	case "G":
		return vfG
	}
	return vfBase
}

func isVowel(b byte) bool { return b == 'a' || b == 'e' || b == 'i' || b == 'o' || b == 'u' }

func regularZ(base string) string {
	switch {
	case strings.HasSuffix(base, "y") && len(base) > 1 && !isVowel(base[len(base)-2]):
		return base[:len(base)-1] + "ies"
	case strings.HasSuffix(base, "s"), strings.HasSuffix(base, "x"), strings.HasSuffix(base, "z"),
		strings.HasSuffix(base, "ch"), strings.HasSuffix(base, "sh"), strings.HasSuffix(base, "o"):
		return base + "es"
	}
	return base + "s"
}

func regularG(base string) string {
	switch {
	case strings.HasSuffix(base, "ie"):
		return base[:len(base)-2] + "ying"
	case strings.HasSuffix(base, "e") && !strings.HasSuffix(base, "ee") && len(base) > 2:
		return base[:len(base)-1] + "ing"
	}
	return base + "ing"
}

func regularD(base string) string {
	switch {
	case strings.HasSuffix(base, "e"):
		return base + "d"
	case strings.HasSuffix(base, "y") && len(base) > 1 && !isVowel(base[len(base)-2]):
		return base[:len(base)-1] + "ied"
	}
	return base + "ed"
}

// stem reduces an inflected lowercase form to a canonical string shared by its inflections
// (likes, liked, liking, like -> lik; studies, studied -> stud). It is no dictionary form; it only
// serves to compare two words' lemmas.
func stem(w string) string {
	n := len(w)
	switch {
	case n >= 5 && strings.HasSuffix(w, "ing") && hasVowel(w[:n-3]):
		w = w[:n-3]
	case n >= 4 && strings.HasSuffix(w, "ed") && hasVowel(w[:n-2]):
		w = w[:n-2]
	case n >= 4 && w[n-1] == 's' && w[n-2] != 's' && w[n-2] != 'u' && w[n-2] != 'i' && w[n-2] != '\'':
		w = w[:n-1]
		if strings.HasSuffix(w, "ie") && len(w) > 3 {
			w = w[:len(w)-1]
		}
	}
	n = len(w)
	if n > 2 && (w[n-1] == 'e' || w[n-1] == 'y' || w[n-1] == 'i') {
		w = w[:n-1]
		n--
	}
	if n > 2 && w[n-1] == w[n-2] && !isVowel(w[n-1]) {
		w = w[:n-1]
	}
	return w
}

// lookup returns the lexicon entry for a lowercase token, guessing class and inflection from its
// shape when the word is not listed.
func lookup(low string) word {
	if w, ok := lexicon[low]; ok {
		w.lemma = stem(w.lemma)
		return w
	}
	if low == "" {
		return word{cls: cOther}
	}
	r, _ := utf8.DecodeRuneInString(low)
	switch {
	case isPunctToken(low):
		return word{cls: cPunct, lemma: low}
	case unicode.Is(unicode.Hangul, r):
		return word{cls: cOther, lemma: low}
	case r >= '0' && r <= '9':
		return word{cls: cNum, lemma: low}
	case !unicode.IsLetter(r):
		return word{cls: cOther, lemma: low}
	}
	w := word{cls: cNoun, lemma: stem(low)}
	n := len(low)
	switch {
	case n > 4 && strings.HasSuffix(low, "ly") && adverbStem(low[:n-2]):
		w.cls = cAdv
	case n > 5 && strings.HasSuffix(low, "ing"):
		w.cls, w.vf = cVerb, vfG
	case n > 4 && strings.HasSuffix(low, "ed"):
		w.cls, w.vf = cVerb, vfDN
	case hasAnySuffix(low, "tion", "sion", "ment", "ness", "ity", "ship", "ance", "ence", "ism", "ist", "er", "or", "ure", "age"):
		w.cls = cNoun
	case hasAnySuffix(low, "ous", "ful", "ive", "able", "ible", "al", "ic", "less", "ish", "ant", "ent", "ary"):
		w.cls = cAdj
	case n > 3 && low[n-1] == 's' && low[n-2] != 's' && low[n-2] != 'u' && low[n-2] != 'i':
		w.plur = true
	}
	return w
}

func hasAnySuffix(s string, sfx ...string) bool {
	for _, x := range sfx {
		if len(s) > len(x)+2 && strings.HasSuffix(s, x) {
			return true
		}
	}
	return false
}

// isPunctToken reports whether every rune of s is punctuation or a symbol.
func isPunctToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b < utf8.RuneSelf {
			if !(b >= '!' && b <= '/' || b >= ':' && b <= '@' || b >= '[' && b <= '`' || b >= '{' && b <= '~') {
				return false
			}
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if !unicode.IsPunct(r) && !unicode.IsSymbol(r) {
			return false
		}
		i += size - 1
	}
	return true
}

// adverbStem reports whether s+"ly" reads as an adverb made from s: quick-ly, tru-ly, happi-ly,
// basical-ly; not fami-ly.
func adverbStem(s string) bool {
	n := len(s)
	switch {
	case strings.HasSuffix(s, "al"), strings.HasSuffix(s, "ful"), strings.HasSuffix(s, "ous"), strings.HasSuffix(s, "ive"),
		strings.HasSuffix(s, "ent"), strings.HasSuffix(s, "ant"), strings.HasSuffix(s, "ic"):
		return true
	case s[n-1] == 'i':
		return inDict(s[:n-1] + "y")
	}
	return inDict(s) || inDict(s+"e") || inDict(s+"le")
}

func hasVowel(s string) bool {
	for i := 0; i < len(s); i++ {
		if isVowel(s[i]) || s[i] == 'y' {
			return true
		}
	}
	return false
}

// lexiconLemma returns the dictionary form the lexicon lists for a word (went -> go).
func lexiconLemma(low string) (string, bool) {
	w, ok := lexicon[low]
	return w.lemma, ok
}
