package mistakes

import "strings"

// The word lists below are deliberately small and unambiguous: an injection site is only used when
// the words around it say clearly what the clean text means, so every injected error is a real error.

// verb holds the forms of one English verb.
type verb struct {
	base, z, past, pp, ing string
}

// verbForm names which form of a verb a token is.
type verbForm uint8

const (
	formBase verbForm = iota + 1
	formZ
	formPast
	formPP
	formIng
)

// irregularVerbs lists "base past participle" triples; "-" repeats the past form.
const irregularVerbs = `be was been|have had -|do did done|go went gone|say said -|make made -|get got -|
know knew known|think thought -|take took taken|see saw seen|come came come|give gave given|find found -|
tell told -|feel felt -|leave left -|bring brought -|begin began begun|keep kept -|hold held -|
write wrote written|stand stood -|hear heard -|mean meant -|meet met -|run ran run|pay paid -|sit sat -|
speak spoke spoken|lead led -|grow grew grown|lose lost -|fall fell fallen|send sent -|build built -|
understand understood -|draw drew drawn|break broke broken|spend spent -|drive drove driven|buy bought -|
wear wore worn|choose chose chosen|eat ate eaten|drink drank drunk|sleep slept -|swim swam swum|
sing sang sung|teach taught -|catch caught -|fly flew flown|forget forgot forgotten|sell sold -|win won -|
ride rode ridden|wake woke woken|throw threw thrown|fight fought -|become became become|lend lent -|
hide hid hidden|forgive forgave forgiven|steal stole stolen|feed fed -|bite bit bitten|shake shook shaken|
read read -|put put -|cut cut -|let let -|set set -|hurt hurt -|quit quit -|shut shut -`

// regularVerbs are verbs with regular -s, -ed and -ing forms (American spelling).
const regularVerbs = `like love enjoy visit play watch study work live want need try decide hope learn listen
wait look talk walk cook clean help call finish start travel use open close move stay arrive return
change ask answer agree believe borrow carry cry dance discuss enter explain fail hate happen join jump laugh
miss order pass prepare practice relax remember rest save share smile solve suggest support taste
thank touch turn wash worry check climb collect complain contact create deliver describe design develop
exercise follow improve include install introduce invite mention marry notice offer paint pick post print
promise protect recommend refuse reply review search seem serve fix mix download update upload
hike bake camp plant recycle reduce repair reach attend approach avoid consider imagine mind expect
graduate apply celebrate compare continue count earn end fill guess hurry kick knock land manage
pack point pour pray produce provide pull push rain receive record remain remove rent report rush
score sign snow suffer surprise train treat trust type vote wish wonder handle organize realize focus
memorize commute decorate intend pretend allow invent paint jog stop plan shop chat drop prefer admit
hug skip regret refer occur control`

// doubling verbs double their final consonant before -ed and -ing.
var doubling = map[string]bool{"jog": true, "stop": true, "plan": true, "shop": true, "chat": true, "drop": true,
	"prefer": true, "admit": true, "hug": true, "skip": true, "regret": true, "refer": true, "occur": true, "control": true,
	"run": true, "swim": true, "sit": true, "begin": true, "get": true, "win": true, "put": true, "cut": true,
	"let": true, "set": true, "shut": true, "quit": true, "forget": true}

var (
	verbs     = map[string]*verb{}   // by base form
	verbIndex = map[string]verbRef{} // by any form
)

type verbRef struct {
	v    *verb
	form verbForm
}

func init() {
	for _, entry := range strings.Split(irregularVerbs, "|") {
		f := strings.Fields(entry)
		v := &verb{base: f[0], z: regularZ(f[0]), past: f[1], pp: f[2], ing: regularG(f[0])}
		if v.pp == "-" {
			v.pp = v.past
		}
		addVerb(v)
	}
	for _, base := range strings.Fields(regularVerbs) {
		d := regularD(base)
		addVerb(&verb{base: base, z: regularZ(base), past: d, pp: d, ing: regularG(base)})
	}
	be := verbs["be"]
	be.z = "is"
	verbIndex["is"] = verbRef{be, formZ}
	verbIndex["were"] = verbRef{be, formPast}
	verbIndex["are"] = verbRef{be, formBase}
	verbIndex["am"] = verbRef{be, formBase}
	have := verbs["have"]
	have.z = "has"
	verbIndex["has"] = verbRef{have, formZ}
	delete(verbIndex, "haves")
	delete(verbIndex, "bes")
	for _, n := range strings.Fields(singularNouns) {
		nouns[n] = regularPlural(n)
	}
	for _, pair := range strings.Split(irregularPlurals, "|") {
		f := strings.Fields(pair)
		nouns[f[0]] = f[1]
	}
	for s, p := range nouns {
		plurals[p] = s
	}
}

func addVerb(v *verb) {
	verbs[v.base] = v
	// Earlier, more basic readings win: "left" stays the past of "leave".
	for _, r := range []verbRef{{v, formBase}, {v, formZ}, {v, formPast}, {v, formPP}, {v, formIng}} {
		form := v.form(r.form)
		if _, ok := verbIndex[form]; !ok {
			verbIndex[form] = r
		}
	}
}

func (v *verb) form(f verbForm) string {
	switch f {
	case formZ:
		return v.z
	case formPast:
		return v.past
	case formPP:
		return v.pp
	case formIng:
		return v.ing
	}
	return v.base
}

func isVowel(b byte) bool { return b == 'a' || b == 'e' || b == 'i' || b == 'o' || b == 'u' }

func regularZ(base string) string {
	switch {
	case strings.HasSuffix(base, "y") && !isVowel(base[len(base)-2]):
		return base[:len(base)-1] + "ies"
	case strings.HasSuffix(base, "s"), strings.HasSuffix(base, "x"), strings.HasSuffix(base, "z"),
		strings.HasSuffix(base, "ch"), strings.HasSuffix(base, "sh"), strings.HasSuffix(base, "o"):
		return base + "es"
	}
	return base + "s"
}

func regularG(base string) string {
	switch {
	case base == "be" || base == "see" || base == "agree":
		return base + "ing"
	case strings.HasSuffix(base, "ie"):
		return base[:len(base)-2] + "ying"
	case strings.HasSuffix(base, "e") && !strings.HasSuffix(base, "ee"):
		return base[:len(base)-1] + "ing"
	case doubling[base]:
		return base + base[len(base)-1:] + "ing"
	}
	return base + "ing"
}

func regularD(base string) string {
	switch {
	case strings.HasSuffix(base, "e"):
		return base + "d"
	case strings.HasSuffix(base, "y") && !isVowel(base[len(base)-2]):
		return base[:len(base)-1] + "ied"
	case doubling[base]:
		return base + base[len(base)-1:] + "ed"
	}
	return base + "ed"
}

// singularNouns are countable nouns with regular plurals that are rarely verbs.
const singularNouns = `book friend student teacher country city place restaurant movie song game photo picture
trip hotel museum beach mountain temple ticket bag suitcase souvenir day week month year hour minute page
novel story magazine library chapter author word sentence language subject exam assignment project club
classmate lesson meal vegetable fruit apple cookie recipe ingredient coworker colleague meeting customer
task job company computer phone app program website device laptop camera video message brother sister
parent kid cousin grandparent son daughter hobby sport team player ball shoe shirt dress store price
item gift flower tree animal dog cat bird river street road car bus flight seat window door room house
apartment neighbor doctor nurse patient hospital vitamin symptom habit muscle season holiday vacation
festival concert instrument guitar piano singer actor episode character idea problem question reason
example mistake dream memory skill coin bottle cup plate sandwich noodle dumpling snack hamburger
tomato potato onion egg orange banana strawberry umbrella jacket sweater glove sock hat toy puzzle
poem letter diary blog comment podcast smartphone tablet charger headphone battery robot engineer
designer manager boss customer office desk chair bed lamp clock mirror towel island village town
airport station passport map guide tourist stranger roommate uncle aunt baby grandmother grandfather
mother father husband student poster sticker keyboard screen button password article chance goal
subway taxi bicycle bike street building bridge park garden lake forest hill planet ocean cloud storm
animal insect pet puppy kitten`

// irregularPlurals pairs singular and plural.
const irregularPlurals = `child children|man men|woman women|foot feet|tooth teeth|knife knives|leaf leaves|wife wives|life lives|shelf shelves`

var (
	nouns   = map[string]string{} // singular -> plural
	plurals = map[string]string{} // plural -> singular
)

func regularPlural(n string) string {
	switch {
	case strings.HasSuffix(n, "y") && !isVowel(n[len(n)-2]):
		return n[:len(n)-1] + "ies"
	case strings.HasSuffix(n, "s"), strings.HasSuffix(n, "x"), strings.HasSuffix(n, "ch"), strings.HasSuffix(n, "sh"),
		n == "tomato", n == "potato":
		return n + "es"
	}
	return n + "s"
}

// uncountable nouns that Korean learners pluralise ("informations").
var uncountable = setOf(`information advice homework furniture equipment luggage baggage knowledge feedback
evidence research traffic jewelry scenery vocabulary software`)

// articleless nouns are used without an article in their ordinary sense (go to school, eat lunch, play soccer).
var articleless = setOf(`breakfast lunch dinner school church bed soccer baseball basketball tennis badminton
golf volleyball math science history English music art nature`)

// articleOpeners are words after which an articleless noun may take a wrongly added "the".
var articleOpeners = setOf(`to at for after before from play plays played playing like likes liked love loves
loved eat eats ate have has had study studies studied learn learned learns teach teaches taught enjoy enjoyed
enjoys about skip skipped cook cooked make made during`)

var subjectPronouns = setOf(`i you we they he she it`)

var thirdPersonPronouns = setOf(`he she it`)

// personNouns are singular nouns that often act as a subject after "my", "his", "the", ...
var personNouns = setOf(`mother father mom dad brother sister friend teacher boss son daughter husband wife
grandmother grandfather roommate neighbor coworker colleague manager cousin uncle aunt baby dog cat
doctor classmate`)

var possessiveDets = setOf(`my your his her our their the this that`)

var determiners = setOf(`a an the my your his her our their its this that these those some any no every each
another`)

var objectWords = setOf(`it them him her you me us this that`)

var modals = setOf(`can could will would should must may might`)

// gerundVerbs take a gerund object: "enjoy reading", never "enjoy to read".
var gerundVerbs = setOf(`enjoy finish mind avoid practice suggest consider imagine keep`)

// infinitiveVerbs take "to" and a base verb: "want to go", never "want to going".
var infinitiveVerbs = setOf(`want decide plan hope need try learn promise agree refuse expect`)

// emotionVerbs are verbs learners intensify with "very" ("I very like it") instead of "really".
var emotionVerbs = setOf(`like love enjoy want hate miss need hope appreciate`)

// quantifiers need a plural countable noun after them.
var quantifiers = setOf(`many several few two three four five six seven eight nine ten these those both`)

// frequencyAdverbs stand before a main verb.
var frequencyAdverbs = setOf(`always usually often sometimes never rarely seldom also really still just even
already`)

// prepSubstitutes are the prepositions Korean learners confuse with each other.
var prepSubstitutes = []string{"in", "on", "at"}

// prepNeeded: verbs whose object needs a preposition, by base form.
var prepNeeded = map[string]string{"listen": "to", "wait": "for", "look": "at", "talk": "to", "belong": "to",
	"reply": "to", "graduate": "from", "depend": "on", "apologize": "to", "go": "to", "arrive": "at", "come": "to"}

// prepUnneeded: transitive verbs that learners give a preposition, by base form.
var prepUnneeded = map[string]string{"discuss": "about", "visit": "to", "enter": "into", "marry": "with",
	"contact": "to", "reach": "to", "attend": "to", "approach": "to", "explain": "about", "call": "to"}

// homeVerbs go with "home" without "to".
var homeVerbs = map[string]bool{"go": true, "come": true, "get": true, "return": true, "arrive": true, "walk": true,
	"drive": true, "run": true, "hurry": true}

// connectives maps sentence connectives to what a Korean learner leaves in Korean.
var connectives = map[string][]string{
	"so":      {"그래서"},
	"but":     {"하지만", "그런데"},
	"and":     {"그리고"},
	"however": {"하지만", "그런데"},
	"then":    {"그러고 나서", "그 다음에"},
	"because": {"왜냐하면"},
}

// functionWords are never misspelled: slips happen in longer content words.
var functionWords = setOf(`about above after again against among around because before below between could
during every from have having into other should their there these those through under until where which
while would yourself himself herself itself myself ourselves themselves whose whom something nothing
anything everything someone anyone everyone`)

func setOf(list string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(list) {
		m[w] = true
	}
	return m
}
