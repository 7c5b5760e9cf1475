package prompts

import (
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// fieldNames maps every output field of s by name.
func (p *parser) fieldNames(s *Schema) map[string]Field {
	out := map[string]Field{}
	for _, f := range s.Fields() {
		out[f.Name] = f
	}
	return out
}

// knownFields reports each name in names that no step produces.
func (p *parser) knownFields(s *Schema, names []string, nodes []*yaml.Node, path string) bool {
	fields := p.fieldNames(s)
	ok := true
	for i, name := range names {
		if _, found := fields[name]; !found {
			p.errorf(nodes[i], path, "unknown field %q: use one of %s", name, strings.Join(sortedKeys(fields), ", "))
			ok = false
		}
	}
	return ok
}

func (p *parser) dedup(n *yaml.Node, s *Schema) *Dedup {
	d := &Dedup{Scope: "all"}
	var sawFields bool
	for _, e := range p.entries(n, "dedup", []string{"fields", "threshold", "scope"}) {
		ep := "dedup." + e.key
		switch e.key {
		case "fields":
			sawFields = true
			names, nodes := p.names(e.v, ep)
			if len(names) == 0 && len(nodes) == 0 && resolve(e.v).Kind == yaml.SequenceNode {
				p.errorf(e.v, ep, "no fields: name the fields to compare, like fields: [before]")
			}
			p.knownFields(s, names, nodes, ep)
			d.Fields = names
		case "threshold":
			if f, ok := p.number(e.v, ep); ok {
				if f <= 0 || f >= 2 {
					p.errorf(e.v, ep, "threshold %v is out of range: a cosine distance is above 0 and below 2", f)
				}
				d.Threshold = &f
			}
		case "scope":
			if v, ok := p.str(e.v, ep); ok {
				if v != "all" && v != "prompt" {
					p.errorf(e.v, ep, "unknown scope %q: use all (every record) or prompt (records of this schema)", v)
				}
				d.Scope = v
			}
		}
	}
	if resolve(n).Kind != yaml.MappingNode {
		return nil
	}
	if !sawFields {
		p.errorf(n, "dedup.fields", "missing fields: name the fields to compare, like fields: [before]")
	}
	return d
}

// validatorArgs lists the arguments each validator kind takes.
var validatorArgs = map[string][]string{
	"required":  {"fields"},
	"differs":   {"fields"},
	"no_hangul": {"fields"},
	"hangul":    {"fields", "ratio"},
	"contains":  {"fields", "dim"},
	"length":    {"fields", "min", "max"},
	"claims":    {"fields", "ratio"},
}

func (p *parser) validators(n *yaml.Node, s *Schema) []Validator {
	n = resolve(n)
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, "validators", "want a list of validators (- required: [a, b]), found %s", kindName(n))
		return nil
	}
	var out []Validator
	for i, item := range n.Content {
		if v, ok := p.validator(resolve(item), fmt.Sprintf("validators[%d]", i), s); ok {
			out = append(out, v)
		}
	}
	return out
}

func (p *parser) validator(n *yaml.Node, path string, s *Schema) (Validator, bool) {
	v := Validator{Line: n.Line}
	if n.Kind != yaml.MappingNode {
		p.errorf(n, path, "want a validator like - required: [before, after] or - {kind: length, fields: [before], max: 300}, found %s", kindName(n))
		return v, false
	}
	// Two spellings: "- kind: length\n  fields: [x]" and "- length: {fields: [x]}"
	// (or "- required: [x, y]", where a list or a name stands for fields).
	var args []entry
	var argsNode *yaml.Node
	kindNode := n
	if p.has(n, "kind") {
		for _, e := range p.entries(n, path, nil) {
			if e.key == "kind" {
				v.Kind, _ = p.str(e.v, path+".kind")
				kindNode = e.v
				continue
			}
			args = append(args, e)
		}
		argsNode = n
	} else {
		if len(n.Content) != 2 {
			p.errorf(n, path, "a validator is one kind with its arguments, like - length: {fields: [before], max: 300}: split this mapping or add kind:")
			return v, false
		}
		k, val := resolve(n.Content[0]), resolve(n.Content[1])
		v.Kind, kindNode, argsNode = k.Value, k, val
		if val.Kind == yaml.MappingNode {
			args = p.entries(val, path+"."+v.Kind, nil)
		} else {
			args = []entry{{key: "fields", knode: k, v: val}}
		}
	}
	known, ok := validatorArgs[v.Kind]
	if !ok {
		p.errorf(kindNode, path, "unknown validator kind %q: use one of %s", v.Kind, strings.Join(ValidatorKinds, ", "))
		return v, false
	}
	v.Args = map[string]any{}
	var fieldsNode *yaml.Node
	var fieldNodes []*yaml.Node
	good := true
	for _, e := range args {
		key := e.key
		if key == "field" {
			key = "fields"
		}
		ep := path + "." + key
		if !slices.Contains(known, key) {
			p.errorf(e.knode, path+"."+e.key, "%s takes no argument %q: use %s", v.Kind, e.key, strings.Join(known, ", "))
			good = false
			continue
		}
		var raw any
		if err := e.v.Decode(&raw); err == nil {
			v.Args[key] = plain(raw)
		}
		switch key {
		case "fields":
			fieldsNode = e.v
			v.Fields, fieldNodes = p.names(e.v, ep)
			good = p.knownFields(s, v.Fields, fieldNodes, ep) && good
		case "dim":
			if d, ok := p.str(e.v, ep); ok {
				v.Dim = d
				if !slices.Contains(s.DimNames(), d) {
					p.errorf(e.v, ep, "unknown dimension %q: use one of %s", d, strings.Join(s.DimNames(), ", "))
					good = false
				}
			}
		case "min", "max":
			i, ok := p.integer(e.v, ep)
			if ok && i < 0 {
				p.errorf(e.v, ep, "%s %d must not be negative: use 0 or leave it out for no bound", key, i)
				good = false
			}
			if key == "min" {
				v.Min = i
			} else {
				v.Max = i
			}
		case "ratio":
			if f, ok := p.number(e.v, ep); ok {
				if f <= 0 || f > 1 {
					p.errorf(e.v, ep, "ratio %v is out of range: use a share above 0 and at most 1", f)
					good = false
				}
				v.Ratio = f
			}
		}
	}
	at := fieldsNode
	if at == nil {
		at = argsNode
	}
	if len(v.Fields) == 0 {
		p.errorf(at, path+".fields", "%s needs fields: name the output fields it checks", v.Kind)
		return v, false
	}
	switch v.Kind {
	case "differs":
		if len(v.Fields) < 2 {
			p.errorf(at, path+".fields", "differs compares fields: name at least two, like [before, after]")
			good = false
		}
	case "contains":
		if v.Dim == "" {
			p.errorf(argsNode, path+".dim", "contains needs dim: the dimension whose value must occur, like dim: key_expression")
			good = false
		}
	case "length":
		if v.Min == 0 && v.Max == 0 {
			p.errorf(argsNode, path, "length needs min or max (words)")
			good = false
		} else if v.Max > 0 && v.Min > v.Max {
			p.errorf(argsNode, path, "min %d is above max %d: swap them", v.Min, v.Max)
			good = false
		}
	case "hangul":
		if v.Ratio == 0 {
			v.Ratio = 0.5
		}
	case "claims":
		if v.Ratio == 0 {
			v.Ratio = 0.9
		}
		if len(v.Fields) != 3 {
			p.errorf(at, path+".fields", "claims reads three fields: the list of correction points, the text before and the text after, like [points, before, after]")
			good = false
			break
		}
		fields := p.fieldNames(s)
		if f, ok := fields[v.Fields[0]]; ok && f.Type != TypeList {
			p.errorf(fieldNodes[0], path+".fields", "claims reads its points from a list field, and %q is a %s: make it type: list or name another field", f.Name, f.Type)
			good = false
		}
	}
	return v, good
}
