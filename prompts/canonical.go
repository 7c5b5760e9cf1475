package prompts

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Canonical returns the schema's document as YAML with sorted keys, two-space
// indentation and no comments. Two files that differ only in formatting, key
// order or comments have the same canonical form; list order counts.
func (s *Schema) Canonical() []byte {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	doc := s.Doc
	if doc == nil {
		doc = map[string]any{}
	}
	if err := enc.Encode(doc); err != nil {
		// Doc holds only decoded YAML values unless a caller put others there.
		return fmt.Appendf(nil, "# canonical form unavailable: %v\n", err)
	}
	enc.Close()
	return buf.Bytes()
}

// Version returns the hex SHA-256 of Canonical: it changes when the content
// changes, and only then.
func (s *Schema) Version() string {
	sum := sha256.Sum256(s.Canonical())
	return hex.EncodeToString(sum[:])
}

// FromDoc rebuilds a schema from a stored document, such as Doc read back from
// MongoDB, and validates it like Parse. Maps come back with sorted keys, so a
// mapping of dimensions comes back in name order; ordered documents (a slice of
// {Key, Value} structs, like bson.D) keep their order. The rebuilt schema has
// the same Version as the one stored.
func FromDoc(doc map[string]any) (*Schema, error) {
	n, err := toNode(reflect.ValueOf(doc))
	if err != nil {
		return nil, fmt.Errorf("rebuild prompt schema from stored document: %w", err)
	}
	data, err := yaml.Marshal(n)
	if err != nil {
		return nil, fmt.Errorf("rebuild prompt schema from stored document: %w", err)
	}
	return Parse("", data)
}

// toNode converts a decoded value of any origin (YAML, JSON, BSON) to a YAML node.
func toNode(v reflect.Value) (*yaml.Node, error) {
	scalar := func(tag, value string) *yaml.Node {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: value}
	}
	if !v.IsValid() {
		return scalar("!!null", "null"), nil
	}
	if v.CanInterface() {
		if t, ok := v.Interface().(time.Time); ok {
			return scalar("!!str", t.UTC().Format(time.RFC3339Nano)), nil
		}
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return scalar("!!null", "null"), nil
		}
		return toNode(v.Elem())
	case reflect.String:
		return scalar("!!str", v.String()), nil
	case reflect.Bool:
		return scalar("!!bool", strconv.FormatBool(v.Bool())), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return scalar("!!int", strconv.FormatInt(v.Int(), 10)), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return scalar("!!int", strconv.FormatUint(v.Uint(), 10)), nil
	case reflect.Float32, reflect.Float64:
		f := v.Float()
		switch {
		case math.IsNaN(f):
			return scalar("!!float", ".nan"), nil
		case math.IsInf(f, 1):
			return scalar("!!float", ".inf"), nil
		case math.IsInf(f, -1):
			return scalar("!!float", "-.inf"), nil
		}
		// A whole number stored as a float (JSON has no integers) reads back as
		// the integer it was; Canonical writes whole floats that way too.
		if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
			return scalar("!!int", strconv.FormatInt(int64(f), 10)), nil
		}
		return scalar("!!float", strconv.FormatFloat(f, 'g', -1, 64)), nil
	case reflect.Map:
		keys := v.MapKeys()
		names := make([]string, len(keys))
		for i, k := range keys {
			names[i] = fmt.Sprint(k.Interface())
		}
		idx := make([]int, len(keys))
		for i := range idx {
			idx[i] = i
		}
		sort.Slice(idx, func(a, b int) bool { return names[idx[a]] < names[idx[b]] })
		m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		for _, i := range idx {
			val, err := toNode(v.MapIndex(keys[i]))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", names[i], err)
			}
			m.Content = append(m.Content, scalar("!!str", names[i]), val)
		}
		return m, nil
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.IsNil() {
			return scalar("!!null", "null"), nil
		}
		if v.Type().Elem().Kind() == reflect.Uint8 {
			// Binary data (an ObjectID, say) has no place in a schema; keep it
			// readable and stable.
			b := make([]byte, v.Len())
			reflect.Copy(reflect.ValueOf(b), v)
			if utf8.Valid(b) {
				return scalar("!!str", string(b)), nil
			}
			return scalar("!!str", hex.EncodeToString(b)), nil
		}
		if isKeyValue(v.Type().Elem()) {
			m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			for i := 0; i < v.Len(); i++ {
				e := v.Index(i)
				val, err := toNode(e.FieldByName("Value"))
				if err != nil {
					return nil, err
				}
				m.Content = append(m.Content, scalar("!!str", e.FieldByName("Key").String()), val)
			}
			return m, nil
		}
		seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for i := 0; i < v.Len(); i++ {
			item, err := toNode(v.Index(i))
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			seq.Content = append(seq.Content, item)
		}
		return seq, nil
	}
	return nil, fmt.Errorf("unsupported value of type %s", v.Type())
}

// isKeyValue reports whether t is an ordered-document element such as bson.E:
// a struct with a string Key and a Value.
func isKeyValue(t reflect.Type) bool {
	if t.Kind() != reflect.Struct {
		return false
	}
	k, ok := t.FieldByName("Key")
	if !ok || k.Type.Kind() != reflect.String {
		return false
	}
	_, ok = t.FieldByName("Value")
	return ok
}

// Diff returns a unified diff, with three lines of context, from a's canonical
// form to b's; "" when they are the same.
func Diff(a, b *Schema) string {
	al, bl := lines(a.Canonical()), lines(b.Canonical())
	ops := diffLines(al, bl)
	var out strings.Builder
	fmt.Fprintf(&out, "--- %s@%s\n+++ %s@%s\n", a.Name, short(a.Version()), b.Name, short(b.Version()))
	const context = 3
	changed := false
	for i := 0; i < len(ops); {
		if ops[i].kind == ' ' {
			i++
			continue
		}
		changed = true
		// A hunk runs from context lines before the change to context lines after
		// the last change that is at most 2*context lines from the next.
		start := max(i-context, 0)
		end := i
		for end < len(ops) {
			if ops[end].kind != ' ' {
				end++
				continue
			}
			run := end
			for run < len(ops) && ops[run].kind == ' ' {
				run++
			}
			if run == len(ops) || run-end > 2*context {
				end = min(end+context, len(ops))
				break
			}
			end = run
		}
		aStart, bStart, aN, bN := ops[start].a, ops[start].b, 0, 0
		for _, op := range ops[start:end] {
			if op.kind != '+' {
				aN++
			}
			if op.kind != '-' {
				bN++
			}
		}
		fmt.Fprintf(&out, "@@ -%s +%s @@\n", hunkRange(aStart, aN), hunkRange(bStart, bN))
		for _, op := range ops[start:end] {
			out.WriteByte(op.kind)
			out.WriteString(op.text)
			out.WriteByte('\n')
		}
		i = end
	}
	if !changed {
		return ""
	}
	return out.String()
}

func short(v string) string {
	if len(v) > 12 {
		return v[:12]
	}
	return v
}

func hunkRange(start, n int) string {
	if n == 0 {
		return fmt.Sprintf("%d,0", start)
	}
	if n == 1 {
		return strconv.Itoa(start + 1)
	}
	return fmt.Sprintf("%d,%d", start+1, n)
}

func lines(b []byte) []string {
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

type diffOp struct {
	kind byte // ' ', '-' or '+'
	text string
	a, b int // 0-based line numbers in a and b where the op stands
}

// diffLines computes a line diff from the longest common subsequence; schemas
// are a few hundred lines, so the quadratic table is small.
func diffLines(a, b []string) []diffOp {
	n, m := len(a), len(b)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var ops []diffOp
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && a[i] == b[j]:
			ops = append(ops, diffOp{' ', a[i], i, j})
			i++
			j++
		case i < n && (j == m || lcs[i+1][j] >= lcs[i][j+1]):
			ops = append(ops, diffOp{'-', a[i], i, j})
			i++
		default:
			ops = append(ops, diffOp{'+', b[j], i, j})
			j++
		}
	}
	return ops
}
