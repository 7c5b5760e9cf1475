package main

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/correctly/correctly/corpus"
	"github.com/correctly/correctly/generator"
	"github.com/correctly/correctly/prompts"
)

// examplesFunc returns the retrieval of similar accepted records for steps that ask for examples.
func (a *app) examplesFunc(ctx context.Context, s *prompts.Schema) (func(context.Context, *prompts.Examples, map[string]any) ([]map[string]any, error), error) {
	return nil, nil
}

// dedup returns the corpus-wide duplicate check for a run.
func (a *app) dedup(ctx context.Context, s *prompts.Schema, run *corpus.Run) (*generator.Dedup, error) {
	return nil, nil
}

// rulesBackend returns the offline error-injection backend for a run.
func (a *app) rulesBackend(ctx context.Context, run *corpus.Run) (generator.Backend, error) {
	return nil, errors.New("the rules backend is not available yet")
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
