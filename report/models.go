package report

import (
	"fmt"
	"sort"

	"github.com/correctly/correctly/corpus"
)

// Model is one evaluated model in the report: its scores on one test set (correctly eval) and the
// prompt versions whose records trained it (none for a baseline: an API or base model).
type Model struct {
	Eval           string                 `json:"eval"`
	Name           string                 `json:"name"` // the eval's label, else its model
	Model          string                 `json:"model"`
	Source         string                 `json:"source"` // endpoint, train_run or file
	Status         string                 `json:"status"`
	TestSet        string                 `json:"test_set"` // as shown: "m2 bea-dev.m2", "split v1/test"
	TestHash       string                 `json:"test_hash"`
	Rank           int                    `json:"rank"` // by F0.5 among the models of the same test set, from 1
	Sentences      int                    `json:"sentences"`
	Answered       int                    `json:"answered"`
	Precision      float64                `json:"precision"`
	Recall         float64                `json:"recall"`
	F05            float64                `json:"f0.5"`
	ExactMatch     float64                `json:"exact_match"`
	OverCorrection float64                `json:"over_correction"`
	Unreadable     int                    `json:"unreadable"`
	LatencyP50MS   int64                  `json:"latency_p50_ms"`
	LatencyP95MS   int64                  `json:"latency_p95_ms"`
	Cost           float64                `json:"cost_usd"`
	TrainRun       string                 `json:"train_run,omitempty"`
	PromptVersions []string               `json:"prompt_versions"`
	Types          []corpus.EvalTypeScore `json:"types"`
}

// AddModels puts the evals that scored at least one sentence in the report's models section,
// grouped by test set (the largest first) and ranked by F0.5 within each: only models scored on the
// same sentences are compared.
func (r *Report) AddModels(evs []corpus.Eval) {
	r.Models = []Model{}
	for _, e := range evs {
		if e.Answered == 0 {
			continue
		}
		name := e.Label
		if name == "" {
			name = e.Model
		}
		m := Model{Eval: e.ID, Name: name, Model: e.Model, Source: e.Source, Status: e.Status,
			TestSet: testSetName(e.TestSet), TestHash: e.TestSet.Hash, Sentences: e.TestSet.Items, Answered: e.Answered,
			Precision: e.Precision, Recall: e.Recall, F05: e.F05, ExactMatch: e.ExactMatch, OverCorrection: e.OverCorrection,
			Unreadable: e.Unreadables, LatencyP50MS: e.LatencyP50MS, LatencyP95MS: e.LatencyP95MS, Cost: e.Cost,
			TrainRun: e.TrainRun, PromptVersions: append([]string{}, e.PromptVersions...), Types: e.Types}
		if m.Types == nil {
			m.Types = []corpus.EvalTypeScore{}
		}
		r.Models = append(r.Models, m)
	}
	size := map[string]int{}
	for _, m := range r.Models {
		size[m.TestHash] = max(size[m.TestHash], m.Sentences)
	}
	sort.SliceStable(r.Models, func(i, j int) bool {
		a, b := r.Models[i], r.Models[j]
		if a.TestHash != b.TestHash {
			if size[a.TestHash] != size[b.TestHash] {
				return size[a.TestHash] > size[b.TestHash]
			}
			return a.TestSet+a.TestHash < b.TestSet+b.TestHash
		}
		if a.F05 != b.F05 {
			return a.F05 > b.F05
		}
		return a.Name < b.Name
	})
	for i := range r.Models {
		if i > 0 && r.Models[i].TestHash == r.Models[i-1].TestHash {
			r.Models[i].Rank = r.Models[i-1].Rank + 1
		} else {
			r.Models[i].Rank = 1
		}
	}
}

func testSetName(t corpus.EvalTestSet) string {
	switch t.Kind {
	case "m2":
		name := t.Name
		for i := len(name) - 1; i >= 0; i-- {
			if name[i] == '/' {
				name = name[i+1:]
				break
			}
		}
		return "m2 " + name
	case "split":
		return "split " + t.Name + "/" + t.Part
	}
	return t.Kind + " " + t.Name
}

// TrainedOn names the prompt versions behind a model's data as the report's columns are named
// (prompt@version), or by version when the version is not a column; "-" for a baseline.
func (r *Report) TrainedOn(m Model) []string {
	if len(m.PromptVersions) == 0 {
		return nil
	}
	out := make([]string, len(m.PromptVersions))
	for i, v := range m.PromptVersions {
		out[i] = short8(v)
		for _, c := range r.Columns {
			if c.Version == v {
				out[i] = ColumnName(c)
			}
		}
	}
	return out
}

// ModelRows lays the models section out as a table, the same for text and HTML.
func (r *Report) ModelRows() (header []string, rows [][]string) {
	header = []string{"test set", "rank", "model", "P", "R", "F0.5", "exact", "over-correction", "unreadable", "latency p50 / p95", "cost", "trained on"}
	for _, m := range r.Models {
		on := "-"
		if t := r.TrainedOn(m); len(t) > 0 {
			on = fmt.Sprint(t)
			on = on[1 : len(on)-1]
		}
		lat := "-"
		if m.Source == "endpoint" {
			lat = fmt.Sprintf("%d / %d ms", m.LatencyP50MS, m.LatencyP95MS)
		}
		rows = append(rows, []string{m.TestSet, fmt.Sprint(m.Rank), m.Name,
			fmt.Sprintf("%.3f", m.Precision), fmt.Sprintf("%.3f", m.Recall), fmt.Sprintf("%.3f", m.F05),
			fmt.Sprintf("%.1f%%", 100*m.ExactMatch), fmt.Sprintf("%.1f%%", 100*m.OverCorrection), fmt.Sprint(m.Unreadable),
			lat, fmt.Sprintf("$%.4f", m.Cost), on})
	}
	return header, rows
}

// maxModelTypes caps the error types of a per-type chart.
const maxModelTypes = 12

// modelCharts draws F0.5 per error type of the models of each test set: the types the references
// have most, one bar per model.
func (r *Report) modelCharts() []chart {
	var out []chart
	for lo := 0; lo < len(r.Models); {
		hi := lo
		for hi < len(r.Models) && r.Models[hi].TestHash == r.Models[lo].TestHash {
			hi++
		}
		group := r.Models[lo:hi]
		weight := map[string]int{}
		for _, m := range group {
			for _, t := range m.Types {
				weight[t.Type] += t.TP + t.FN
			}
		}
		types := sortedKeys(weight)
		sort.SliceStable(types, func(i, j int) bool { return weight[types[i]] > weight[types[j]] })
		for len(types) > 0 && weight[types[len(types)-1]] == 0 {
			types = types[:len(types)-1]
		}
		if len(types) > maxModelTypes {
			types = types[:maxModelTypes]
		}
		ss := make([]series, len(group))
		for i, m := range group {
			ss[i] = series{Name: m.Name, Values: make([]float64, len(types))}
			for k, typ := range types {
				for _, t := range m.Types {
					if t.Type == typ {
						ss[i].Values[k] = t.F05
					}
				}
			}
		}
		hash := group[0].TestHash
		if len(hash) > 8 {
			hash = hash[:8]
		}
		out = append(out, chart{ID: "model-types-" + slug(hash), Title: "F0.5 per error type on " + group[0].TestSet,
			Note:       "Span F0.5 of each model on the error types its references have most (hits and misses typed by the reference, false alarms by the model).",
			Categories: types, Series: ss, Format: func(v float64) string { return fmt.Sprintf("%.2f", v) }})
		lo = hi
	}
	return out
}

func short8(v string) string {
	if len(v) > 8 {
		return v[:8]
	}
	return v
}
