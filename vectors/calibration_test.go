package vectors

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"hash/fnv"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/neardup.jsonl from testdata/neardup_bases.jsonl")

// The near-duplicate calibration set. testdata/neardup_bases.jsonl holds
// hand-written learner texts, four per (theme, speaker); testdata/neardup.jsonl
// holds the labelled pairs made from them (regenerate with -update):
//
//   - dup: a base and a rewording of one or two words, the base with names and
//     numbers changed, and the base with a sentence added;
//   - distinct: two different bases of the same theme and speaker, and the
//     hand-written pairs of testdata/neardup_frames.jsonl: different texts
//     that share their opening or closing lines, as template-happy LLMs write.

type nearDupBase struct {
	ID      string `json:"id"`
	Theme   string `json:"theme"`
	Speaker string `json:"speaker"`
	Text    string `json:"text"`
}

type nearDupFrame struct {
	ID      string `json:"id"`
	Theme   string `json:"theme"`
	Speaker string `json:"speaker"`
	A       string `json:"a"`
	B       string `json:"b"`
}

type nearDupPair struct {
	Kind  string `json:"kind"`
	Dup   bool   `json:"dup"`
	Theme string `json:"theme"`
	A     string `json:"a_id"`
	B     string `json:"b_id"`
	TextA string `json:"a"`
	TextB string `json:"b"`
}

func readJSONL[T any](tb testing.TB, path string) []T {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("read %s: %v", path, err)
	}
	var out []T
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for line := 1; sc.Scan(); line++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			tb.Fatalf("%s:%d: %v", path, line, err)
		}
		out = append(out, v)
	}
	return out
}

// Synonyms for one- and two-word rewordings, tried in this order.
var rewordings = [][2]string{
	{"very", "really"}, {"happy", "glad"}, {"started", "began"}, {"think", "believe"},
	{"difficult", "hard"}, {"bought", "purchased"}, {"every", "each"}, {"because", "since"},
	{"delicious", "tasty"}, {"kind", "nice"}, {"good", "great"}, {"many", "lots of"},
	{"finished", "completed"}, {"went", "traveled"}, {"made", "created"}, {"big", "large"},
	{"want", "would like"}, {"always", "usually"}, {"sad", "upset"}, {"excited", "thrilled"},
	{"told", "said to"}, {"lot", "ton"}, {"too", "so"}, {"first", "initial"},
	{"like", "enjoy"}, {"help", "assist"}, {"ate", "had"}, {"visited", "went to"},
	{"little", "bit"}, {"tried", "attempted"}, {"worried", "anxious"}, {"now", "these days"},
	{"last", "previous"}, {"met", "saw"}, {"asked", "requested"}, {"said", "told me"},
	{"ask", "inquire"}, {"please", "kindly"}, {"book", "reserve"}, {"near", "close to"},
	{"need", "require"}, {"know", "hear"}, {"attended", "went to"}, {"explained", "described"},
	{"join", "go on"}, {"some", "several"}, {"talk", "speak"}, {"wanted", "hoped"},
	{"work", "job"}, {"time", "moment"}, {"day", "date"}, {"night", "evening"},
	{"apologize", "say sorry"}, {"problem", "issue"}, {"products", "goods"}, {"questions", "concerns"},
	{"give", "offer"}, {"arrive", "come"}, {"sorry", "regretful"}, {"favorite", "best-loved"},
	{"collected", "gathered"}, {"special", "unique"}, {"dream", "wish"}, {"other", "fellow"},
}

var (
	namePool = []string{"Sora", "Hyejin", "Yuna", "Dahye", "Jiwoo", "Linh", "Eunbi", "Daesung", "Sangwoo", "Tom", "Jaehyun", "Seoyeon", "Taemin", "Brown",
		"Yoon", "Hana", "Davis", "Thompson", "Lee", "Garcia", "Seojun", "Jisoo", "Jaemin", "Minho", "Hyuna", "Wilson", "Choi", "Kim", "Park", "Jihoon", "Minji",
		"Busan", "Jeju", "Gyeongju", "Paris", "Singapore", "Tokyo", "Da Nang", "Seoul", "Daegu", "Gwangju", "Chuncheon", "London", "Canada", "Germany", "Pangyo"}
	renames  = []string{"Mina", "Subin", "Haerin", "Chaewon", "Doyun", "Siwoo", "Yerin", "Gaeun", "Incheon", "Osaka", "Ulsan", "Bangkok", "Jeonju", "Sokcho", "Kyoto", "Vienna"}
	numberRE = regexp.MustCompile(`\d[\d,]*`)
	wordRE   = func(w string) *regexp.Regexp { return regexp.MustCompile(`\b` + regexp.QuoteMeta(w) + `\b`) }
	extras   = []string{
		"I hope next time will be even better.",
		"Writing this diary in English is a good practice for me.",
		"Anyway, it was a day I will not forget.",
		"I will write more about it next week.",
		"Please give me your advice if you have any.",
		"The weather was also nice that day.",
	}
)

func seedOf(s string) int {
	h := fnv.New32a()
	h.Write([]byte(s))
	return int(h.Sum32() & 0x7fffffff)
}

// reword replaces n words of text with synonyms, starting at a base-specific
// point in the synonym list; ok is false when fewer than n apply.
func reword(id, text string, n int) (string, bool) {
	start := seedOf(id+fmt.Sprint(n)) % len(rewordings)
	done := 0
	for i := range rewordings {
		r := rewordings[(start+i)%len(rewordings)]
		re := wordRE(r[0])
		loc := re.FindStringIndex(text)
		if loc == nil {
			continue
		}
		text = text[:loc[0]] + r[1] + text[loc[1]:]
		if done++; done == n {
			return text, true
		}
	}
	return text, false
}

// rename changes the first two names and the first two numbers of text.
func rename(id, text string) (string, bool) {
	changed := 0
	k := seedOf(id)
	for _, name := range namePool {
		if changed >= 2 {
			break
		}
		re := wordRE(name)
		if !re.MatchString(text) {
			continue
		}
		text = re.ReplaceAllString(text, renames[(k+changed)%len(renames)])
		changed++
	}
	nums := 0
	text = numberRE.ReplaceAllStringFunc(text, func(s string) string {
		if nums >= 2 {
			return s
		}
		nums++
		v, err := strconv.Atoi(strings.ReplaceAll(s, ",", ""))
		if err != nil {
			return s
		}
		return strconv.Itoa(v + 1 + v/3)
	})
	return text, changed+nums > 0
}

// addSentence appends one sentence, or inserts it after the first sentence.
func addSentence(id, text string, middle bool) string {
	extra := extras[seedOf(id)%len(extras)]
	if middle {
		if i := strings.Index(text, ". "); i > 0 {
			return text[:i+2] + extra + " " + text[i+2:]
		}
	}
	return text + " " + extra
}

func makeNearDupPairs(tb testing.TB, bases []nearDupBase, frames []nearDupFrame) []nearDupPair {
	tb.Helper()
	var pairs []nearDupPair
	pos := func(b nearDupBase, kind, text string) {
		pairs = append(pairs, nearDupPair{Kind: kind, Dup: true, Theme: b.Theme, A: b.ID, B: b.ID + "~" + kind, TextA: b.Text, TextB: text})
	}
	for i, b := range bases {
		if t, ok := reword(b.ID, b.Text, 1); ok {
			pos(b, "reword-1", t)
		} else {
			tb.Fatalf("base %s: no word to reword", b.ID)
		}
		if t, ok := reword(b.ID, b.Text, 2); ok {
			pos(b, "reword-2", t)
		} else {
			tb.Fatalf("base %s: fewer than two words to reword", b.ID)
		}
		if t, ok := rename(b.ID, b.Text); ok {
			pos(b, "names-numbers", t)
		} else {
			tb.Fatalf("base %s: no name or number to change", b.ID)
		}
		pos(b, "sentence-added", addSentence(b.ID, b.Text, i%2 == 1))
	}
	for i, a := range bases {
		for _, b := range bases[i+1:] {
			if a.Theme == b.Theme && a.Speaker == b.Speaker {
				pairs = append(pairs, nearDupPair{Kind: "same-theme-speaker", Dup: false, Theme: a.Theme, A: a.ID, B: b.ID, TextA: a.Text, TextB: b.Text})
			}
		}
	}
	for _, f := range frames {
		pairs = append(pairs, nearDupPair{Kind: "shared-frame", Dup: false, Theme: f.Theme, A: f.ID + "/a", B: f.ID + "/b", TextA: f.A, TextB: f.B})
	}
	return pairs
}

func encodePairs(tb testing.TB, pairs []nearDupPair) []byte {
	tb.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for _, p := range pairs {
		if err := enc.Encode(p); err != nil {
			tb.Fatal(err)
		}
	}
	return buf.Bytes()
}

func TestNearDupPairsAreUpToDate(t *testing.T) {
	bases := readJSONL[nearDupBase](t, "testdata/neardup_bases.jsonl")
	frames := readJSONL[nearDupFrame](t, "testdata/neardup_frames.jsonl")
	want := encodePairs(t, makeNearDupPairs(t, bases, frames))
	if *update {
		if err := os.WriteFile("testdata/neardup.jsonl", want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile("testdata/neardup.jsonl")
	if err != nil {
		t.Fatalf("read testdata/neardup.jsonl: %v (run go test -run NearDupPairs -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("testdata/neardup.jsonl is stale: run go test ./vectors -run NearDupPairs -update")
	}
}

// calibration is the result of scoring the labelled pairs at one threshold.
type calibration struct {
	threshold             float64
	positives, negatives  int
	recall, falsePositive float64
	maxPos, minNeg        float64
	missed                []string
	perKind               map[string][2]int // kind -> {caught, total}
}

func calibrate(tb testing.TB, e Embedder, pairs []nearDupPair, threshold float64) calibration {
	tb.Helper()
	texts := make([]string, 0, 2*len(pairs))
	for _, p := range pairs {
		texts = append(texts, p.TextA, p.TextB)
	}
	vecs, err := e.Embed(context.Background(), texts)
	if err != nil {
		tb.Fatal(err)
	}
	c := calibration{threshold: threshold, minNeg: 2, perKind: map[string][2]int{}}
	caught, falsePos := 0, 0
	for i, p := range pairs {
		d := cosDist(vecs[2*i], vecs[2*i+1])
		k := c.perKind[p.Kind]
		k[1]++
		if p.Dup {
			c.positives++
			c.maxPos = max(c.maxPos, d)
			if d <= threshold {
				caught++
				k[0]++
			} else {
				c.missed = append(c.missed, fmt.Sprintf("%s (%s) at %.3f", p.B, p.Kind, d))
			}
		} else {
			c.negatives++
			c.minNeg = min(c.minNeg, d)
			if d <= threshold {
				falsePos++
				k[0]++
				c.missed = append(c.missed, fmt.Sprintf("distinct %s vs %s at %.3f", p.A, p.B, d))
			}
		}
		c.perKind[p.Kind] = k
	}
	c.recall = float64(caught) / float64(c.positives)
	c.falsePositive = float64(falsePos) / float64(c.negatives)
	return c
}

func (c calibration) String() string {
	kinds := make([]string, 0, len(c.perKind))
	for k, v := range c.perKind {
		kinds = append(kinds, fmt.Sprintf("%s %d/%d", k, v[0], v[1]))
	}
	sort.Strings(kinds)
	return fmt.Sprintf("threshold %.3f: recall %.3f on %d planted near-duplicates, false positives %.3f on %d distinct pairs; largest near-duplicate distance %.3f, smallest distinct distance %.3f; flagged per kind: %s",
		c.threshold, c.recall, c.positives, c.falsePositive, c.negatives, c.maxPos, c.minNeg, strings.Join(kinds, ", "))
}

// TestHashThresholdCalibration asserts the goals for DefaultThreshold("hash-512")
// on the labelled set: recall >= 0.95 on planted near-duplicates, false
// positives <= 1% on distinct texts of the same theme and speaker.
func TestHashThresholdCalibration(t *testing.T) {
	pairs := readJSONL[nearDupPair](t, "testdata/neardup.jsonl")
	if len(pairs) < 300 {
		t.Fatalf("only %d labelled pairs in testdata/neardup.jsonl, want at least 300", len(pairs))
	}
	for _, th := range []float64{0.1, 0.15, 0.2, 0.3, 0.35, 0.4} {
		t.Logf("sweep: %v", calibrate(t, NewHash(), pairs, th))
	}
	c := calibrate(t, NewHash(), pairs, DefaultThreshold(HashID))
	t.Logf("default: %v", c)
	if c.recall < 0.95 {
		t.Errorf("recall %.3f < 0.95; missed: %s", c.recall, strings.Join(c.missed, "; "))
	}
	if c.falsePositive > 0.01 {
		t.Errorf("false positives %.3f > 0.01: %s", c.falsePositive, strings.Join(c.missed, "; "))
	}
}
