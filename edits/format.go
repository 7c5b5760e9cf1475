package edits

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// Format writes one line per edit to w: the type, the original token span and "O -> C", with ∅ for
// an empty side. orig and cor are the token lists the edits were computed from; they fill in an
// edit's O or C text when it is empty but its span is not. Write errors are ignored, as with
// fmt.Fprintf.
func Format(w io.Writer, orig, cor []string, edits []Edit) {
	bw := bufio.NewWriter(w)
	for _, e := range edits {
		typ := e.Type
		if typ == "" {
			typ = "UNK"
		}
		o, c := e.O, e.C
		if o == "" && e.OStart >= 0 && e.OStart < e.OEnd && e.OEnd <= len(orig) {
			o = strings.Join(orig[e.OStart:e.OEnd], " ")
		}
		if c == "" && e.CStart >= 0 && e.CStart < e.CEnd && e.CEnd <= len(cor) {
			c = strings.Join(cor[e.CStart:e.CEnd], " ")
		}
		fmt.Fprintf(bw, "%-12s %d:%d\t%s -> %s\n", typ, e.OStart, e.OEnd, orEmpty(o), orEmpty(c))
	}
	bw.Flush()
}

func orEmpty(s string) string {
	if s == "" {
		return "∅"
	}
	return s
}
