package report

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"sort"
	"strings"
)

// Row is one line of the comparison table: a metric and its value per column.
type Row struct {
	Section string
	Label   string
	Cells   []string
}

// ColumnName is how a column is headed: prompt@first 8 hex digits of the version.
func ColumnName(c Column) string {
	v := c.Version
	if len(v) > 8 {
		v = v[:8]
	}
	return c.Prompt + "@" + v
}

// Rows lays the report out as a table, the same for text and HTML: one row per metric.
func (r *Report) Rows() []Row {
	var rows []Row
	add := func(section, label string, f func(c *Column) string) {
		cells := make([]string, len(r.Columns))
		for i := range r.Columns {
			cells[i] = f(&r.Columns[i])
		}
		rows = append(rows, Row{Section: section, Label: label, Cells: cells})
	}
	pc := func(v float64) string { return fmt.Sprintf("%.1f%%", 100*v) }
	add("outcome", "attempts", func(c *Column) string { return fmt.Sprint(c.Attempts) })
	add("outcome", "accepted", func(c *Column) string { return fmt.Sprintf("%d (%s)", c.Accepted, pc(c.AcceptRate)) })
	add("outcome", "rejected", func(c *Column) string { return fmt.Sprintf("%d (%s)", c.Rejected, pc(c.RejectRate)) })
	add("outcome", "failed", func(c *Column) string { return fmt.Sprint(c.Failed) })
	add("outcome", "duplicate rate", func(c *Column) string { return fmt.Sprintf("%s (%d)", pc(c.DuplicateRate), c.Duplicates) })
	negatives := false
	for _, c := range r.Columns {
		negatives = negatives || c.Negatives > 0
	}
	if negatives {
		add("outcome", "negatives (no edit needed, share of accepted)", func(c *Column) string { return fmt.Sprintf("%s (%d)", pc(c.NegativeRate), c.Negatives) })
	}
	for _, code := range r.labels(func(c *Column) []Count { return c.RejectReasons }) {
		add("reject reasons (share of attempts)", code, func(c *Column) string { return pc(rateOf(c.RejectReasons, code)) })
	}
	for _, code := range r.labels(func(c *Column) []Count { return c.Flags }) {
		add("flags (share of accepted)", code, func(c *Column) string { return pc(rateOf(c.Flags, code)) })
	}
	add("cost", "cost", func(c *Column) string { return fmt.Sprintf("$%.4f", c.Cost) })
	add("cost", "cost per accepted", func(c *Column) string { return fmt.Sprintf("$%.5f", c.CostPerAccepted) })
	add("cost", "tokens in / out", func(c *Column) string {
		return fmt.Sprintf("%d / %d", c.Tokens.PromptTokens, c.Tokens.CompletionTokens)
	})
	add("cost", "tokens per accepted", func(c *Column) string { return fmt.Sprintf("%.0f", c.TokensPerAccept) })
	add("cost", "latency p50 / p95", func(c *Column) string { return fmt.Sprintf("%d / %d ms", c.LatencyP50MS, c.LatencyP95MS) })
	div := fmt.Sprintf("diversity of %s (mean over batches of %d)", r.Field, r.BatchSize)
	add(div, "batches", func(c *Column) string {
		if c.Diversity.Partial {
			return fmt.Sprintf("1 of %d (partial)", c.Diversity.BatchSize)
		}
		return fmt.Sprint(c.Diversity.Batches)
	})
	add(div, "distinct-1 / 2 / 3", func(c *Column) string {
		d := c.Diversity
		return fmt.Sprintf("%.3f / %.3f / %.3f", d.Distinct1, d.Distinct2, d.Distinct3)
	})
	add(div, "gzip compression ratio", func(c *Column) string { return fmt.Sprintf("%.2f", c.Diversity.CompressionRatio) })
	add(div, "most common first 3 words", func(c *Column) string { return pc(c.Diversity.TopOpening) })
	for _, dim := range r.dims() {
		add("coverage against the weights (chi-square p)", dim, func(c *Column) string {
			for _, cv := range c.Coverage {
				if cv.Dim == dim {
					if cv.P == nil {
						return "-"
					}
					return fmt.Sprintf("p=%.3g (χ²=%.1f, df %d)", *cv.P, cv.ChiSquare, cv.DF)
				}
			}
			return "-"
		})
	}
	add("edits", "edits per record", func(c *Column) string { return fmt.Sprintf("%.2f", c.EditsPerRecord) })
	for _, cat := range r.labels(func(c *Column) []Count { return c.EditCategories }) {
		add("edit types (share of edits)", cat, func(c *Column) string { return pc(rateOf(c.EditCategories, cat)) })
	}
	return rows
}

// labels returns the union of the labels of a count list over columns, most frequent overall first.
func (r *Report) labels(list func(c *Column) []Count) []string {
	total := map[string]int{}
	for i := range r.Columns {
		for _, x := range list(&r.Columns[i]) {
			total[x.Label] += x.Count
		}
	}
	out := sortedKeys(total)
	sort.SliceStable(out, func(i, j int) bool { return total[out[i]] > total[out[j]] })
	return out
}

func (r *Report) dims() []string {
	var out []string
	seen := map[string]bool{}
	for _, c := range r.Columns {
		for _, cv := range c.Coverage {
			if !seen[cv.Dim] {
				seen[cv.Dim] = true
				out = append(out, cv.Dim)
			}
		}
	}
	return out
}

func rateOf(cs []Count, label string) float64 {
	for _, c := range cs {
		if c.Label == label {
			return c.Rate
		}
	}
	return 0
}

// maxCategories caps the bars per version in the edit type chart.
const maxCategories = 20

// charts builds every chart of the page.
func (r *Report) charts() []chart {
	names := make([]string, len(r.Columns))
	for i, c := range r.Columns {
		names[i] = ColumnName(c)
	}
	build := func(list func(c *Column) []Count, limit int) ([]string, []series) {
		cats := r.labels(list)
		if limit > 0 && len(cats) > limit {
			cats = cats[:limit]
		}
		ss := make([]series, len(r.Columns))
		for i := range r.Columns {
			ss[i] = series{Name: names[i], Values: make([]float64, len(cats))}
			for k, cat := range cats {
				ss[i].Values[k] = rateOf(list(&r.Columns[i]), cat)
			}
		}
		return cats, ss
	}
	var out []chart
	// reject reasons, with duplicates as one more reason
	withDup := func(c *Column) []Count {
		l := append([]Count(nil), c.RejectReasons...)
		if c.Duplicates > 0 {
			l = append(l, Count{Label: "(duplicate)", Count: c.Duplicates, Rate: c.DuplicateRate})
		}
		return l
	}
	cats, ss := build(withDup, 0)
	out = append(out, chart{ID: "reject-reasons", Title: "Reject reasons per version",
		Note: "Share of attempts rejected (or failed) for each reason; a record can have several.", Categories: cats, Series: ss})
	cats, ss = build(func(c *Column) []Count { return c.EditCategories }, maxCategories)
	out = append(out, chart{ID: "edit-types", Title: "Edit types per version",
		Note: "Share of the computed edits of accepted records, by ERRANT-style type (missing, replaced and unnecessary together).", Categories: cats, Series: ss})
	for _, dim := range r.dims() {
		var values []string
		seen := map[string]bool{}
		for _, c := range r.Columns {
			for _, cv := range c.Coverage {
				if cv.Dim != dim {
					continue
				}
				for _, v := range cv.Values {
					if !seen[v.Value] {
						seen[v.Value] = true
						values = append(values, v.Value)
					}
				}
			}
		}
		ss := make([]series, len(r.Columns))
		var ps []string
		for i, c := range r.Columns {
			ss[i] = series{Name: names[i], Values: make([]float64, len(values)), Marks: make([]float64, len(values))}
			for k := range values {
				ss[i].Marks[k] = math.NaN()
			}
			for _, cv := range c.Coverage {
				if cv.Dim != dim {
					continue
				}
				in := 0
				for _, v := range cv.Values {
					in += v.Count
				}
				for _, v := range cv.Values {
					k := indexOf(values, v.Value)
					if in > 0 {
						ss[i].Values[k] = float64(v.Count) / float64(in)
						ss[i].Marks[k] = v.Expected / float64(in)
					}
				}
				if cv.P != nil {
					ps = append(ps, fmt.Sprintf("%s: p=%.3g", names[i], *cv.P))
				}
			}
		}
		note := "Share of accepted records per value (bars) against the share the schema's weights lead to expect (ticks)."
		if len(ps) > 0 {
			note += " Chi-square goodness of fit: " + strings.Join(ps, "; ") + "."
		}
		out = append(out, chart{ID: "coverage-" + slug(dim), Title: "Coverage of " + dim, Note: note,
			Categories: values, Series: ss, MarkLabel: "expected from the weights"})
	}
	return out
}

func indexOf(ss []string, s string) int {
	for i, x := range ss {
		if x == s {
			return i
		}
	}
	return -1
}

func slug(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	return b.String()
}

func (r *Report) histogram() chart {
	cats := make([]string, HistMax+1)
	for i := range cats {
		cats[i] = fmt.Sprint(i)
	}
	cats[HistMax] = fmt.Sprintf("%d+", HistMax)
	ss := make([]series, len(r.Columns))
	for i, c := range r.Columns {
		ss[i] = series{Name: ColumnName(c), Values: make([]float64, len(cats))}
		for k, n := range c.EditHistogram {
			if c.Accepted > 0 && k < len(cats) {
				ss[i].Values[k] = float64(n) / float64(c.Accepted)
			}
		}
	}
	return chart{ID: "edits-per-record", Title: "Edits per record", Categories: cats, Series: ss,
		Note: "Share of accepted records with each number of computed edits."}
}

type pageChart struct {
	ID, Title, Note string
	SVG             template.HTML
	Empty           bool
}

type page struct {
	Title       string
	Header      []headerCell
	Rows        []Row
	Charts      []pageChart
	Batches     []batchRow
	Field       string
	Size        int
	ModelHeader []string
	Models      []modelRow
	ModelCharts []pageChart
}

type headerCell struct{ Name, ID string }

// modelRow is one line of the leaderboard; its last cell links each prompt version behind the
// model's data to that version's column.
type modelRow struct {
	Cells     []string
	TrainedOn []versionLink
}

type versionLink struct{ Name, Href string }

// columnID is the HTML id of a prompt version's column header.
func columnID(version string) string { return "version-" + slug(short8(version)) }

type batchRow struct {
	Name  string
	Cells []BatchMeasures
}

// WriteHTML writes the report as one self-contained HTML page: a comparison table and bar charts
// drawn as inline SVG. It loads nothing from the network; a small inline script marks each chart
// figure data-rendered="true" once the browser has laid it out.
func WriteHTML(w io.Writer, r *Report, title string) error {
	p := page{Title: title, Rows: r.Rows(), Field: r.Field, Size: r.BatchSize}
	for _, c := range r.Columns {
		p.Header = append(p.Header, headerCell{Name: ColumnName(c), ID: columnID(c.Version)})
		p.Batches = append(p.Batches, batchRow{Name: ColumnName(c), Cells: c.Diversity.PerBatch})
	}
	for _, c := range r.charts() {
		p.Charts = append(p.Charts, pageChart{ID: c.ID, Title: c.Title, Note: c.Note, SVG: template.HTML(c.hbars()), Empty: len(c.Categories) == 0})
	}
	h := r.histogram()
	p.Charts = append(p.Charts, pageChart{ID: h.ID, Title: h.Title, Note: h.Note, SVG: template.HTML(h.columns())})
	header, rows := r.ModelRows()
	p.ModelHeader = header[:len(header)-1]
	for i, m := range r.Models {
		row := modelRow{Cells: rows[i][:len(rows[i])-1]}
		names := r.TrainedOn(m)
		for k, v := range m.PromptVersions {
			l := versionLink{Name: names[k]}
			for _, c := range r.Columns {
				if c.Version == v {
					l.Href = "#" + columnID(v)
				}
			}
			row.TrainedOn = append(row.TrainedOn, l)
		}
		p.Models = append(p.Models, row)
	}
	for _, c := range r.modelCharts() {
		p.ModelCharts = append(p.ModelCharts, pageChart{ID: c.ID, Title: c.Title, Note: c.Note, SVG: template.HTML(c.hbars()), Empty: len(c.Categories) == 0})
	}
	if err := pageTemplate.Execute(w, p); err != nil {
		return fmt.Errorf("write report page: %w", err)
	}
	return nil
}

var pageTemplate = template.Must(template.New("page").Funcs(template.FuncMap{
	"f3":  func(v float64) string { return fmt.Sprintf("%.3f", v) },
	"f2":  func(v float64) string { return fmt.Sprintf("%.2f", v) },
	"pc":  func(v float64) string { return fmt.Sprintf("%.0f%%", 100*v) },
	"inc": func(i int) int { return i + 1 },
	"newSection": func(rows []Row, i int) bool {
		return i == 0 || rows[i-1].Section != rows[i].Section
	},
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "Noto Sans", "Noto Sans CJK KR", sans-serif; color: #1b1f24; margin: 0; background: #f6f7f9; }
main { max-width: 1100px; margin: 0 auto; padding: 24px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 8px; }
p.sub { color: #57606a; margin: 0 0 16px; }
table { border-collapse: collapse; background: #fff; width: 100%; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid #e1e4e8; padding: 4px 10px; text-align: right; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
tr.section td { background: #eef1f4; font-weight: 600; text-align: left; color: #3a4149; }
figure.chart { background: #fff; border: 1px solid #e1e4e8; border-radius: 6px; margin: 16px 0; padding: 12px 16px; }
figure.chart figcaption { font-weight: 600; margin-bottom: 2px; }
figure.chart p { color: #57606a; margin: 0 0 8px; font-size: 13px; }
svg.chart-svg { max-width: 100%; height: auto; display: block; }
svg text { font-size: 12px; fill: #1b1f24; }
svg text.axis, svg text.val { fill: #57606a; font-size: 11px; }
svg text.empty { fill: #57606a; font-style: italic; }
svg line.grid { stroke: #e6e9ed; }
svg line.axisline { stroke: #8b949e; }
svg line.ref { stroke: #1b1f24; stroke-width: 2; }
details { background: #fff; border: 1px solid #e1e4e8; border-radius: 6px; padding: 8px 12px; margin: 16px 0; }
</style>
</head>
<body>
<main>
<h1>{{.Title}}</h1>
<p class="sub">One column per prompt version. Rates are shares of attempts unless said otherwise; diversity is measured on <code>{{.Field}}</code> in batches of {{.Size}} accepted records.</p>
<table>
<thead><tr><th>metric</th>{{range .Header}}<th id="{{.ID}}">{{.Name}}</th>{{end}}</tr></thead>
<tbody>
{{- $rows := .Rows}}{{$n := len .Header}}
{{- range $i, $r := .Rows}}
{{- if newSection $rows $i}}<tr class="section"><td colspan="{{inc $n}}">{{$r.Section}}</td></tr>{{end}}
<tr><td>{{$r.Label}}</td>{{range $r.Cells}}<td>{{.}}</td>{{end}}</tr>
{{- end}}
</tbody>
</table>
{{if .Models}}<h2 id="models">Models</h2>
<p class="sub">Each evaluated model (<code>correctly eval</code>), ranked by span F0.5 among the models scored on the same test set; <em>trained on</em> links the prompt versions whose records trained it to their columns above (none: a baseline).</p>
<table class="models">
<thead><tr>{{range .ModelHeader}}<th>{{.}}</th>{{end}}<th>trained on</th></tr></thead>
<tbody>
{{- range .Models}}
<tr>{{range .Cells}}<td>{{.}}</td>{{end}}<td>{{if .TrainedOn}}{{range $i, $l := .TrainedOn}}{{if $i}}, {{end}}{{if $l.Href}}<a href="{{$l.Href}}">{{$l.Name}}</a>{{else}}{{$l.Name}}{{end}}{{end}}{{else}}-{{end}}</td></tr>
{{- end}}
</tbody>
</table>
{{range .ModelCharts}}<figure class="chart" id="{{.ID}}"{{if .Empty}} data-empty="true"{{end}}>
<figcaption>{{.Title}}</figcaption>
{{if .Note}}<p>{{.Note}}</p>{{end}}
{{.SVG}}
</figure>
{{end}}{{end}}
<h2>Charts</h2>
{{range .Charts}}<figure class="chart" id="{{.ID}}"{{if .Empty}} data-empty="true"{{end}}>
<figcaption>{{.Title}}</figcaption>
{{if .Note}}<p>{{.Note}}</p>{{end}}
{{.SVG}}
</figure>
{{end}}
<details>
<summary>Diversity per batch</summary>
{{range .Batches}}<h3>{{.Name}}</h3>
<table><thead><tr><th>batch</th><th>distinct-1</th><th>distinct-2</th><th>distinct-3</th><th>gzip ratio</th><th>top opening</th><th>its words</th></tr></thead><tbody>
{{range $i, $b := .Cells}}<tr><td>{{inc $i}}</td><td>{{f3 $b.Distinct1}}</td><td>{{f3 $b.Distinct2}}</td><td>{{f3 $b.Distinct3}}</td><td>{{f2 $b.CompressionRatio}}</td><td>{{pc $b.TopOpening}}</td><td>{{$b.TopOpeningWords}}</td></tr>
{{end}}</tbody></table>
{{end}}
</details>
</main>
<script>
(function () {
  var figs = document.querySelectorAll("figure.chart");
  var ok = 0;
  for (var i = 0; i < figs.length; i++) {
    var f = figs[i], svg = f.querySelector("svg");
    var box = svg ? svg.getBoundingClientRect() : null;
    var marks = svg ? svg.querySelectorAll(".mark").length : 0;
    if (box && box.width > 0 && box.height > 0 && (marks > 0 || f.getAttribute("data-empty") === "true")) {
      f.setAttribute("data-rendered", "true");
      ok++;
    } else {
      console.error("chart " + f.id + " did not render");
    }
  }
  document.body.setAttribute("data-charts", ok + "/" + figs.length);
})();
</script>
</body>
</html>
`))
