package prompts

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"unicode"
)

// Instruction is the text appended to a step's user prompt that tells the
// model how to answer: the section markers in order, or the JSON keys.
func (o *Output) Instruction() string {
	if len(o.Fields) == 0 {
		return ""
	}
	var b strings.Builder
	if o.Format == FormatSections {
		b.WriteString("Answer with exactly these sections, in this order, each introduced by its marker line:")
		for _, f := range o.Fields {
			fmt.Fprintf(&b, "\n### %s ###\n", f.marker())
			desc := f.Description
			if desc == "" {
				desc = f.Name
			}
			if f.Type == TypeList {
				fmt.Fprintf(&b, "1. <%s>\n2. <%s>\n...", desc, desc)
			} else {
				fmt.Fprintf(&b, "<%s>", desc)
			}
		}
		for _, f := range o.Fields {
			if f.Type == TypeList {
				b.WriteString("\nWrite each list item on its own numbered line.")
				break
			}
		}
		b.WriteString("\nWrite nothing before the first marker line and nothing after the last section.")
		return b.String()
	}
	b.WriteString("Answer with one JSON object with exactly these keys:")
	for _, f := range o.Fields {
		typ := "string"
		if f.Type == TypeList {
			typ = "array of strings"
		}
		fmt.Fprintf(&b, "\n- %q (%s)", f.Name, typ)
		if f.Description != "" {
			b.WriteString(": " + f.Description)
		}
	}
	return b.String()
}

func (f Field) marker() string {
	if f.Marker != "" {
		return f.Marker
	}
	return f.Name
}

// JSONSchema returns a strict JSON schema for the output: an object whose
// properties are the fields (strings, or arrays of strings for list fields),
// all required, no others allowed. It suits OpenAI's json_schema response
// format with strict: true.
func (o *Output) JSONSchema() map[string]any {
	props := map[string]any{}
	required := make([]any, 0, len(o.Fields))
	for _, f := range o.Fields {
		prop := map[string]any{"type": "string"}
		if f.Type == TypeList {
			prop = map[string]any{"type": "array", "items": map[string]any{"type": "string"}}
		}
		if f.Description != "" {
			prop["description"] = f.Description
		}
		props[f.Name] = prop
		required = append(required, f.Name)
	}
	return map[string]any{
		"type":                 "object",
		"properties":           props,
		"required":             required,
		"additionalProperties": false,
	}
}

// Parse turns an LLM answer into field values: a string for string fields, a
// []string for list fields. It fails with a *ParseError naming the field when
// the answer has no usable value for every field.
//
// For format json it reads the first JSON object in the answer, so code fences
// and prose around it do no harm. For format sections it splits the answer at
// marker lines such as "### 교정 후 ###" (also "## 교정 후", "**교정 후:**");
// headings with other text end a section and their content is dropped, and
// lines of only '#' are ignored. List fields take numbered ("1.", "1)") or
// bulleted ("-", "*", "•") items, with lines that are neither joined onto the
// item before them.
func (o *Output) Parse(answer string) (map[string]any, error) {
	if o.Format == FormatSections {
		return o.parseSections(answer)
	}
	return o.parseJSON(answer)
}

// markerKey is how markers compare: case and spaces do not matter.
func markerKey(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return unicode.ToLower(r)
	}, s)
}

// heading reports whether line is a heading and its text: "## x", "### x ###",
// "**x**", with bold, spaces and a trailing colon removed. hashes tells the
// markdown form apart from a bold line.
func heading(line string) (text string, hashes, ok bool) {
	s := strings.TrimSpace(line)
	switch {
	case strings.HasPrefix(s, "##"):
		s = strings.Trim(s, "#")
		hashes = true
	case strings.HasPrefix(s, "**") || strings.HasPrefix(s, "__"):
	default:
		return "", false, false
	}
	s = strings.TrimSpace(s)
	for _, cut := range []string{"**", "__"} {
		s = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(s, cut), cut))
	}
	s = strings.TrimRight(s, ":：")
	s = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(s, "**"), "**"))
	return s, hashes, s != ""
}

var separatorRE = regexp.MustCompile(`^\s*#{3,}\s*$`)

func (o *Output) parseSections(answer string) (map[string]any, error) {
	index := map[string]int{}
	for i, f := range o.Fields {
		index[markerKey(f.marker())] = i
	}
	content := make([][]string, len(o.Fields))
	seen := make([]bool, len(o.Fields))
	cur := -1
	for _, line := range strings.Split(strings.ReplaceAll(answer, "\r\n", "\n"), "\n") {
		if separatorRE.MatchString(line) {
			continue
		}
		if text, hashes, ok := heading(line); ok {
			if i, known := index[markerKey(text)]; known {
				if seen[i] {
					return nil, &ParseError{Field: o.Fields[i].Name, Msg: fmt.Sprintf("section %q appears twice", o.Fields[i].marker())}
				}
				seen[i], cur = true, i
				continue
			}
			if hashes {
				cur = -1 // a section this step does not ask for, like an echoed "### 교정 전 ###"
				continue
			}
		}
		if cur >= 0 {
			content[cur] = append(content[cur], line)
		}
	}
	out := make(map[string]any, len(o.Fields))
	for i, f := range o.Fields {
		if !seen[i] {
			return nil, &ParseError{Field: f.Name, Msg: fmt.Sprintf("no section %q in the answer", "### "+f.marker()+" ###")}
		}
		v, err := fieldValue(f, content[i])
		if err != nil {
			return nil, err
		}
		out[f.Name] = v
	}
	return out, nil
}

// fieldValue makes a field's value from its lines.
func fieldValue(f Field, lines []string) (any, error) {
	if f.Type == TypeList {
		items := listItems(lines)
		if len(items) == 0 {
			return nil, &ParseError{Field: f.Name, Msg: "the list is empty"}
		}
		return items, nil
	}
	s := strings.TrimSpace(strings.Join(lines, "\n"))
	if s == "" {
		return nil, &ParseError{Field: f.Name, Msg: "the text is empty"}
	}
	return s, nil
}

var itemRE = regexp.MustCompile(`^\s*(?:\d+[.)]|[-*•+])\s+(.*)$`)

// listItems reads numbered or bulleted items; a line that starts no item
// continues the one before. Without any item marker, each non-empty line is an
// item; text before the first marked item is dropped as preamble.
func listItems(lines []string) []string {
	var items, plainLines []string
	for _, line := range lines {
		t := strings.TrimSpace(line)
		if t == "" {
			continue
		}
		if m := itemRE.FindStringSubmatch(line); m != nil {
			if it := strings.TrimSpace(m[1]); it != "" {
				items = append(items, it)
			}
			continue
		}
		if len(items) == 0 {
			plainLines = append(plainLines, t)
			continue
		}
		items[len(items)-1] += " " + t
	}
	if len(items) == 0 {
		return plainLines
	}
	return items
}

func (o *Output) parseJSON(answer string) (map[string]any, error) {
	obj, err := firstObject(answer)
	if err != nil {
		return nil, err
	}
	out := make(map[string]any, len(o.Fields))
	for _, f := range o.Fields {
		raw, ok := obj[f.Name]
		if !ok {
			for k, v := range obj {
				if strings.EqualFold(k, f.Name) {
					raw, ok = v, true
					break
				}
			}
		}
		if !ok || raw == nil {
			return nil, &ParseError{Field: f.Name, Msg: "missing from the JSON object"}
		}
		v, err := jsonValue(f, raw)
		if err != nil {
			return nil, err
		}
		out[f.Name] = v
	}
	return out, nil
}

// firstObject decodes the first JSON object in s, skipping prose and code
// fences around it.
func firstObject(s string) (map[string]any, error) {
	var lastErr error
	for off, tries := 0, 0; tries < 20; tries++ {
		i := strings.IndexByte(s[off:], '{')
		if i < 0 {
			break
		}
		off += i
		var obj map[string]any
		dec := json.NewDecoder(strings.NewReader(s[off:]))
		if err := dec.Decode(&obj); err == nil {
			return obj, nil
		} else if lastErr == nil {
			lastErr = err
		}
		off++
	}
	if lastErr != nil {
		return nil, &ParseError{Msg: fmt.Sprintf("invalid JSON object: %v", lastErr)}
	}
	return nil, &ParseError{Msg: "no JSON object in the answer"}
}

func jsonValue(f Field, raw any) (any, error) {
	if f.Type == TypeList {
		switch x := raw.(type) {
		case string:
			return fieldValue(f, strings.Split(x, "\n"))
		case []any:
			var items []string
			for i, it := range x {
				s, ok := it.(string)
				if !ok {
					return nil, &ParseError{Field: f.Name, Msg: fmt.Sprintf("item %d is %s, want a string", i, jsonKind(it))}
				}
				if s = strings.TrimSpace(s); s != "" {
					items = append(items, s)
				}
			}
			if len(items) == 0 {
				return nil, &ParseError{Field: f.Name, Msg: "the list is empty"}
			}
			return items, nil
		}
		return nil, &ParseError{Field: f.Name, Msg: fmt.Sprintf("want an array of strings, found %s", jsonKind(raw))}
	}
	switch x := raw.(type) {
	case string:
		return fieldValue(f, []string{x})
	case []any:
		// A model sometimes splits a text into lines; keep them as lines.
		lines := make([]string, 0, len(x))
		for i, it := range x {
			s, ok := it.(string)
			if !ok {
				return nil, &ParseError{Field: f.Name, Msg: fmt.Sprintf("item %d is %s, want a string", i, jsonKind(it))}
			}
			lines = append(lines, s)
		}
		return fieldValue(f, lines)
	}
	return nil, &ParseError{Field: f.Name, Msg: fmt.Sprintf("want a string, found %s", jsonKind(raw))}
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case float64:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}
