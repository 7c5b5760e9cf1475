package prompts

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Error is one problem found in a prompt schema, located at a line and column of
// the file it came from and at a path inside the document such as
// steps[1].output.fields.after. Line and Col are 1-based; 0 means unknown.
type Error struct {
	File      string
	Line, Col int
	Path      string
	Msg       string
}

// Error formats the problem as "file:line:col: path: msg", leaving out the parts
// that are unknown.
func (e *Error) Error() string {
	var b strings.Builder
	loc := e.File
	if e.Line > 0 {
		if loc != "" {
			loc += ":"
		}
		loc += strconv.Itoa(e.Line)
		if e.Col > 0 {
			loc += ":" + strconv.Itoa(e.Col)
		}
	}
	if loc != "" {
		b.WriteString(loc)
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ErrorList is every problem found in one schema, ordered by position.
type ErrorList []*Error

// Error lists the problems, one a line.
func (l ErrorList) Error() string {
	msgs := make([]string, len(l))
	for i, e := range l {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// Unwrap gives the problems to errors.As and errors.Is.
func (l ErrorList) Unwrap() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}

// err returns nil for an empty list, the single *Error for one problem, and the
// sorted list otherwise.
func (l ErrorList) err() error {
	switch len(l) {
	case 0:
		return nil
	case 1:
		return l[0]
	}
	sort.SliceStable(l, func(i, j int) bool {
		if l[i].Line != l[j].Line {
			return l[i].Line < l[j].Line
		}
		return l[i].Col < l[j].Col
	})
	return l
}

// ParseError says why an LLM answer could not be turned into field values.
// Field is the output field at fault, or "" when the answer as a whole is
// unusable.
type ParseError struct {
	Field string
	Msg   string
}

// Error formats the problem as "parse answer: field "x": msg".
func (e *ParseError) Error() string {
	if e.Field == "" {
		return "parse answer: " + e.Msg
	}
	return fmt.Sprintf("parse answer: field %q: %s", e.Field, e.Msg)
}

var yamlLineRE = regexp.MustCompile(`line (\d+)(?:, column (\d+))?: (.*)`)

// syntaxError turns a yaml.v3 error into an *Error with the line it names.
func syntaxError(file string, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	e := &Error{File: file, Msg: "invalid YAML: " + msg}
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		if m[2] != "" {
			e.Col, _ = strconv.Atoi(m[2])
		}
		e.Msg = "invalid YAML: " + m[3]
	}
	e.Msg += "; check the indentation and quote strings that contain ': ' or start with a special character"
	return e
}
