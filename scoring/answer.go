package scoring

import (
	"regexp"
	"strings"
)

// DefaultMarker is the heading of the corrected text in the trained answer format (### 교정 후 ###).
const DefaultMarker = "교정 후"

var markerLine = regexp.MustCompile(`^\s*#{2,}\s*(.*?)\s*#*\s*$`)

// ReadAnswer reads the corrected text out of a model's answer. An answer in the trained format has
// a "### marker ###" heading: the text is what follows it up to the next heading. An answer without
// any heading is the corrected text itself (a model prompted plainly). It reports false for an
// answer that holds no correction: empty, or headed sections without the marker's. An empty section
// under the marker is read as it says: the corrected text is empty.
func ReadAnswer(answer, marker string) (string, bool) {
	if marker == "" {
		marker = DefaultMarker
	}
	lines := strings.Split(strings.ReplaceAll(answer, "\r\n", "\n"), "\n")
	headed, in, found := false, false, false
	var out []string
	for _, l := range lines {
		if m := markerLine.FindStringSubmatch(l); m != nil {
			headed = true
			if in {
				break
			}
			in = m[1] == marker
			found = found || in
			continue
		}
		if in {
			out = append(out, l)
		}
	}
	if !headed {
		text := strings.TrimSpace(stripFence(answer))
		return text, text != ""
	}
	return strings.TrimSpace(strings.Join(out, "\n")), found
}

// stripFence removes a code fence around the whole answer (```text ... ```), which some chat models
// add.
func stripFence(s string) string {
	t := strings.TrimSpace(s)
	if !strings.HasPrefix(t, "```") || !strings.HasSuffix(t, "```") || len(t) < 6 {
		return s
	}
	t = strings.TrimSuffix(strings.TrimPrefix(t, "```"), "```")
	if nl := strings.IndexByte(t, '\n'); nl >= 0 && !strings.ContainsAny(t[:nl], " \t") {
		t = t[nl+1:] // the fence's language tag
	}
	return t
}

// MarkerOf finds the heading that introduces {{.after}} in a schema's train.assistant template
// ("### 교정 후 ###\n{{.after}}" gives 교정 후), or "" when the template has none.
func MarkerOf(assistant string) string {
	i := strings.Index(assistant, "{{.after}}")
	if i < 0 {
		return ""
	}
	lines := strings.Split(assistant[:i], "\n")
	for k := len(lines) - 1; k >= 0; k-- {
		if m := markerLine.FindStringSubmatch(lines[k]); m != nil {
			return m[1]
		}
		if strings.TrimSpace(lines[k]) != "" {
			return ""
		}
	}
	return ""
}
