// Package prompts is the prompt-schema language of correctly: it loads a YAML
// schema (reporting problems at file:line:col), validates it, gives it a
// canonical form and a version hash, samples its dimensions, renders its
// templates, and turns LLM answers back into field values.
package prompts

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"text/template"
)

// Schema is one parsed, validated prompt schema version.
type Schema struct {
	Name        string
	Description string
	Dimensions  []Dimension // in file order
	Steps       []Step
	Validators  []Validator
	Params      Params // defaults for all steps
	Train       *Train // chat templates for export and training; nil when absent
	Dedup       *Dedup // nil when absent
	// Negatives is the share of slots that ask for a text which is already natural English: its
	// correction is itself, and its points say so. Templates see .negative (true in those slots).
	Negatives float64
	// Doc is the whole decoded document with plain Go values (string, int,
	// float64, bool, nil, []any, map[string]any). Keys this package does not know
	// are kept, so it can be stored as-is and rebuilt with FromDoc.
	Doc  map[string]any
	File string // where it was loaded from; "" for embedded schemas and FromDoc
}

// Dimension is one axis of variation; every generated record gets one of its
// Values. Weights has one entry per value: all 1 when the schema lists the
// values, the given weights when it maps value to weight.
type Dimension struct {
	Name    string
	Values  []string
	Weights []float64
}

// Step is one LLM call. System and User are Go text/template sources; they see
// the dimension values, the fields of earlier steps, examples (when Examples is
// set), slot and seed.
type Step struct {
	Name     string
	System   string
	User     string
	Output   Output
	Examples *Examples // optional few-shot examples retrieved from stored records
	Params   *Params   // optional override of the schema's params for this step

	system, user *template.Template // parsed by Parse; nil when built by hand
}

// Examples asks for K stored records, retrieved by similarity of their Field to
// the rendered Query, to be passed to the step's templates as .examples.
type Examples struct {
	K     int
	Field string
	Query string

	query *template.Template
}

// Output says how a step's answer is requested and parsed.
type Output struct {
	Format   string // "json" or "sections"
	JSONMode string // "" asks for a strict json_schema response format, "object" for json_object
	Fields   []Field
}

// Field is one value a step produces.
type Field struct {
	Name        string
	Type        string // "string" or "list"
	Marker      string // sections only: the heading that introduces the field; defaults to Name
	Description string
}

// Params are LLM request parameters. Zero values and nil pointers mean "not set".
type Params struct {
	Model       string
	Temperature *float64
	TopP        *float64
	MaxTokens   int
	Seed        *int
}

// Train holds the chat templates that turn a finished record into one training
// conversation. They see the dimension values, every field, slot and seed.
type Train struct {
	System, User, Assistant string

	system, user, assistant *template.Template
}

// Dedup says which fields are embedded to find near-duplicate records.
type Dedup struct {
	Fields    []string
	Threshold *float64 // cosine distance under which two records are duplicates; nil: the index's default
	Scope     string   // "all" (every record) or "prompt" (records of the same schema name)
}

// Validator is one acceptance check on a record. Parse checks its shape; the
// generator carries it out.
type Validator struct {
	Kind   string         // required | differs | no_hangul | hangul | contains | length | claims
	Fields []string       // output fields it reads
	Dim    string         // contains: the dimension whose value must occur in the fields
	Min    int            // length: minimal word count (0 = unbounded)
	Max    int            // length: maximal word count (0 = unbounded)
	Ratio  float64        // hangul: minimal share of Hangul among letters (default 0.5); claims: minimal coverage (default 0.9)
	Args   map[string]any // the raw arguments, for checks added later
	Line   int            // line in the schema file; 0 when unknown
}

// Output formats and field types.
const (
	FormatJSON     = "json"
	FormatSections = "sections"

	TypeString = "string"
	TypeList   = "list"
)

// ValidatorKinds lists the validator kinds Parse accepts.
var ValidatorKinds = []string{"required", "differs", "no_hangul", "hangul", "contains", "length", "claims"}

// Load reads and parses the schema file at path.
func Load(path string) (*Schema, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load prompt schema: %w", err)
	}
	return Parse(path, data)
}

//go:embed schemas/*.yaml
var builtinFS embed.FS

// Builtin parses every schema shipped in prompts/schemas, sorted by name. Their
// File is "".
func Builtin() ([]*Schema, error) {
	names, err := fs.Glob(builtinFS, "schemas/*.yaml")
	if err != nil {
		return nil, fmt.Errorf("list built-in prompt schemas: %w", err)
	}
	var out []*Schema
	seen := map[string]string{}
	for _, name := range names {
		data, err := builtinFS.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("read built-in prompt schema %s: %w", name, err)
		}
		s, err := Parse(path.Join("prompts", name), data)
		if err != nil {
			return nil, err
		}
		if prev, ok := seen[s.Name]; ok {
			return nil, fmt.Errorf("built-in prompt schemas %s and %s are both named %q: rename one", prev, name, s.Name)
		}
		seen[s.Name] = name
		s.File = ""
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// DimNames returns the dimension names in schema order.
func (s *Schema) DimNames() []string {
	names := make([]string, len(s.Dimensions))
	for i, d := range s.Dimensions {
		names[i] = d.Name
	}
	return names
}

// Fields returns the output fields of all steps, in step and field order.
func (s *Schema) Fields() []Field {
	var out []Field
	for _, st := range s.Steps {
		out = append(out, st.Output.Fields...)
	}
	return out
}

// Field returns the output field called name, and false when no step produces it.
func (s *Schema) Field(name string) (Field, bool) {
	for _, f := range s.Fields() {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

// Step returns the step called name, or nil.
func (s *Schema) Step(name string) *Step {
	for i := range s.Steps {
		if s.Steps[i].Name == name {
			return &s.Steps[i]
		}
	}
	return nil
}

// StepParams returns the schema's params overridden by the step's own.
func (s *Schema) StepParams(st *Step) Params {
	return s.Params.Merge(st.Params)
}

// Merge returns p with every parameter that over sets replaced. A nil over
// returns p unchanged.
func (p Params) Merge(over *Params) Params {
	if over == nil {
		return p
	}
	if over.Model != "" {
		p.Model = over.Model
	}
	if over.Temperature != nil {
		p.Temperature = over.Temperature
	}
	if over.TopP != nil {
		p.TopP = over.TopP
	}
	if over.MaxTokens != 0 {
		p.MaxTokens = over.MaxTokens
	}
	if over.Seed != nil {
		p.Seed = over.Seed
	}
	return p
}
