package edits

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// M2Sentence is one sentence of an M2 file: its original tokens and each annotator's edits.
type M2Sentence struct {
	Source []string
	Edits  map[int][]M2Edit // by annotator id
}

// M2Edit is one "A" line of an M2 file. A noop line has Start and End -1 and Type "noop".
type M2Edit struct {
	Start, End int
	Type       string
	Correction string // corrected tokens joined by " "; "" for a deletion
}

// M2Error is a line of an M2 file that does not parse.
type M2Error struct {
	Line int // 1-based
	Msg  string
}

func (e *M2Error) Error() string { return fmt.Sprintf("read m2 line %d: %s", e.Line, e.Msg) }

// ReadM2 parses an M2 file: "S" lines open a sentence, "A start end|||type|||correction|||...|||id"
// lines add an edit for annotator id, blank lines separate sentences. It returns an *M2Error naming
// the line for a malformed "A" line or an "A" line before any "S" line.
func ReadM2(r io.Reader) ([]M2Sentence, error) {
	var out []M2Sentence
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimRight(sc.Text(), "\r")
		switch {
		case strings.TrimSpace(line) == "":
			continue
		case line == "S" || strings.HasPrefix(line, "S "):
			out = append(out, M2Sentence{Source: strings.Fields(line[1:]), Edits: map[int][]M2Edit{}})
		case strings.HasPrefix(line, "A "):
			if len(out) == 0 {
				return nil, &M2Error{n, "edit before any sentence: start the file with an S line"}
			}
			ed, ann, err := parseM2Edit(line[2:])
			if err != nil {
				return nil, &M2Error{n, err.Error()}
			}
			s := &out[len(out)-1]
			s.Edits[ann] = append(s.Edits[ann], ed)
		default:
			return nil, &M2Error{n, `line starts with neither "S " nor "A "`}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, &M2Error{n + 1, err.Error()}
	}
	return out, nil
}

func parseM2Edit(s string) (M2Edit, int, error) {
	f := strings.Split(s, "|||")
	if len(f) < 3 {
		return M2Edit{}, 0, fmt.Errorf("edit %q has %d |||-separated fields, want 6", s, len(f))
	}
	span := strings.Fields(f[0])
	if len(span) != 2 {
		return M2Edit{}, 0, fmt.Errorf("edit span %q is not \"start end\"", f[0])
	}
	start, err1 := strconv.Atoi(span[0])
	end, err2 := strconv.Atoi(span[1])
	if err1 != nil || err2 != nil || end < start {
		return M2Edit{}, 0, fmt.Errorf("edit span %q is not two ordered integers", f[0])
	}
	ann := 0
	if len(f) >= 6 {
		a, err := strconv.Atoi(strings.TrimSpace(f[5]))
		if err != nil {
			return M2Edit{}, 0, fmt.Errorf("annotator id %q is not an integer", f[5])
		}
		ann = a
	}
	return M2Edit{Start: start, End: end, Type: f[1], Correction: strings.TrimSpace(f[2])}, ann, nil
}

// noop reports an edit that stands for "no correction".
func (e M2Edit) noop() bool {
	return e.Start < 0 || e.Type == "noop" || e.Correction == "-NONE-"
}

// Corrected applies the annotator's edits to Source and returns the corrected tokens. Noop edits
// and edits overlapping an earlier one are skipped; an annotator without edits gets a copy of Source.
func (s M2Sentence) Corrected(annotator int) []string {
	eds := slices.Clone(s.Edits[annotator])
	slices.SortStableFunc(eds, func(a, b M2Edit) int { return a.Start - b.Start })
	out := make([]string, 0, len(s.Source)+4)
	pos := 0
	for _, e := range eds {
		if e.noop() || e.Start < pos || e.End > len(s.Source) {
			continue
		}
		out = append(out, s.Source[pos:e.Start]...)
		out = append(out, strings.Fields(e.Correction)...)
		pos = e.End
	}
	return append(out, s.Source[pos:]...)
}

// WriteM2 writes one M2 sentence: the "S" line of orig, an "A" line per edit for annotator 0 (or a
// noop line when there are none) and a blank line.
func WriteM2(w io.Writer, orig []string, edits []Edit) error {
	bw := bufio.NewWriter(w)
	bw.WriteString("S ")
	bw.WriteString(strings.Join(orig, " "))
	bw.WriteByte('\n')
	if len(edits) == 0 {
		bw.WriteString("A -1 -1|||noop|||-NONE-|||REQUIRED|||-NONE-|||0\n")
	}
	for _, e := range edits {
		typ := e.Type
		if typ == "" {
			typ = "UNK"
		}
		fmt.Fprintf(bw, "A %d %d|||%s|||%s|||REQUIRED|||-NONE-|||0\n", e.OStart, e.OEnd, typ, e.C)
	}
	bw.WriteByte('\n')
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write m2 sentence: %w", err)
	}
	return nil
}

// Scores compares extracted edits with gold M2 edits.
type Scores struct {
	Sentences, Gold, Pred, SpanTP int
	P, R, F1                      float64
	TypeAcc                       float64 // among span matches, the share with the gold type
}

// Evaluate rebuilds each sentence's correction from annotator 0's edits, extracts edits from
// (source, corrected) with ExtractTokens and scores them against annotator 0's gold edits: an edit
// matches when start, end and correction are equal. Noop edits and edits that change nothing
// (detected-but-uncorrected "UNK" edits) are not gold, since no extractor can recover them.
func Evaluate(sents []M2Sentence) Scores {
	var sc Scores
	typeOK := 0
	type key struct {
		s, e int
		c    string
	}
	gold := map[key]string{}
	for _, s := range sents {
		sc.Sentences++
		clear(gold)
		for _, g := range s.Edits[0] {
			if g.noop() || g.End > len(s.Source) {
				continue
			}
			corr := strings.Join(strings.Fields(g.Correction), " ")
			if strings.Join(s.Source[g.Start:g.End], " ") == corr {
				continue
			}
			gold[key{g.Start, g.End, corr}] = g.Type
		}
		sc.Gold += len(gold)
		for _, e := range ExtractTokens(s.Source, s.Corrected(0)) {
			sc.Pred++
			t, ok := gold[key{e.OStart, e.OEnd, e.C}]
			if !ok {
				continue
			}
			sc.SpanTP++
			if t == e.Type {
				typeOK++
			}
		}
	}
	if sc.Pred > 0 {
		sc.P = float64(sc.SpanTP) / float64(sc.Pred)
	}
	if sc.Gold > 0 {
		sc.R = float64(sc.SpanTP) / float64(sc.Gold)
	}
	if sc.P+sc.R > 0 {
		sc.F1 = 2 * sc.P * sc.R / (sc.P + sc.R)
	}
	if sc.SpanTP > 0 {
		sc.TypeAcc = float64(typeOK) / float64(sc.SpanTP)
	}
	return sc
}
