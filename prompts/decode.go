package prompts

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"
	"text/template"

	"gopkg.in/yaml.v3"
)

var (
	// schemaNameRE is what a schema name may look like: it appears in CLI flags
	// (--prompt NAME@VERSION) and in stored documents.
	schemaNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
	// identRE is what dimension, field and step names may look like: templates
	// refer to them as .name, which text/template only allows for identifiers.
	identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	// stepNameRE is what a step name may look like: it names the step in logs
	// and stored records, never in templates.
	stepNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*$`)
)

// reserved names are template data the generator supplies besides dimensions
// and fields.
var reserved = []string{"examples", "slot", "seed", "negative"}

// noNegatives explains .negative in a schema without negatives.
const noNegatives = "which is set only in a schema with negatives: add negatives: 0.1 to ask that share of slots for a text that needs no correction"

// Parse parses and validates the schema in data; file names it in errors. Every
// problem found is reported: the error is an *Error for one and an ErrorList
// for several. Top-level keys this package does not know are kept in Doc;
// unknown keys inside the known sections are errors, since they are most often
// typos.
func Parse(file string, data []byte) (*Schema, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, syntaxError(file, err)
	}
	p := &parser{file: file, lines: strings.Split(string(data), "\n")}
	s := p.schema(&root)
	if err := p.errs.err(); err != nil {
		return nil, err
	}
	return s, nil
}

type parser struct {
	file  string
	lines []string
	errs  ErrorList
}

// stepNodes remembers where a step's templates are, for template errors.
type stepNodes struct {
	node, name, system, user, query *yaml.Node
	fields                          []*yaml.Node // one per output field
}

type entry struct {
	key      string
	knode, v *yaml.Node
}

func (p *parser) errorf(n *yaml.Node, path, format string, args ...any) {
	e := &Error{File: p.file, Path: path, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Col = n.Line, n.Column
	}
	p.errs = append(p.errs, e)
}

func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func kindName(n *yaml.Node) string {
	switch {
	case n == nil:
		return "nothing"
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case n.Kind == yaml.ScalarNode && n.Tag == "!!null":
		return "nothing"
	case n.Kind == yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// entries returns the pairs of a mapping in file order. It reports keys given
// twice and, unless known is nil, keys not in known.
func (p *parser) entries(n *yaml.Node, path string, known []string) []entry {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		p.errorf(n, path, "want a mapping (key: value lines), found %s", kindName(n))
		return nil
	}
	seen := map[string]bool{}
	var out []entry
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			p.errorf(k, path, "a key must be a plain string, found %s", kindName(k))
			continue
		}
		key := k.Value
		if seen[key] {
			p.errorf(k, joinPath(path, key), "key %q appears twice: keep one", key)
			continue
		}
		seen[key] = true
		if known != nil && !slices.Contains(known, key) {
			p.errorf(k, joinPath(path, key), "unknown key %q: use one of %s", key, strings.Join(known, ", "))
			continue
		}
		out = append(out, entry{key: key, knode: k, v: v})
	}
	return out
}

func (p *parser) str(n *yaml.Node, path string) (string, bool) {
	n = resolve(n)
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		p.errorf(n, path, "want a string, found %s", kindName(n))
		return "", false
	}
	return n.Value, true
}

func (p *parser) number(n *yaml.Node, path string) (float64, bool) {
	n = resolve(n)
	var f float64
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") || n.Decode(&f) != nil {
		p.errorf(n, path, "want a number, found %s", kindName(n))
		return 0, false
	}
	return f, true
}

func (p *parser) integer(n *yaml.Node, path string) (int, bool) {
	n = resolve(n)
	var i int
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || n.Decode(&i) != nil {
		p.errorf(n, path, "want a whole number, found %s", kindName(n))
		return 0, false
	}
	return i, true
}

// names reads a list of names; a single string stands for a list of one.
func (p *parser) names(n *yaml.Node, path string) ([]string, []*yaml.Node) {
	n = resolve(n)
	if n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
		return []string{n.Value}, []*yaml.Node{n}
	}
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, path, "want a list of names, found %s", kindName(n))
		return nil, nil
	}
	var out []string
	var nodes []*yaml.Node
	for i, item := range n.Content {
		if s, ok := p.str(item, fmt.Sprintf("%s[%d]", path, i)); ok {
			out = append(out, s)
			nodes = append(nodes, resolve(item))
		}
	}
	return out, nodes
}

func (p *parser) schema(root *yaml.Node) *Schema {
	if root.Kind == 0 || len(root.Content) == 0 {
		p.errorf(&yaml.Node{Line: 1, Column: 1}, "", "empty schema: write a mapping with name, dimensions and steps")
		return nil
	}
	doc := resolve(root.Content[0])
	if doc.Kind != yaml.MappingNode {
		p.errorf(doc, "", "a schema is a mapping with name, dimensions and steps, found %s", kindName(doc))
		return nil
	}
	s := &Schema{File: p.file}
	var raw any
	if err := doc.Decode(&raw); err != nil {
		p.errorf(doc, "", "decode the document: %v", err)
	}
	s.Doc, _ = plain(raw).(map[string]any)

	var stepsNode *yaml.Node
	var valNode, trainNode, dedupNode, negNode *yaml.Node
	for _, e := range p.entries(doc, "", nil) {
		switch e.key {
		case "name":
			s.Name, _ = p.str(e.v, "name")
			if s.Name != "" && !schemaNameRE.MatchString(s.Name) {
				p.errorf(e.v, "name", "name %q is not allowed: use lowercase letters, digits, '_' and '-', starting with a letter or digit", s.Name)
			}
		case "description":
			s.Description, _ = p.str(e.v, "description")
		case "dimensions":
			s.Dimensions = p.dimensions(e.v)
		case "params":
			s.Params = p.params(e.v, "params")
		case "steps":
			stepsNode = e.v
		case "validators":
			valNode = e.v
		case "train":
			trainNode = e.v
		case "dedup":
			dedupNode = e.v
		case "negatives":
			negNode = e.v
			if v, ok := p.number(e.v, "negatives"); ok {
				if v < 0 || v >= 1 {
					p.errorf(e.v, "negatives", "negatives %v: give the share of slots that ask for a text needing no correction, from 0 to below 1, like negatives: 0.1", v)
				} else {
					s.Negatives = v
				}
			}
		}
	}
	if s.Name == "" && !p.has(doc, "name") {
		p.errorf(doc, "name", "missing name: add name: my_prompt (lowercase letters, digits, '_' and '-')")
	}
	if !p.has(doc, "dimensions") {
		p.errorf(doc, "dimensions", "missing dimensions: add at least one, like dimensions: {theme: [travel, food]}")
	}
	if stepsNode == nil {
		p.errorf(doc, "steps", "missing steps: add at least one step with name, user and output")
		return s
	}

	var nodes []stepNodes
	s.Steps, nodes = p.steps(stepsNode, s)
	p.stepTemplates(s, nodes)
	if s.Negatives > 0 && !s.readsNegative() {
		p.errorf(negNode, "negatives", "negatives is set, but no step template reads .negative: tell the model what a negative slot asks for, like {{if .negative}}Write it in natural English, with no mistakes.{{end}}")
	}
	if trainNode != nil {
		s.Train = p.train(trainNode, s)
	}
	if dedupNode != nil {
		s.Dedup = p.dedup(dedupNode, s)
	}
	if valNode != nil {
		s.Validators = p.validators(valNode, s)
	}
	return s
}

func (p *parser) has(m *yaml.Node, key string) bool {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return true
		}
	}
	return false
}

// checkName reports a dimension or field name that templates could not refer to.
func (p *parser) checkName(n *yaml.Node, path, what, name string) bool {
	if !identRE.MatchString(name) {
		p.errorf(n, path, "%s name %q is not allowed: use letters, digits and '_', not starting with a digit, so templates can write {{.%s}}", what, name, strings.ReplaceAll(name, "-", "_"))
		return false
	}
	if slices.Contains(reserved, name) {
		p.errorf(n, path, "%s name %q is reserved for template data: pick another name (reserved: %s)", what, name, strings.Join(reserved, ", "))
		return false
	}
	return true
}

func (p *parser) dimensions(n *yaml.Node) []Dimension {
	ents := p.entries(n, "dimensions", nil)
	if len(ents) == 0 && resolve(n).Kind == yaml.MappingNode {
		p.errorf(n, "dimensions", "no dimensions: add at least one, like theme: [travel, food]")
	}
	var dims []Dimension
	for _, e := range ents {
		path := "dimensions." + e.key
		if !p.checkName(e.knode, path, "dimension", e.key) {
			continue
		}
		d := Dimension{Name: e.key}
		seen := map[string]bool{}
		add := func(n *yaml.Node, v string, w float64) {
			switch {
			case strings.TrimSpace(v) == "":
				p.errorf(n, path, "empty value: remove it or write the value")
			case seen[v]:
				p.errorf(n, path, "value %q is listed twice: keep one (use weights to favour a value)", v)
			default:
				seen[v] = true
				d.Values = append(d.Values, v)
				d.Weights = append(d.Weights, w)
			}
		}
		switch e.v.Kind {
		case yaml.SequenceNode:
			for i, item := range e.v.Content {
				if v, ok := p.str(item, fmt.Sprintf("%s[%d]", path, i)); ok {
					add(resolve(item), v, 1)
				}
			}
		case yaml.MappingNode:
			for _, we := range p.entries(e.v, path, nil) {
				w, ok := p.number(we.v, path+"."+we.key)
				if !ok {
					continue
				}
				if !(w > 0) {
					p.errorf(we.v, path+"."+we.key, "weight %v must be greater than 0: remove the value to never pick it", w)
					continue
				}
				add(we.knode, we.key, w)
			}
		default:
			p.errorf(e.v, path, "want a list of values or a mapping of value: weight, found %s", kindName(e.v))
			continue
		}
		if len(d.Values) == 0 {
			p.errorf(e.v, path, "dimension %q has no values: add at least one", e.key)
			continue
		}
		dims = append(dims, d)
	}
	return dims
}

func (p *parser) params(n *yaml.Node, path string) Params {
	var out Params
	for _, e := range p.entries(n, path, []string{"model", "temperature", "top_p", "max_tokens", "seed"}) {
		ep := path + "." + e.key
		switch e.key {
		case "model":
			out.Model, _ = p.str(e.v, ep)
		case "temperature":
			if f, ok := p.number(e.v, ep); ok {
				if f < 0 || f > 2 {
					p.errorf(e.v, ep, "temperature %v is out of range: use 0 to 2", f)
				}
				out.Temperature = &f
			}
		case "top_p":
			if f, ok := p.number(e.v, ep); ok {
				if f <= 0 || f > 1 {
					p.errorf(e.v, ep, "top_p %v is out of range: use a number above 0 and at most 1", f)
				}
				out.TopP = &f
			}
		case "max_tokens":
			if i, ok := p.integer(e.v, ep); ok {
				if i < 1 {
					p.errorf(e.v, ep, "max_tokens %d must be at least 1: leave it out for the server's default", i)
				}
				out.MaxTokens = i
			}
		case "seed":
			if i, ok := p.integer(e.v, ep); ok {
				out.Seed = &i
			}
		}
	}
	return out
}

func (p *parser) steps(n *yaml.Node, s *Schema) ([]Step, []stepNodes) {
	n = resolve(n)
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, "steps", "want a list of steps (- name: ...), found %s", kindName(n))
		return nil, nil
	}
	if len(n.Content) == 0 {
		p.errorf(n, "steps", "no steps: add at least one step with name, user and output")
	}
	var steps []Step
	var nodes []stepNodes
	stepAt := map[string]string{}  // step name -> path
	fieldAt := map[string]string{} // field name -> path
	dims := map[string]bool{}
	for _, d := range s.Dimensions {
		dims[d.Name] = true
	}
	for i, item := range n.Content {
		path := fmt.Sprintf("steps[%d]", i)
		st, sn := p.step(item, path)
		if st.Name != "" {
			if prev, ok := stepAt[st.Name]; ok {
				p.errorf(sn.name, path+".name", "step name %q is already used by %s: step names must be unique", st.Name, prev)
			}
			stepAt[st.Name] = path
		}
		for j, f := range st.Output.Fields {
			fpath := path + ".output.fields." + f.Name
			fnode := sn.fields[j]
			if prev, ok := fieldAt[f.Name]; ok {
				p.errorf(fnode, fpath, "field %q is already declared at %s: each field is produced by one step, rename one", f.Name, prev)
			}
			if dims[f.Name] {
				p.errorf(fnode, fpath, "field %q has the name of a dimension: templates could not tell them apart, rename one", f.Name)
			}
			fieldAt[f.Name] = fpath
		}
		steps = append(steps, st)
		nodes = append(nodes, sn)
	}
	return steps, nodes
}

func (p *parser) step(n *yaml.Node, path string) (Step, stepNodes) {
	n = resolve(n)
	sn := stepNodes{node: n}
	var st Step
	var sawOutput bool
	for _, e := range p.entries(n, path, []string{"name", "system", "user", "output", "examples", "params"}) {
		ep := path + "." + e.key
		switch e.key {
		case "name":
			if v, ok := p.str(e.v, ep); ok {
				if !stepNameRE.MatchString(v) {
					p.errorf(e.v, ep, "step name %q is not allowed: use letters, digits, '_' and '-', starting with a letter or digit", v)
				}
				st.Name = v
				sn.name = e.v
			}
		case "system":
			st.System, _ = p.str(e.v, ep)
			sn.system = e.v
		case "user":
			st.User, _ = p.str(e.v, ep)
			sn.user = e.v
		case "output":
			sawOutput = true
			st.Output, sn.fields = p.output(e.v, ep)
		case "examples":
			st.Examples, sn.query = p.examples(e.v, ep)
		case "params":
			pp := p.params(e.v, ep)
			st.Params = &pp
		}
	}
	if n.Kind != yaml.MappingNode {
		return st, sn
	}
	if !p.has(n, "name") {
		p.errorf(n, path+".name", "missing step name: add name: draft")
	}
	if !p.has(n, "user") {
		p.errorf(n, path+".user", "missing user prompt: add user: with the template of the user message")
	}
	if !sawOutput {
		p.errorf(n, path+".output", "missing output: add output: {format: json, fields: [...]}")
	}
	return st, sn
}

func (p *parser) output(n *yaml.Node, path string) (Output, []*yaml.Node) {
	var nodes []*yaml.Node
	o := Output{Format: FormatJSON}
	var fieldsNode, modeNode *yaml.Node
	for _, e := range p.entries(n, path, []string{"format", "json_mode", "fields"}) {
		ep := path + "." + e.key
		switch e.key {
		case "format":
			if v, ok := p.str(e.v, ep); ok {
				if v != FormatJSON && v != FormatSections {
					p.errorf(e.v, ep, "unknown output format %q: use json or sections", v)
				}
				o.Format = v
			}
		case "json_mode":
			modeNode = e.v
			if v, ok := p.str(e.v, ep); ok {
				if v != "object" {
					p.errorf(e.v, ep, "json_mode %q is not supported: use object (json_object response format), or leave it out for a strict json_schema", v)
				}
				o.JSONMode = v
			}
		case "fields":
			fieldsNode = e.v
		}
	}
	if modeNode != nil && o.Format == FormatSections {
		p.errorf(modeNode, path+".json_mode", "json_mode applies only to format json: remove it or set format: json")
	}
	if fieldsNode == nil {
		if resolve(n).Kind == yaml.MappingNode {
			p.errorf(n, path+".fields", "missing fields: add fields: [{name: text}]")
		}
		return o, nil
	}
	fieldsNode = resolve(fieldsNode)
	if fieldsNode.Kind != yaml.SequenceNode {
		p.errorf(fieldsNode, path+".fields", "want a list of fields (- name: x), found %s", kindName(fieldsNode))
		return o, nil
	}
	if len(fieldsNode.Content) == 0 {
		p.errorf(fieldsNode, path+".fields", "no fields: add at least one")
	}
	names := map[string]bool{}
	markers := map[string]string{}
	for i, item := range fieldsNode.Content {
		item = resolve(item)
		ip := fmt.Sprintf("%s.fields[%d]", path, i)
		f := Field{Type: TypeString}
		var markerNode *yaml.Node
		if item.Kind == yaml.ScalarNode {
			f.Name, _ = p.str(item, ip)
		} else {
			for _, e := range p.entries(item, ip, []string{"name", "type", "marker", "description"}) {
				switch e.key {
				case "name":
					f.Name, _ = p.str(e.v, ip+".name")
				case "type":
					if v, ok := p.str(e.v, ip+".type"); ok {
						if v != TypeString && v != TypeList {
							p.errorf(e.v, ip+".type", "unknown field type %q: use string or list", v)
						}
						f.Type = v
					}
				case "marker":
					f.Marker, _ = p.str(e.v, ip+".marker")
					markerNode = e.v
				case "description":
					f.Description, _ = p.str(e.v, ip+".description")
				}
			}
		}
		if f.Name == "" {
			p.errorf(item, ip, "missing field name: add name: text")
			continue
		}
		fp := path + ".fields." + f.Name
		if !p.checkName(item, fp, "field", f.Name) {
			continue
		}
		if names[f.Name] {
			p.errorf(item, fp, "field %q is declared twice in this step: keep one", f.Name)
			continue
		}
		names[f.Name] = true
		if o.Format == FormatSections {
			if f.Marker == "" {
				f.Marker = f.Name
			}
			key := markerKey(f.Marker)
			if key == "" {
				p.errorf(markerNode, fp+".marker", "empty marker: write the heading text or leave marker out")
			} else if prev, ok := markers[key]; ok {
				at := markerNode
				if at == nil {
					at = item
				}
				p.errorf(at, fp+".marker", "marker %q is already used by field %q: each section needs its own marker", f.Marker, prev)
			}
			markers[key] = f.Name
		}
		o.Fields = append(o.Fields, f)
		nodes = append(nodes, item)
	}
	return o, nodes
}

func (p *parser) examples(n *yaml.Node, path string) (*Examples, *yaml.Node) {
	ex := &Examples{K: 3}
	var query *yaml.Node
	var sawField bool
	for _, e := range p.entries(n, path, []string{"k", "field", "query"}) {
		ep := path + "." + e.key
		switch e.key {
		case "k":
			if k, ok := p.integer(e.v, ep); ok {
				if k < 1 {
					p.errorf(e.v, ep, "k %d must be at least 1: remove examples to use none", k)
				}
				ex.K = k
			}
		case "field":
			sawField = true
			ex.Field, _ = p.str(e.v, ep)
		case "query":
			ex.Query, _ = p.str(e.v, ep)
			query = e.v
		}
	}
	if resolve(n).Kind == yaml.MappingNode {
		if !sawField {
			p.errorf(n, path+".field", "missing field: name the field of stored records to show as examples, like field: before")
		}
		if query == nil {
			p.errorf(n, path+".query", "missing query: add the template of the text to search examples with, like query: \"{{.theme}}\"")
		}
	}
	return ex, query
}

// stepTemplates parses every step template and checks the names it refers to.
func (p *parser) stepTemplates(s *Schema, nodes []stepNodes) {
	fields := s.Fields()
	fieldStep := map[string]string{}
	for _, st := range s.Steps {
		for _, f := range st.Output.Fields {
			fieldStep[f.Name] = st.Name
		}
	}
	known := map[string]bool{}
	for _, f := range fields {
		known[f.Name] = true
	}
	earlier := map[string]string{}
	for _, d := range s.Dimensions {
		earlier[d.Name] = "dimension"
	}
	earlier["slot"], earlier["seed"] = "slot", "seed"
	negative := map[string]string{}
	if s.Negatives > 0 {
		earlier["negative"] = "negative"
	} else {
		negative["negative"] = noNegatives
	}
	for i := range s.Steps {
		st := &s.Steps[i]
		sn := nodes[i]
		path := fmt.Sprintf("steps[%d]", i)
		later := maps.Clone(negative)
		for _, f := range fields {
			if _, ok := earlier[f.Name]; !ok {
				later[f.Name] = fmt.Sprintf("which step %q produces: a step sees only the fields of the steps before it", fieldStep[f.Name])
			}
		}
		if st.Examples != nil {
			if st.Examples.Field != "" && !known[st.Examples.Field] {
				p.errorf(sn.node, path+".examples.field", "unknown field %q: use one of %s", st.Examples.Field, strings.Join(sortedKeys(known), ", "))
			}
			if sn.query != nil {
				st.Examples.query = p.template(sn.query, path+".examples.query", st.Examples.Query, earlier, later)
			}
		}
		allowed := earlier
		if st.Examples != nil {
			allowed = with(earlier, "examples", "examples")
		} else {
			later = with(later, "examples", "but the step has no examples: add examples: {k: 3, field: ..., query: ...}")
		}
		if sn.system != nil {
			st.system = p.template(sn.system, path+".system", st.System, allowed, later)
		}
		if sn.user != nil {
			st.user = p.template(sn.user, path+".user", st.User, allowed, later)
		}
		for _, f := range st.Output.Fields {
			earlier = with(earlier, f.Name, "field")
		}
	}
}

func with(m map[string]string, k, v string) map[string]string {
	out := make(map[string]string, len(m)+1)
	for key, val := range m {
		out[key] = val
	}
	out[k] = v
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// template parses src and reports each name it refers to that is neither in
// allowed nor explained by unavailable.
func (p *parser) template(n *yaml.Node, path, src string, allowed, unavailable map[string]string) *template.Template {
	t, err := newTemplate(path, src)
	if err != nil {
		line, msg := templateErrorLine(err)
		l, c := p.posIn(n, lineOffset(src, line))
		p.errs = append(p.errs, &Error{File: p.file, Line: l, Col: c, Path: path, Msg: "template does not parse: " + msg})
		return nil
	}
	seen := map[string]bool{}
	for _, r := range templateRefs(t) {
		if _, ok := allowed[r.name]; ok || seen[r.name] {
			continue
		}
		seen[r.name] = true
		l, c := p.posIn(n, r.pos)
		msg := ""
		if why, ok := unavailable[r.name]; ok {
			msg = fmt.Sprintf("template refers to .%s, %s", r.name, why)
		} else {
			msg = fmt.Sprintf("template refers to .%s, which is not a dimension, a field of an earlier step, examples, slot or seed: use one of %s", r.name, strings.Join(sortedKeys(allowed), ", "))
		}
		p.errs = append(p.errs, &Error{File: p.file, Line: l, Col: c, Path: path, Msg: msg})
	}
	return t
}

// posIn maps a byte offset inside the string of scalar n to a file position.
func (p *parser) posIn(n *yaml.Node, off int) (line, col int) {
	src := n.Value
	off = min(max(off, 0), len(src))
	before := src[:off]
	nl := strings.Count(before, "\n")
	inLine := len([]rune(before[strings.LastIndex(before, "\n")+1:]))
	switch {
	case n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
		// The block's indentation is that of its first non-blank line.
		line = n.Line + 1 + nl
		indent := 0
		for i := n.Line; i < len(p.lines); i++ {
			if l := p.lines[i]; strings.TrimSpace(l) != "" {
				indent = len(l) - len(strings.TrimLeft(l, " "))
				break
			}
		}
		return line, indent + inLine + 1
	case nl == 0:
		quote := 0
		if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
			quote = 1
		}
		return n.Line, n.Column + quote + inLine
	default:
		return n.Line + nl, 0
	}
}

func (p *parser) train(n *yaml.Node, s *Schema) *Train {
	t := &Train{}
	var sys, usr, asst *yaml.Node
	for _, e := range p.entries(n, "train", []string{"system", "user", "assistant"}) {
		ep := "train." + e.key
		switch e.key {
		case "system":
			t.System, _ = p.str(e.v, ep)
			sys = e.v
		case "user":
			t.User, _ = p.str(e.v, ep)
			usr = e.v
		case "assistant":
			t.Assistant, _ = p.str(e.v, ep)
			asst = e.v
		}
	}
	if resolve(n).Kind != yaml.MappingNode {
		return nil
	}
	if usr == nil {
		p.errorf(n, "train.user", "missing user: add the template of the learner's message, like user: \"{{.before}}\"")
	}
	if asst == nil {
		p.errorf(n, "train.assistant", "missing assistant: add the template of the model's reply")
	}
	allowed := map[string]string{"slot": "slot", "seed": "seed"}
	for _, d := range s.Dimensions {
		allowed[d.Name] = "dimension"
	}
	for _, f := range s.Fields() {
		allowed[f.Name] = "field"
	}
	unavailable := map[string]string{"examples": "but examples exist only while a step runs: train templates see dimensions, fields, slot and seed"}
	if s.Negatives > 0 {
		allowed["negative"] = "negative"
	} else {
		unavailable["negative"] = noNegatives
	}
	if sys != nil {
		t.system = p.template(sys, "train.system", t.System, allowed, unavailable)
	}
	if usr != nil {
		t.user = p.template(usr, "train.user", t.User, allowed, unavailable)
	}
	if asst != nil {
		t.assistant = p.template(asst, "train.assistant", t.Assistant, allowed, unavailable)
	}
	return t
}

// plain turns decoded YAML into values every encoder accepts: maps get string keys.
func plain(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			x[k] = plain(val)
		}
		return x
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			out[fmt.Sprint(k)] = plain(val)
		}
		return out
	case []any:
		for i, val := range x {
			x[i] = plain(val)
		}
		return x
	}
	return v
}
