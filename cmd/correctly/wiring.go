package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/correctly/correctly/corpus"
	"github.com/correctly/correctly/generator"
	"github.com/correctly/correctly/mistakes"
	"github.com/correctly/correctly/prompts"
	"github.com/correctly/correctly/vectors"
)

// embedder returns the configured embedder: hash (offline, default) or openai.
func (a *app) embedder() (vectors.Embedder, error) {
	c, err := a.config()
	if err != nil {
		return nil, err
	}
	switch c.Embedder {
	case "", "hash", vectors.HashID:
		return vectors.NewHash(), nil
	case "openai":
		if c.APIKey == "" && c.EmbedBaseURL == "" {
			return nil, errors.New("embedder openai: set OPENAI_API_KEY, or CORRECTLY_EMBED_BASE_URL / OPENAI_BASE_URL for a local server")
		}
		return vectors.NewOpenAI(vectors.OpenAIConfig{BaseURL: c.EmbedBaseURL, APIKey: c.APIKey, Model: c.EmbedModel}), nil
	}
	return nil, fmt.Errorf("unknown embedder %q: set CORRECTLY_EMBEDDER to hash or openai", c.Embedder)
}

// index opens the vector index once: the Chroma server at CHROMA_URL, else the embedded index in the
// data directory.
func (a *app) index(ctx context.Context) (vectors.Index, error) {
	if a.idx != nil {
		return a.idx, nil
	}
	c, err := a.config()
	if err != nil {
		return nil, err
	}
	if c.ChromaURL != "" {
		a.idx, err = vectors.OpenChroma(ctx, c.ChromaURL)
	} else {
		a.idx, err = vectors.OpenEmbedded(filepath.Join(c.DataDir, "vectors"))
	}
	return a.idx, err
}

// openDedup returns the corpus-wide duplicate check for a schema, its index made whole first.
func (a *app) openDedup(ctx context.Context, s *prompts.Schema, threshold float64) (*generator.Dedup, error) {
	st, err := a.store(ctx)
	if err != nil {
		return nil, err
	}
	idx, err := a.index(ctx)
	if err != nil {
		return nil, err
	}
	emb, err := a.embedder()
	if err != nil {
		return nil, err
	}
	d := generator.NewDedup(st, idx, emb, s, threshold)
	if err := d.Prepare(ctx); err != nil {
		return nil, err
	}
	return d, nil
}

// dedup returns the corpus-wide duplicate check for a run.
func (a *app) dedup(ctx context.Context, s *prompts.Schema, run *corpus.Run) (*generator.Dedup, error) {
	return a.openDedup(ctx, s, run.Settings.DedupThreshold)
}

// examplesFunc returns the retrieval of similar accepted records for steps that ask for examples; nil
// when no step does.
func (a *app) examplesFunc(ctx context.Context, s *prompts.Schema) (func(context.Context, *prompts.Examples, map[string]any) ([]map[string]any, error), error) {
	needed := false
	for _, st := range s.Steps {
		needed = needed || st.Examples != nil
	}
	if !needed {
		return nil, nil
	}
	d, err := a.openDedup(ctx, s, 0)
	if err != nil {
		return nil, err
	}
	return d.Examples, nil
}

// rulesBackend returns the offline error-injection backend for a run, reading its source texts:
// the bundled ones, a file of one clean text a line, or "corpus" (the corrections of accepted records).
func (a *app) rulesBackend(ctx context.Context, run *corpus.Run) (generator.Backend, error) {
	var texts []mistakes.Text
	switch src := run.Settings.Source; src {
	case "":
		texts = mistakes.Bundled()
	case "corpus":
		st, err := a.store(ctx)
		if err != nil {
			return nil, err
		}
		err = st.EachRecord(ctx, corpus.RecordQuery{Status: corpus.StatusAccepted}, func(r *corpus.Record) error {
			if after, ok := r.Fields["after"].(string); ok && after != "" {
				texts = append(texts, mistakes.Text{Text: after, Theme: r.Dims["theme"], Speaker: r.Dims["speaker"], ScriptType: r.Dims["script_type"]})
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(texts) == 0 {
			return nil, errors.New("--source corpus: there are no accepted records with a correction yet; generate some first or give --source FILE")
		}
	default:
		f, err := os.Open(src)
		if err != nil {
			return nil, fmt.Errorf("--source: %w", err)
		}
		defer f.Close()
		if texts, err = mistakes.ReadSource(f); err != nil {
			return nil, fmt.Errorf("--source %s: %w", src, err)
		}
		if len(texts) == 0 {
			return nil, fmt.Errorf("--source %s has no text: write one clean sentence or paragraph a line", src)
		}
	}
	return &generator.RulesBackend{Injector: mistakes.New(nil), Texts: texts}, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func isList(v any) bool {
	switch v.(type) {
	case bson.A, []any, []string:
		return true
	}
	return false
}

// listOf returns a stored list field as strings.
func listOf(v any) []string {
	switch x := v.(type) {
	case []string:
		return x
	case bson.A:
		return listOf([]any(x))
	case []any:
		out := make([]string, len(x))
		for i, e := range x {
			out[i] = fmt.Sprint(e)
		}
		return out
	}
	return nil
}
