package report

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"image"
	"image/png"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"gonum.org/v1/plot/plotter"

	"github.com/ocluster-go/ocluster/sim"
)

var runPlotIDs = []string{"plot-wait-cdf", "plot-queue", "plot-utilisation", "plot-cache-hits"}

func comparisonPlotIDs(c *sim.Comparison) []string {
	ids := []string{"plot-wait-cdf"}
	for _, m := range c.Metrics {
		ids = append(ids, "plot-compare-"+m.Metric)
	}
	return ids
}

func run(t *testing.T, scenario string, seed uint64) *sim.Result {
	t.Helper()
	sc, err := sim.Open(scenario)
	if err != nil {
		t.Fatal(err)
	}
	r, err := sim.Run(sc, sim.Options{Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// compareWithItself compares the only policy with itself on seeds 1..3,
// which is enough to render every part of a comparison.
func compareWithItself(t *testing.T, scenario string) *sim.Comparison {
	t.Helper()
	samples := []string{"1", "2", "3"}
	runs := make([][]*sim.Result, 2)
	for p := range runs {
		for seed := range uint64(len(samples)) {
			runs[p] = append(runs[p], run(t, scenario, seed+1))
		}
	}
	c, err := sim.Compare(scenario, []string{"ocluster", "ocluster"}, samples, runs)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// parsed is what a test reads back from a report.
type parsed struct {
	title string
	cells []string          // the text of every table cell, in order
	facts map[string]string // headline numbers by label
	plots map[string]*plotStats
}

type plotStats struct {
	svgs, paths int
	// marks counts the paths drawn in colour, that is data rather than
	// axes, text or background.
	marks   int
	caption string
}

// parsePage reads a report as XML, which the pages are written to be, so
// that a tag left open or a stray "<" fails the test. Each element with a
// "plot-" id collects the SVG drawing inside it.
func parsePage(t *testing.T, html []byte) parsed {
	t.Helper()
	if !bytes.HasPrefix(html, []byte("<!DOCTYPE html>\n<html")) {
		t.Errorf("page does not start with an HTML5 doctype: %.40q", html)
	}
	for _, external := range []string{"<script", "<link", "src=", "url(", "@import"} {
		if bytes.Contains(html, []byte(external)) {
			t.Errorf("page is not self-contained: it has %q", external)
		}
	}
	pg := parsed{facts: map[string]string{}, plots: map[string]*plotStats{}}
	type frame struct {
		name, plot string
		text       *strings.Builder
	}
	var stack []frame
	var label string
	d := xml.NewDecoder(bytes.NewReader(html))
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("page is not well formed: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			f := frame{name: tok.Name.Local}
			if len(stack) > 0 {
				f.plot = stack[len(stack)-1].plot
			}
			if id := attr(tok, "id"); strings.HasPrefix(id, "plot-") {
				if pg.plots[id] != nil {
					t.Errorf("two elements have id %s", id)
				}
				f.plot, pg.plots[id] = id, &plotStats{}
			}
			if ps := pg.plots[f.plot]; ps != nil {
				switch f.name {
				case "svg":
					ps.svgs++
				case "path":
					if attr(tok, "d") != "" {
						ps.paths++
					}
					if coloured(attr(tok, "style")) {
						ps.marks++
					}
				}
			}
			switch f.name {
			case "title", "th", "td", "dt", "dd", "figcaption":
				f.text = new(strings.Builder)
			}
			stack = append(stack, f)
		case xml.EndElement:
			f := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			switch f.name {
			case "title":
				if f.plot == "" {
					pg.title = f.text.String()
				}
			case "th", "td":
				pg.cells = append(pg.cells, f.text.String())
			case "dt":
				label = f.text.String()
			case "dd":
				pg.facts[label] = f.text.String()
			case "figcaption":
				pg.plots[f.plot].caption = f.text.String()
			}
		case xml.CharData:
			for _, f := range stack {
				if f.text != nil {
					f.text.Write(tok)
				}
			}
		}
	}
	return pg
}

func attr(e xml.StartElement, name string) string {
	for _, a := range e.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// coloured says whether an SVG style strokes or fills in a colour other
// than the black of axes and text and the white of the background.
func coloured(style string) bool {
	for _, decl := range strings.Split(style, ";") {
		k, v, _ := strings.Cut(decl, ":")
		if (k == "stroke" || k == "fill") && strings.HasPrefix(v, "#") && v != "#000000" && v != "#FFFFFF" {
			return true
		}
	}
	return false
}

// checkPlots checks that every id holds one SVG with paths, that data are
// drawn in the plots named in drawn, and that each has a caption.
func checkPlots(t *testing.T, pg parsed, ids []string, drawn func(id string) bool) {
	t.Helper()
	if len(pg.plots) != len(ids) {
		t.Errorf("page has %d plots, want %d", len(pg.plots), len(ids))
	}
	for _, id := range ids {
		ps := pg.plots[id]
		switch {
		case ps == nil:
			t.Errorf("no element with id %s", id)
		case ps.svgs != 1 || ps.paths == 0:
			t.Errorf("%s has %d svg elements and %d paths", id, ps.svgs, ps.paths)
		case drawn(id) && ps.marks == 0:
			t.Errorf("%s draws no data", id)
		case ps.caption == "":
			t.Errorf("%s has no caption", id)
		}
	}
}

func readFile(t *testing.T, dir, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkJSON checks that the JSON file decodes into a value equal to want.
func checkJSON[T any](t *testing.T, data []byte, want *T) {
	t.Helper()
	got := new(T)
	if err := json.Unmarshal(data, got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("JSON does not round-trip:\n got %+v\nwant %+v", got, want)
	}
}

func checkCSV(t *testing.T, data []byte, write func(io.Writer) error) {
	t.Helper()
	var want bytes.Buffer
	if err := write(&want); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, want.Bytes()) {
		t.Errorf("CSV differs from the CSV writer's:\n%s\nwant\n%s", data, want.Bytes())
	}
}

// cellsAfter returns the n cells that follow the first one equal to head.
func cellsAfter(pg parsed, head string, n int) []string {
	i := slices.Index(pg.cells, head)
	if i < 0 || i+n >= len(pg.cells) {
		return nil
	}
	return pg.cells[i+1 : i+1+n]
}

func TestWriteRun(t *testing.T) {
	for _, scenario := range []string{"small", "hot-hint", "failures", "ocluster-stress"} {
		t.Run(scenario, func(t *testing.T) {
			r := run(t, scenario, 1)
			dir := filepath.Join(t.TempDir(), "new", "dir")
			if err := WriteRun(dir, r); err != nil {
				t.Fatal(err)
			}
			checkJSON(t, readFile(t, dir, "result.json"), r)
			checkCSV(t, readFile(t, dir, "result.csv"), func(w io.Writer) error { return CSV(w, r) })

			html := readFile(t, dir, "report.html")
			if bytes.Contains(html, []byte("NaN")) {
				t.Error("page has NaN")
			}
			pg := parsePage(t, html)
			if want := fmt.Sprintf("%s · policy %s · seed %d", r.Scenario, r.Policy, r.Seed); pg.title != want {
				t.Errorf("title %q, want %q", pg.title, want)
			}
			for label, want := range map[string]string{"jobs": count(r.Jobs), "wait p95": Seconds(r.WaitP95S), "utilisation": percent(r.Utilisation)} {
				if pg.facts[label] != want {
					t.Errorf("headline %s is %q, want %q", label, pg.facts[label], want)
				}
			}
			// The table's "all" row: jobs, failed, cancelled, wait p50, p95.
			want := []string{count(r.Jobs), count(r.Failed), count(r.Cancelled), Seconds(r.WaitP50S), Seconds(r.WaitP95S)}
			if got := cellsAfter(pg, "all", len(want)); !slices.Equal(got, want) {
				t.Errorf("row all starts %q, want %q", got, want)
			}
			for _, c := range r.Clients {
				if want := []string{count(c.Jobs)}; !slices.Equal(cellsAfter(pg, c.Client, 1), want) {
					t.Errorf("no row for client %s with %s jobs", c.Client, want[0])
				}
			}
			checkPlots(t, pg, runPlotIDs, func(string) bool { return true })
		})
	}
}

func TestWriteComparison(t *testing.T) {
	c := compareWithItself(t, "small")
	dir := t.TempDir()
	if err := WriteComparison(dir, c); err != nil {
		t.Fatal(err)
	}
	checkJSON(t, readFile(t, dir, "comparison.json"), c)
	checkCSV(t, readFile(t, dir, "comparison.csv"), func(w io.Writer) error { return ComparisonCSV(w, c) })

	html := readFile(t, dir, "report.html")
	if bytes.Contains(html, []byte("NaN")) {
		t.Error("page has NaN")
	}
	pg := parsePage(t, html)
	if want := "small · ocluster vs ocluster · 3 samples"; pg.title != want {
		t.Errorf("title %q, want %q", pg.title, want)
	}
	means := map[string]float64{}
	for _, m := range c.Metrics {
		means["plot-compare-"+m.Metric] = m.Policies[0].Mean
		got := cellsAfter(pg, metricLabel(m), 3)
		if len(got) != 3 || got[0] != WithCI(m, m.Policies[0]) || got[1] != WithCI(m, m.Policies[1]) ||
			!strings.HasPrefix(got[2], diffWithCI(m, m.Differences[0].Diff)) {
			t.Errorf("row %s is %q", m.Metric, got)
		}
	}
	// A bar of height 0 is no evidence of drawing.
	checkPlots(t, pg, comparisonPlotIDs(c), func(id string) bool { return id == "plot-wait-cdf" || means[id] != 0 })
}

// TestEmptyData renders results and comparisons with little or odd data,
// which must give plots with axes and a note, never a panic or a NaN.
func TestEmptyData(t *testing.T) {
	flat := make([]float64, 101) // every wait 0
	long := make([]float64, 101) // waits up to a day: a log axis
	for i := range long {
		long[i] = 864 * float64(i)
	}
	runs := map[string]struct {
		r    *sim.Result
		note map[string]string // a plot's note, by id
	}{
		"zero": {&sim.Result{}, map[string]string{
			"plot-wait-cdf": "No job started", "plot-queue": "No samples", "plot-cache-hits": "No hinted job"}},
		"one sample": {&sim.Result{
			Scenario: "hand", Policy: "p", Seed: 7, Stats: sim.Stats{Jobs: 3, Started: 2},
			Pools: []sim.Group{{Pool: "a"}, {Pool: "b"}},
			Clients: []sim.Group{
				{Pool: "a", Client: "idle", Stats: sim.Stats{Jobs: 1}},
				{Pool: "b", Client: "flat", Stats: sim.Stats{Jobs: 2, Started: 2}, WaitQuantilesS: flat},
			},
			Series: sim.Series{T: []float64{0}, Queued: []int{1}, Running: []int{0}, Capacity: []int{0}, Starts: []int{0}, Hits: []int{0},
				Clients: []sim.ClientSeries{{Pool: "a", Client: "idle", Queued: []int{1}}}},
		}, map[string]string{"plot-wait-cdf": "No waits to draw for: a/idle", "plot-cache-hits": "No hinted job"}},
		"odd": {&sim.Result{
			Clients: []sim.Group{
				{Client: "one quantile", Stats: sim.Stats{Started: 1}, WaitQuantilesS: []float64{5}},
				{Client: "nan", Stats: sim.Stats{Started: 1}, WaitQuantilesS: []float64{0, math.NaN(), 1}},
				{Client: "long", Stats: sim.Stats{Started: 9}, WaitQuantilesS: long},
			},
			// Lengths disagree, as they might in a hand-edited file.
			Series: sim.Series{T: []float64{0, 600, 1200}, Queued: []int{4, 2}, Running: []int{1}, Capacity: []int{2, 2, 2},
				Starts: []int{2, 0, 1}, Hits: []int{1, 1}},
		}, map[string]string{"plot-wait-cdf": "logarithmic"}},
	}
	for name, tc := range runs {
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			if err := HTML(&b, tc.r); err != nil {
				t.Fatal(err)
			}
			checkEmpty(t, b.Bytes(), runPlotIDs, tc.note)
		})
	}

	empty := &sim.Result{}
	one, err := sim.Compare("hand", []string{"a", "b"}, []string{"1"}, [][]*sim.Result{{empty}, {empty}})
	if err != nil {
		t.Fatal(err)
	}
	comparisons := map[string]struct {
		c    *sim.Comparison
		note map[string]string
	}{
		"one empty sample": {one, map[string]string{"plot-wait-cdf": "left out", "plot-compare-wait_p95_s": "single sample"}},
		"no runs":          {&sim.Comparison{Scenario: "bare", Policies: []string{"a"}}, map[string]string{"plot-wait-cdf": "left out"}},
	}
	for name, tc := range comparisons {
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			if err := ComparisonHTML(&b, tc.c); err != nil {
				t.Fatal(err)
			}
			checkEmpty(t, b.Bytes(), comparisonPlotIDs(tc.c), tc.note)
		})
	}
}

func checkEmpty(t *testing.T, html []byte, ids []string, notes map[string]string) {
	t.Helper()
	for _, bad := range []string{"NaN", "Inf"} {
		if bytes.Contains(html, []byte(bad)) {
			t.Errorf("page has %s", bad)
		}
	}
	pg := parsePage(t, html)
	checkPlots(t, pg, ids, func(string) bool { return false })
	for id, note := range notes {
		if ps := pg.plots[id]; ps == nil || !strings.Contains(ps.caption, note) {
			t.Errorf("caption of %s does not say %q", id, note)
		}
	}
}

func TestWaitCDF(t *testing.T) {
	linear, double, tied := make([]float64, 101), make([]float64, 101), make([]float64, 101)
	for i := range linear {
		linear[i], double[i] = float64(i), 2*float64(i)
	}
	tied[100] = 10 // 99% of waits are 0
	at := func(pts plotter.XYs, x float64) float64 {
		for _, p := range pts {
			if p.X == x {
				return p.Y
			}
		}
		return math.NaN()
	}
	for _, tc := range []struct {
		name   string
		groups []sim.Group
		x, y   float64
	}{
		{"one client", []sim.Group{{Stats: sim.Stats{Started: 5}, WaitQuantilesS: linear}}, 50, 0.5},
		// At 100 s all of the first client's waits and half the second's
		// are over, weighted 1:3.
		{"weighted", []sim.Group{{Stats: sim.Stats{Started: 1}, WaitQuantilesS: linear}, {Stats: sim.Stats{Started: 3}, WaitQuantilesS: double}}, 100, 0.625},
		{"ties", []sim.Group{{Stats: sim.Stats{Started: 1}, WaitQuantilesS: tied}}, 0, 0.99},
		{"none started", []sim.Group{{WaitQuantilesS: linear}}, 50, math.NaN()},
	} {
		pts := waitCDF(tc.groups)
		if y := at(pts, tc.x); math.Abs(y-tc.y) > 1e-12 && !(math.IsNaN(y) && math.IsNaN(tc.y)) {
			t.Errorf("%s: CDF at %g is %g, want %g", tc.name, tc.x, y, tc.y)
		}
	}
}

// chromium returns the browser's path, or skips the test.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	t.Skip("neither chromium nor chromium-browser is in PATH: install the Debian package chromium " +
		"(scripts/test.sh installs it) to check the reports in a browser")
	return ""
}

// headless runs chromium on url and returns its standard output.
func headless(t *testing.T, bin, url string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args = append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--no-first-run", "--hide-scrollbars", "--user-data-dir=" + t.TempDir()}, args...)
	cmd := exec.CommandContext(ctx, bin, append(args, url)...)
	// Chromium starts helper processes; give them a group of their own so
	// that a timeout, and the end of the test, ends all of them.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if cmd.Process != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // helpers left behind, if any
	}
	if err != nil {
		t.Fatalf("chromium %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return stdout.Bytes()
}

// TestBrowser loads the reports in headless Chromium: the rendered DOM
// must keep every plot's SVG, and a screenshot must show the plots.
func TestBrowser(t *testing.T) {
	bin := chromium(t)
	r := run(t, "small", 1)
	c := compareWithItself(t, "small")
	dir := t.TempDir()
	runDir, cmpDir := filepath.Join(dir, "run"), filepath.Join(dir, "comparison")
	if err := WriteRun(runDir, r); err != nil {
		t.Fatal(err)
	}
	if err := WriteComparison(cmpDir, c); err != nil {
		t.Fatal(err)
	}
	for _, pg := range []struct {
		dir string
		ids []string
	}{{runDir, runPlotIDs}, {cmpDir, comparisonPlotIDs(c)}} {
		dom := string(headless(t, bin, "file://"+filepath.Join(pg.dir, "report.html"), "--dump-dom"))
		for _, id := range pg.ids {
			_, fig, found := strings.Cut(dom, `id="`+id+`"`)
			fig, _, _ = strings.Cut(fig, "</figure>")
			if !found || !strings.Contains(fig, "<svg") || !strings.Contains(fig, "<path") {
				t.Errorf("%s: rendered DOM has no %s with a drawn svg", pg.dir, id)
			}
		}
	}

	shot := filepath.Join(dir, "out.png")
	headless(t, bin, "file://"+filepath.Join(runDir, "report.html"), "--screenshot="+shot, "--window-size=1280,4000")
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	colour, plots, ink := inkInPlots(img)
	t.Logf("screenshot: %d coloured pixels in %v, of which %.1f%% is not white", colour, plots, 100*ink)
	if colour < 5000 || ink < 0.025 {
		t.Errorf("screenshot shows too little of the plots: %d coloured pixels in %v, %.1f%% not white", colour, plots, 100*ink)
	}
}

// inkInPlots finds the plots in a screenshot by their colour, which the
// page's grey styles never use: it returns how many pixels are coloured,
// the box around them, and the share of that box that is not white.
func inkInPlots(img image.Image) (colour int, box image.Rectangle, ink float64) {
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			if max(r, g, b)-min(r, g, b) > 0x3000 {
				colour++
				box = box.Union(image.Rect(x, y, x+1, y+1))
			}
		}
	}
	if box.Empty() {
		return 0, box, 0
	}
	inked := 0
	for y := box.Min.Y; y < box.Max.Y; y++ {
		for x := box.Min.X; x < box.Max.X; x++ {
			if r, g, b, _ := img.At(x, y).RGBA(); min(r, g, b) < 0xf000 {
				inked++
			}
		}
	}
	return colour, box, float64(inked) / float64(box.Dx()*box.Dy())
}
