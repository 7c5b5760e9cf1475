package prompts

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"
)

// funcs are the functions every template may call besides text/template's own.
var funcs = template.FuncMap{
	// join joins a list field's items with sep: {{join .points ", "}}.
	"join": func(list any, sep string) (string, error) {
		items, err := stringList(list)
		if err != nil {
			return "", fmt.Errorf("join: %w", err)
		}
		return strings.Join(items, sep), nil
	},
	// numbered writes a list one item a line as "1. a\n2. b": {{numbered .points}}.
	"numbered": func(list any) (string, error) {
		items, err := stringList(list)
		if err != nil {
			return "", fmt.Errorf("numbered: %w", err)
		}
		var b strings.Builder
		for i, it := range items {
			if i > 0 {
				b.WriteByte('\n')
			}
			b.WriteString(strconv.Itoa(i + 1))
			b.WriteString(". ")
			b.WriteString(it)
		}
		return b.String(), nil
	},
}

// stringList accepts what a list field can hold; a single string is a list of one.
func stringList(v any) ([]string, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case []string:
		return x, nil
	case string:
		return []string{x}, nil
	case []any:
		out := make([]string, len(x))
		for i, it := range x {
			s, ok := it.(string)
			if !ok {
				return nil, fmt.Errorf("item %d is a %T, want a string", i, it)
			}
			out[i] = s
		}
		return out, nil
	}
	return nil, fmt.Errorf("want a list of strings, got %T", v)
}

func newTemplate(name, src string) (*template.Template, error) {
	return template.New(name).Funcs(funcs).Option("missingkey=error").Parse(src)
}

var templateErrRE = regexp.MustCompile(`^template: [^:]*:(\d+):(?:\d+:)?\s*(.*)$`)

// templateErrorLine splits a text/template parse error into its 1-based line
// inside the template and its message.
func templateErrorLine(err error) (int, string) {
	m := templateErrRE.FindStringSubmatch(err.Error())
	if m == nil {
		return 1, err.Error()
	}
	line, _ := strconv.Atoi(m[1])
	return line, m[2]
}

// lineOffset returns the byte offset where 1-based line starts in src.
func lineOffset(src string, line int) int {
	off := 0
	for i := 1; i < line; i++ {
		j := strings.IndexByte(src[off:], '\n')
		if j < 0 {
			break
		}
		off += j + 1
	}
	return off
}

type templateRef struct {
	name string
	pos  int
}

// templateRefs lists the top-level data names a template reads: .x where dot is
// still the data passed to Execute, and $.x anywhere. Inside range and with
// bodies dot is something else (an example, say), so .x there is not checked.
func templateRefs(t *template.Template) []templateRef {
	var out []templateRef
	if t.Tree != nil {
		walkRefs(t.Tree.Root, true, &out)
	}
	return out
}

func walkRefs(n parse.Node, dotIsRoot bool, out *[]templateRef) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			walkRefs(c, dotIsRoot, out)
		}
	case *parse.ActionNode:
		walkRefs(n.Pipe, dotIsRoot, out)
	case *parse.PipeNode:
		if n == nil {
			return
		}
		for _, c := range n.Cmds {
			walkRefs(c, dotIsRoot, out)
		}
	case *parse.CommandNode:
		for _, a := range n.Args {
			walkRefs(a, dotIsRoot, out)
		}
	case *parse.FieldNode:
		if dotIsRoot && len(n.Ident) > 0 {
			*out = append(*out, templateRef{name: n.Ident[0], pos: int(n.Pos)})
		}
	case *parse.VariableNode:
		if len(n.Ident) > 1 && n.Ident[0] == "$" {
			*out = append(*out, templateRef{name: n.Ident[1], pos: int(n.Pos)})
		}
	case *parse.ChainNode:
		walkRefs(n.Node, dotIsRoot, out)
	case *parse.IfNode:
		walkRefs(n.Pipe, dotIsRoot, out)
		walkRefs(n.List, dotIsRoot, out)
		walkRefs(n.ElseList, dotIsRoot, out)
	case *parse.RangeNode:
		walkRefs(n.Pipe, dotIsRoot, out)
		walkRefs(n.List, false, out)
		walkRefs(n.ElseList, dotIsRoot, out)
	case *parse.WithNode:
		walkRefs(n.Pipe, dotIsRoot, out)
		walkRefs(n.List, false, out)
		walkRefs(n.ElseList, dotIsRoot, out)
	case *parse.TemplateNode:
		walkRefs(n.Pipe, dotIsRoot, out)
	}
}

// execute runs the parsed template t, or parses src when t is nil (a Step
// built by hand rather than by Parse).
func execute(t *template.Template, name, src string, data map[string]any) (string, error) {
	if t == nil {
		if src == "" {
			return "", nil
		}
		var err error
		if t, err = newTemplate(name, src); err != nil {
			return "", err
		}
	}
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		return "", err
	}
	return b.String(), nil
}

// Render executes the step's system and user templates on data: every
// dimension value by name, every field of earlier steps, examples when the step
// has Examples, slot and seed. A name missing from data is an error. The user
// prompt ends with the output instruction (Output.Instruction), so the model
// learns the sections or JSON keys to answer with.
func (st *Step) Render(data map[string]any) (system, user string, err error) {
	system, err = execute(st.system, "system", st.System, data)
	if err != nil {
		return "", "", fmt.Errorf("render system prompt of step %q: %w", st.Name, err)
	}
	user, err = execute(st.user, "user", st.User, data)
	if err != nil {
		return "", "", fmt.Errorf("render user prompt of step %q: %w", st.Name, err)
	}
	system, user = strings.TrimSpace(system), strings.TrimSpace(user)
	if instr := st.Output.Instruction(); instr != "" {
		if user != "" {
			user += "\n\n"
		}
		user += instr
	}
	return system, user, nil
}

// RenderQuery executes the examples query template on data (dimensions, fields
// of earlier steps, slot and seed).
func (e *Examples) RenderQuery(data map[string]any) (string, error) {
	q, err := execute(e.query, "query", e.Query, data)
	if err != nil {
		return "", fmt.Errorf("render examples query: %w", err)
	}
	return strings.TrimSpace(q), nil
}

// Render executes the training templates on a finished record's data: its
// dimension values, every field, slot and seed. A name missing from data is an
// error.
func (t *Train) Render(data map[string]any) (system, user, assistant string, err error) {
	if system, err = execute(t.system, "system", t.System, data); err != nil {
		return "", "", "", fmt.Errorf("render train system template: %w", err)
	}
	if user, err = execute(t.user, "user", t.User, data); err != nil {
		return "", "", "", fmt.Errorf("render train user template: %w", err)
	}
	if assistant, err = execute(t.assistant, "assistant", t.Assistant, data); err != nil {
		return "", "", "", fmt.Errorf("render train assistant template: %w", err)
	}
	return strings.TrimSpace(system), strings.TrimSpace(user), strings.TrimSpace(assistant), nil
}
