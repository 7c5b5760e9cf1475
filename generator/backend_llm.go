package generator

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/correctly/correctly/corpus"
	"github.com/correctly/correctly/prompts"
)

// LLMBackend fills a slot by running the schema's steps in order against the chat API. A step's
// answer is stored the moment it arrives, and a step already answered in an earlier attempt of the
// slot is reused, never asked again.
type LLMBackend struct {
	LLM *LLM
	// Batch, when set, sends the requests through the provider's Batch API instead of LLM.
	Batch  *Batcher
	Schema *prompts.Schema
	// Model, when set, overrides the schema's params.model (from --model or CORRECTLY_MODEL).
	Model string
	// ParseRetries is how many times a malformed answer is asked again before the slot is rejected.
	ParseRetries int
	// Examples, when set, fetches similar accepted records for steps that ask for examples.
	Examples func(ctx context.Context, ex *prompts.Examples, data map[string]any) ([]map[string]any, error)
}

// Produces lists every output field of the schema.
func (b *LLMBackend) Produces() []string {
	var out []string
	for _, f := range b.Schema.Fields() {
		out = append(out, f.Name)
	}
	return out
}

// TemplateData is what a slot's templates see: its dimensions, slot, seed and whether it is a
// negative (a slot asking for a text that needs no correction).
func TemplateData(s *Slot) map[string]any {
	data := make(map[string]any, len(s.Dims)+4)
	for k, v := range s.Dims {
		data[k] = v
	}
	data["slot"] = s.Index
	data["seed"] = s.Run.Seed
	data["negative"] = s.Negative
	data["run_id"] = s.Run.ID
	return data
}

// Request builds the chat request of one step.
func (b *LLMBackend) Request(st *prompts.Step, data map[string]any) (ChatRequest, error) {
	system, user, err := st.Render(data)
	if err != nil {
		return ChatRequest{}, err
	}
	p := b.Schema.StepParams(st)
	model := p.Model
	if b.Model != "" {
		model = b.Model
	}
	req := ChatRequest{Model: model, System: system, User: user, Temperature: p.Temperature, TopP: p.TopP, MaxTokens: p.MaxTokens, Seed: p.Seed}
	if st.Output.Format == prompts.FormatJSON {
		if st.Output.JSONMode == "object" {
			req.JSONObject = true
		} else {
			req.JSONSchema, req.SchemaName = st.Output.JSONSchema(), b.Schema.Name+"_"+st.Name
		}
	}
	return req, nil
}

// Produce runs the steps of one slot.
func (b *LLMBackend) Produce(ctx context.Context, s *Slot, save func(*corpus.Step) error) (*Product, error) {
	prod := &Product{Fields: map[string]any{}}
	data := TemplateData(s)
	for i := range b.Schema.Steps {
		st := &b.Schema.Steps[i]
		tries := 0
		var got map[string]any
		for _, d := range s.Done {
			if d.Step != st.Name {
				continue
			}
			prod.Steps = append(prod.Steps, d)
			tries = max(tries, d.Try+1)
			if d.ParseError == "" && got == nil {
				got = d.Fields
			}
		}
		if got == nil && st.Examples != nil && b.Examples != nil {
			ex, err := b.Examples(ctx, st.Examples, data)
			if err != nil {
				return prod, fmt.Errorf("retrieve examples for step %s: %w", st.Name, err)
			}
			data["examples"] = ex
		} else if st.Examples != nil {
			data["examples"] = []map[string]any{}
		}
		var lastErr error
		code := CodeMalformed
		for got == nil && tries <= b.ParseRetries {
			req, err := b.Request(st, data)
			if err != nil {
				return prod, fmt.Errorf("render step %s: %w", st.Name, err)
			}
			var res ChatResult
			if b.Batch != nil {
				line := corpus.BatchLine{ID: StepID(s.Run.ID, s.Index, st.Name, tries), RunID: s.Run.ID, Slot: s.Index,
					Attempt: s.Attempt, Step: st.Name, Try: tries}
				res, err = b.Batch.Chat(ctx, line, req)
				if err == nil {
					res.Requests = 1
				}
			} else {
				res, err = b.LLM.Chat(ctx, req)
			}
			prod.Requests += res.Requests
			var big *OversizedError
			if errors.As(err, &big) {
				// paid for but unusable: its accounting is stored, its bytes are not; asking again
				// is bounded by the parse retries like any malformed answer
				step := corpus.Step{Step: st.Name, Try: tries, Model: req.Model, ParseError: err.Error(),
					Usage: res.Usage, LatencyMS: res.Latency.Milliseconds()}
				if err := save(&step); err != nil {
					return prod, fmt.Errorf("store answer of step %s: %w", st.Name, err)
				}
				prod.Steps = append(prod.Steps, step)
				lastErr, code = err, CodeOversized
				tries++
				continue
			}
			if err != nil {
				return prod, err
			}
			fields, perr := st.Output.Parse(res.Content)
			step := corpus.Step{Step: st.Name, Try: tries, Model: res.Model, Raw: res.Content, Fields: fields,
				Usage: res.Usage, LatencyMS: res.Latency.Milliseconds()}
			if perr != nil {
				step.ParseError, step.Fields = perr.Error(), nil
				lastErr, code = perr, CodeMalformed
			}
			if err := save(&step); err != nil {
				return prod, fmt.Errorf("store answer of step %s: %w", st.Name, err)
			}
			prod.Steps = append(prod.Steps, step)
			if perr == nil {
				got = fields
			}
			tries++
		}
		if got == nil {
			msg := "answer could not be parsed"
			if lastErr != nil {
				msg = lastErr.Error()
			}
			prod.Reasons = []corpus.Reason{{Code: code, Message: fmt.Sprintf("step %s after %d tries: %s", st.Name, tries, msg)}}
			return prod, nil
		}
		for k, v := range got {
			prod.Fields[k] = normalizeValue(v)
			data[k] = prod.Fields[k]
		}
		if s.Screen != nil && i < len(b.Schema.Steps)-1 {
			m, err := s.Screen(ctx, prod.Fields)
			if err != nil {
				return prod, fmt.Errorf("check step %s for duplicates: %w", st.Name, err)
			}
			if m != nil {
				prod.Duplicate = m
				return prod, nil
			}
		}
	}
	return prod, nil
}

// normalizeValue turns decoded lists ([]any from BSON or JSON) into []string for templates.
func normalizeValue(v any) any {
	switch x := v.(type) {
	case bson.A:
		return normalizeValue([]any(x))
	case []any:
		out := make([]string, len(x))
		for i, e := range x {
			out[i] = strings.TrimSpace(fmt.Sprint(e))
		}
		return out
	}
	return v
}
