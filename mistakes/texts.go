package mistakes

import (
	"bufio"
	_ "embed"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
)

// Text is one clean English text to inject errors into, with the dimensions it was written for
// (values of the default schema's theme, speaker and script_type; empty when unknown).
type Text struct {
	Text, Theme, Speaker, ScriptType string
}

//go:embed texts/bundled.txt
var bundledFile string

var bundled = sync.OnceValue(func() []Text { return parseBundled(bundledFile) })

// Bundled returns the package's own clean texts: a few hundred sentences and short paragraphs in
// natural English covering the default schema's themes and speakers. The caller may modify the
// returned slice.
func Bundled() []Text { return slices.Clone(bundled()) }

// parseBundled reads the bundled format: a line "[theme | speaker | script type]" sets the
// dimensions of the texts below it, one text a line; blank lines and lines starting with "#" are
// skipped.
func parseBundled(s string) []Text {
	var out []Text
	var cur Text
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			f := strings.Split(line[1:len(line)-1], "|")
			for len(f) < 3 {
				f = append(f, "")
			}
			cur = Text{Theme: strings.TrimSpace(f[0]), Speaker: strings.TrimSpace(f[1]), ScriptType: strings.TrimSpace(f[2])}
		default:
			t := cur
			t.Text = line
			out = append(out, t)
		}
	}
	return out
}

// ReadSource reads clean texts, one paragraph or sentence a line; blank lines are skipped and
// surrounding space is trimmed. The texts carry no dimensions. It returns an error naming the line
// when reading fails or a line is longer than 1 MiB.
func ReadSource(r io.Reader) ([]Text, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	var out []Text
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		out = append(out, Text{Text: line})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read source texts at line %d: %w: give one paragraph per line, at most 1 MiB each", n+1, err)
	}
	return out, nil
}
