package report

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/correctly/correctly/corpus"
	"github.com/correctly/correctly/prompts"
)

// chromium loads a local page in headless Chromium and returns the DOM after its scripts ran, and
// the console messages it logged. A missing Chromium fails the test: CI installs it.
func chromium(tb testing.TB, page string) (dom string, console []string) {
	tb.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		tb.Fatalf("chromium is needed to check the report page: apt-get install -y chromium (%v)", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	abs, err := filepath.Abs(page)
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+tb.TempDir(), "--enable-logging=stderr", "--v=0", "--dump-dom", "file://"+abs)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		tb.Fatalf("chromium --dump-dom %s: %v\n%s", page, err, stderr.String())
	}
	for _, line := range strings.Split(stderr.String(), "\n") {
		if strings.Contains(line, ":CONSOLE") || strings.Contains(line, "Uncaught") {
			console = append(console, line)
		}
	}
	return stdout.String(), console
}

var figureTag = regexp.MustCompile(`<figure class="chart"[^>]*>`)

// pageProblems lists what is wrong with a loaded report page: console messages (the page logs
// none when all is well), and chart figures the browser did not mark rendered.
func pageProblems(dom string, console []string) []string {
	var out []string
	for _, c := range console {
		out = append(out, "console: "+c)
	}
	figs := figureTag.FindAllString(dom, -1)
	if len(figs) == 0 {
		out = append(out, "no chart figure in the page")
	}
	for _, f := range figs {
		if !strings.Contains(f, `data-rendered="true"`) {
			out = append(out, "chart not rendered: "+f)
		}
	}
	if want := fmt.Sprintf(`data-charts="%d/%d"`, len(figs), len(figs)); !strings.Contains(dom, want) {
		out = append(out, "the page script did not report every chart rendered ("+want+")")
	}
	return out
}

// richCorpus adds a second prompt version with more records to the tiny corpus, so that every
// chart has bars of two versions.
func richCorpus() []*corpus.Record {
	recs := tinyCorpus()
	types := []string{"R:VERB:SVA", "M:DET", "R:PREP", "R:SPELL", "U:PUNCT", "R:NOUN:NUM", "R:ORTH"}
	for i := range 40 {
		var es []string
		for k := range i % 5 {
			es = append(es, types[(i+k)%len(types)])
		}
		status := corpus.StatusAccepted
		var reasons []string
		if i%7 == 0 {
			status, reasons = corpus.StatusRejected, []string{"claim_without_edit"}
		}
		theme := []string{"a", "a", "b"}[i%3]
		recs = append(recs, rec("v3cccccccc", status, fmt.Sprintf("My friend %d go to the school with me yesterday.", i), theme, es, 900, 300, 0.0004, int64(800+i*13), reasons...))
	}
	return recs
}

func writeRichPage(tb testing.TB) string {
	tb.Helper()
	b := NewBuilder(Options{BatchSize: 10})
	for _, r := range richCorpus() {
		b.Add(r)
	}
	s := tinySchema()
	rep := b.Report(map[string]*prompts.Schema{"v1aaaaaaaa": s, "v2bbbbbbbb": s, "v3cccccccc": s})
	var buf bytes.Buffer
	if err := WriteHTML(&buf, rep, "correctly report"); err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(tb.TempDir(), "report.html")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		tb.Fatal(err)
	}
	return path
}

func TestHTMLPageRendersEveryChartInChromium(t *testing.T) {
	path := writeRichPage(t)
	page, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// self-contained: nothing to fetch
	for _, bad := range []string{"http://", "https://", " src=", "<link", "@import", "url("} {
		if bytes.Contains(page, []byte(bad)) {
			t.Errorf("the page contains %q: it must load nothing from elsewhere", bad)
		}
	}
	// reject reasons, edit types, coverage of theme, edits per record
	for _, id := range []string{"reject-reasons", "edit-types", "coverage-theme", "edits-per-record"} {
		if !bytes.Contains(page, []byte(`id="`+id+`"`)) {
			t.Errorf("the page has no chart %s", id)
		}
	}
	dom, console := chromium(t, path)
	if probs := pageProblems(dom, console); len(probs) > 0 {
		t.Errorf("report page in Chromium:\n%s", strings.Join(probs, "\n"))
	}
	if n := strings.Count(dom, `class="mark"`); n < 20 {
		t.Errorf("the rendered page has %d bars, want the bars of every chart", n)
	}
}

func TestChromiumCheckCatchesABrokenPage(t *testing.T) {
	// the same checks on a page whose chart never draws and whose script throws must fail
	path := filepath.Join(t.TempDir(), "broken.html")
	broken := `<!DOCTYPE html><html><body><figure class="chart" id="x"><figcaption>x</figcaption></figure>
<script>undefinedFunction();</script></body></html>`
	if err := os.WriteFile(path, []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	dom, console := chromium(t, path)
	probs := pageProblems(dom, console)
	joined := strings.Join(probs, "\n")
	if !strings.Contains(joined, "Uncaught ReferenceError") || !strings.Contains(joined, "chart not rendered") {
		t.Errorf("pageProblems(broken page) = %q, want the uncaught error and the unrendered chart", probs)
	}
}
