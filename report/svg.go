package report

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// palette colours the series (prompt versions) of every chart, in order; colour-blind safe (Okabe-Ito).
var palette = []string{"#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"}

func colour(i int) string { return palette[i%len(palette)] }

// series is one prompt version's values over a chart's categories. Marks, when not nil, draws a
// reference tick per category (NaN: none), such as the share a weight leads to expect.
type series struct {
	Name   string
	Values []float64
	Marks  []float64
}

// chart is data for one bar chart; values are shares in [0, 1] unless Format says otherwise.
type chart struct {
	ID         string
	Title      string
	Note       string
	Categories []string
	Series     []series
	Format     func(float64) string
	MarkLabel  string // legend text of the marks
}

func percentText(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v < 0.001:
		return "<0.1%"
	case v < 0.1:
		return fmt.Sprintf("%.1f%%", 100*v)
	}
	return fmt.Sprintf("%.0f%%", 100*v)
}

func esc(s string) string { return html.EscapeString(s) }

func (c *chart) maxValue() float64 {
	m := 0.0
	for _, s := range c.Series {
		for i, v := range s.Values {
			m = math.Max(m, v)
			if s.Marks != nil && i < len(s.Marks) && !math.IsNaN(s.Marks[i]) {
				m = math.Max(m, s.Marks[i])
			}
		}
	}
	return m
}

// niceMax rounds m up to 1, 2, 2.5 or 5 times a power of ten, and says how many grid intervals make
// round steps of it, so that the axis labels read well.
func niceMax(m float64) (float64, int) {
	if m <= 0 {
		return 1, 4
	}
	p := math.Pow(10, math.Floor(math.Log10(m)))
	for _, f := range []float64{1, 2, 2.5, 5, 10} {
		if f*p >= m*(1-1e-9) {
			if f == 2.5 || f == 5 {
				return f * p, 5
			}
			return f * p, 4
		}
	}
	return 10 * p, 4
}

func legend(b *strings.Builder, ss []series, markLabel string, x, y float64) float64 {
	for i, s := range ss {
		fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="12" height="12" fill="%s"/>`, x, y, colour(i))
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" class="lg">%s</text>`, x+18, y+10, esc(s.Name))
		y += 18
	}
	if markLabel != "" {
		fmt.Fprintf(b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" class="ref"/>`, x+6, x+6, y-1, y+13)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" class="lg">%s</text>`, x+18, y+10, esc(markLabel))
		y += 18
	}
	return y
}

// hbars renders a horizontal grouped bar chart: one row of bars per category, one bar per series.
func (c *chart) hbars() string {
	const (
		width  = 820.0
		labelW = 230.0
		valueW = 60.0
		barH   = 14.0
		gap    = 10.0
		top    = 8.0
	)
	format := c.Format
	if format == nil {
		format = percentText
	}
	plotW := width - labelW - valueW
	maxV, steps := niceMax(c.maxValue())
	ns := max(1, len(c.Series))
	rowH := float64(ns)*barH + gap
	var b strings.Builder
	if len(c.Categories) == 0 {
		height := 40.0
		fmt.Fprintf(&b, `<svg class="chart-svg" role="img" aria-label="%s" viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f">`, esc(c.Title), width, height, width, height)
		b.WriteString(`<text x="10" y="24" class="empty">nothing to show</text></svg>`)
		return b.String()
	}
	plotH := float64(len(c.Categories)) * rowH
	legendY := top + plotH + 28
	height := legendY + float64(ns)*18 + 10
	if c.MarkLabel != "" {
		height += 18
	}
	fmt.Fprintf(&b, `<svg class="chart-svg" role="img" aria-label="%s" viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f">`, esc(c.Title), width, height, width, height)
	// grid and axis labels
	for k := 0; k <= steps; k++ {
		x := labelW + plotW*float64(k)/float64(steps)
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" class="grid"/>`, x, x, top, top+plotH)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" class="axis" text-anchor="middle">%s</text>`, x, top+plotH+14, esc(format(maxV*float64(k)/float64(steps))))
	}
	for ci, cat := range c.Categories {
		y0 := top + float64(ci)*rowH
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" class="cat" text-anchor="end">%s</text>`, labelW-8, y0+float64(ns)*barH/2+4, esc(clipLabel(cat, 34)))
		for si, s := range c.Series {
			v := 0.0
			if ci < len(s.Values) {
				v = s.Values[ci]
			}
			y := y0 + float64(si)*barH
			w := plotW * v / maxV
			fmt.Fprintf(&b, `<rect class="mark" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s · %s: %s</title></rect>`,
				labelW, y+1, w, barH-2, colour(si), esc(s.Name), esc(cat), esc(format(v)))
			textX := labelW + w + 4
			if s.Marks != nil && ci < len(s.Marks) && !math.IsNaN(s.Marks[ci]) {
				mx := labelW + plotW*s.Marks[ci]/maxV
				fmt.Fprintf(&b, `<line class="ref" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f"><title>expected %s</title></line>`, mx, mx, y-1, y+barH+1, esc(format(s.Marks[ci])))
				textX = math.Max(textX, mx+4) // keep the value clear of the tick
			}
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" class="val">%s</text>`, textX, y+barH-3, esc(format(v)))
		}
	}
	legend(&b, c.Series, c.MarkLabel, labelW, legendY)
	b.WriteString(`</svg>`)
	return b.String()
}

// columns renders a vertical grouped bar chart (a histogram when the categories are bins).
func (c *chart) columns() string {
	const (
		width  = 820.0
		left   = 50.0
		right  = 10.0
		top    = 10.0
		plotH  = 220.0
		bottom = 40.0
	)
	format := c.Format
	if format == nil {
		format = percentText
	}
	maxV, steps := niceMax(c.maxValue())
	ns := max(1, len(c.Series))
	plotW := width - left - right
	var b strings.Builder
	nc := max(1, len(c.Categories))
	slot := plotW / float64(nc)
	barW := math.Min(28, (slot-8)/float64(ns))
	legendY := top + plotH + bottom
	height := legendY + float64(ns)*18 + 10
	fmt.Fprintf(&b, `<svg class="chart-svg" role="img" aria-label="%s" viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f">`, esc(c.Title), width, height, width, height)
	for k := 0; k <= steps; k++ {
		y := top + plotH - plotH*float64(k)/float64(steps)
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" class="grid"/>`, left, left+plotW, y, y)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" class="axis" text-anchor="end">%s</text>`, left-6, y+4, esc(format(maxV*float64(k)/float64(steps))))
	}
	for ci, cat := range c.Categories {
		x0 := left + float64(ci)*slot + (slot-barW*float64(ns))/2
		for si, s := range c.Series {
			v := 0.0
			if ci < len(s.Values) {
				v = s.Values[ci]
			}
			h := plotH * v / maxV
			x := x0 + float64(si)*barW
			fmt.Fprintf(&b, `<rect class="mark" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s · %s: %s</title></rect>`,
				x+1, top+plotH-h, barW-2, h, colour(si), esc(s.Name), esc(cat), esc(format(v)))
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" class="cat" text-anchor="middle">%s</text>`, left+float64(ci)*slot+slot/2, top+plotH+16, esc(cat))
	}
	fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" class="axisline"/>`, left, left+plotW, top+plotH, top+plotH)
	legend(&b, c.Series, "", left, legendY)
	b.WriteString(`</svg>`)
	return b.String()
}

func clipLabel(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
