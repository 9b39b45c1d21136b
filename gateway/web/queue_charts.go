package web

import (
	"fmt"
	"html"
	"html/template"
	"strings"
	"time"
)

// The queue page's charts are SVG written here, on the server: no chart
// library, nothing from another origin, and no inline style (the CSP
// forbids it), so colours come from classes in admin.css and work in dark
// mode. Each chart is an image with a <title> and a <desc> that states its
// numbers, every bar carries its number as text, and states are told
// apart by pattern as well as colour.

// waitBucket is one bar of the queue-wait histogram: waits in [Min, Max).
type waitBucket struct {
	Label    string
	Min, Max time.Duration // Max 0: no upper bound
	Count    int
}

// waitBuckets are the histogram's bars: what a person waiting feels as
// "at once", "a coffee", "a meeting", "an afternoon".
func waitBuckets() []waitBucket {
	return []waitBucket{
		{Label: "< 1 min", Max: time.Minute},
		{Label: "1–5 min", Min: time.Minute, Max: 5 * time.Minute},
		{Label: "5–15 min", Min: 5 * time.Minute, Max: 15 * time.Minute},
		{Label: "15–60 min", Min: 15 * time.Minute, Max: time.Hour},
		{Label: "1–4 h", Min: time.Hour, Max: 4 * time.Hour},
		{Label: "> 4 h", Min: 4 * time.Hour},
	}
}

// bucketWaits counts waits into the histogram's bars.
func bucketWaits(waits []time.Duration) []waitBucket {
	bs := waitBuckets()
	for _, w := range waits {
		for i := range bs {
			if w >= bs[i].Min && (bs[i].Max == 0 || w < bs[i].Max) {
				bs[i].Count++
				break
			}
		}
	}
	return bs
}

// svgText escapes s for an SVG text node or attribute inside HTML.
func svgText(s string) string { return html.EscapeString(s) }

// chartOpen writes the <svg> element with its accessible name and
// description.
func chartOpen(b *strings.Builder, id string, w, h int, title, desc string) {
	fmt.Fprintf(b, `<svg class="chart" id="%s" role="img" viewBox="0 0 %d %d" width="%d" height="%d" aria-labelledby="%s-title %s-desc">`,
		id, w, h, w, h, id, id)
	fmt.Fprintf(b, `<title id="%s-title">%s</title><desc id="%s-desc">%s</desc>`, id, svgText(title), id, svgText(desc))
}

// waitHistogramSVG draws the histogram of hpcgate's queue waits.
func waitHistogramSVG(id string, bs []waitBucket, span string) template.HTML {
	const (
		w, h         = 520, 260
		left, right  = 44, 12
		top, bottom  = 24, 44
		plotW, plotH = w - left - right, h - top - bottom
	)
	total, most := 0, 0
	var parts []string
	for _, bk := range bs {
		total += bk.Count
		most = max(most, bk.Count)
		parts = append(parts, fmt.Sprintf("%s: %d", bk.Label, bk.Count))
	}
	title := fmt.Sprintf("Queue wait of hpcgate jobs that started in the last %s (%d jobs)", span, total)
	var b strings.Builder
	chartOpen(&b, id, w, h, title, "Number of jobs by time waited in the queue. "+strings.Join(parts, "; ")+".")
	scale := niceMax(most)
	// Grid lines with their values, so the bars can be read off.
	for _, v := range []int{0, scale / 2, scale} {
		y := top + plotH - plotH*v/scale
		fmt.Fprintf(&b, `<line class="grid" x1="%d" x2="%d" y1="%d" y2="%d"/>`, left, w-right, y, y)
		fmt.Fprintf(&b, `<text class="axis" x="%d" y="%d" text-anchor="end">%d</text>`, left-6, y+4, v)
	}
	slot := plotW / len(bs)
	barW := slot * 7 / 10
	for i, bk := range bs {
		x := left + i*slot + (slot-barW)/2
		bh := plotH * bk.Count / scale
		y := top + plotH - bh
		fmt.Fprintf(&b, `<rect class="bar" data-count="%d" x="%d" y="%d" width="%d" height="%d"><title>%s</title></rect>`,
			bk.Count, x, y, barW, bh, svgText(fmt.Sprintf("%s: %d jobs", bk.Label, bk.Count)))
		fmt.Fprintf(&b, `<text class="value" x="%d" y="%d" text-anchor="middle">%d</text>`, x+barW/2, y-5, bk.Count)
		fmt.Fprintf(&b, `<text class="axis" x="%d" y="%d" text-anchor="middle">%s</text>`, x+barW/2, top+plotH+18, svgText(bk.Label))
	}
	fmt.Fprintf(&b, `<text class="axis" x="%d" y="%d" text-anchor="middle">time waited in the queue</text>`, left+plotW/2, h-6)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// niceMax is the top of an axis showing n: 2, 4, 6, 8 or 10 times a
// power of ten, so the half-way line is a whole number too.
func niceMax(n int) int {
	for p := 1; ; p *= 10 {
		for _, m := range []int{2, 4, 6, 8, 10} {
			if m*p >= n {
				return m * p
			}
		}
	}
}

// stateStyle is how one job state is drawn: its class (colour) and
// pattern, so states differ by more than colour.
type stateStyle struct {
	State, Label string
}

// chartStates are the states the bars show, in stacking order; any other
// state is drawn as "other".
var chartStates = []stateStyle{
	{"running", "running"},
	{"pending", "pending"},
	{"completing", "completing"},
	{"other", "other"},
}

// patternDefs defines the fill patterns of the state classes.
func patternDefs(b *strings.Builder, id string) {
	b.WriteString(`<defs>`)
	// running: solid; pending: diagonal hatching; completing: dots;
	// other: cross-hatching.
	fmt.Fprintf(b, `<pattern id="%s-running" width="8" height="8" patternUnits="userSpaceOnUse"><rect class="c-running" width="8" height="8"/></pattern>`, id)
	fmt.Fprintf(b, `<pattern id="%s-pending" width="8" height="8" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect class="c-pending" width="8" height="8"/><rect class="hatch" width="3" height="8"/></pattern>`, id)
	fmt.Fprintf(b, `<pattern id="%s-completing" width="8" height="8" patternUnits="userSpaceOnUse"><rect class="c-completing" width="8" height="8"/><circle class="hatch" cx="4" cy="4" r="1.8"/></pattern>`, id)
	fmt.Fprintf(b, `<pattern id="%s-other" width="8" height="8" patternUnits="userSpaceOnUse"><rect class="c-other" width="8" height="8"/><path class="hatch-line" d="M0 0L8 8M8 0L0 8"/></pattern>`, id)
	b.WriteString(`</defs>`)
}

// partitionBar is one partition's jobs by chart state.
type partitionBar struct {
	Partition string
	Counts    map[string]int // by chartStates' State
	Total     int
}

// stateBarsSVG draws one horizontal bar per partition, stacked by state.
func stateBarsSVG(id string, bars []partitionBar) template.HTML {
	const (
		w             = 520
		labelW, right = 110, 48
		top, rowH     = 40, 30
		barH          = 20
		plotW         = w - labelW - right
	)
	h := top + rowH*max(len(bars), 1) + 8
	most := 0
	var parts []string
	for _, p := range bars {
		most = max(most, p.Total)
		var ps []string
		for _, st := range chartStates {
			if n := p.Counts[st.State]; n > 0 {
				ps = append(ps, fmt.Sprintf("%d %s", n, st.Label))
			}
		}
		parts = append(parts, fmt.Sprintf("%s: %d jobs (%s)", p.Partition, p.Total, strings.Join(ps, ", ")))
	}
	desc := "No jobs in the queue."
	if len(parts) > 0 {
		desc = strings.Join(parts, "; ") + "."
	}
	var b strings.Builder
	chartOpen(&b, id, w, h, "Jobs by state in each partition", desc)
	patternDefs(&b, id)
	// The legend: a swatch with each state's pattern and its name.
	x := labelW
	for _, st := range chartStates {
		fmt.Fprintf(&b, `<rect class="swatch" x="%d" y="8" width="14" height="14" fill="url(#%s-%s)"/>`, x, id, st.State)
		fmt.Fprintf(&b, `<text class="axis" x="%d" y="20">%s</text>`, x+19, svgText(st.Label))
		x += 26 + 8*len(st.Label)
	}
	if len(bars) == 0 {
		fmt.Fprintf(&b, `<text class="axis" x="%d" y="%d">no jobs</text>`, labelW, top+barH-5)
	}
	for i, p := range bars {
		y := top + i*rowH
		fmt.Fprintf(&b, `<text class="label" x="%d" y="%d" text-anchor="end">%s</text>`, labelW-8, y+barH-5, svgText(p.Partition))
		x := labelW
		for _, st := range chartStates {
			n := p.Counts[st.State]
			if n == 0 {
				continue
			}
			sw := max(plotW*n/most, 2)
			fmt.Fprintf(&b, `<rect class="seg" data-state="%s" data-count="%d" x="%d" y="%d" width="%d" height="%d" fill="url(#%s-%s)"><title>%s</title></rect>`,
				st.State, n, x, y, sw, barH, id, st.State, svgText(fmt.Sprintf("%s: %d %s", p.Partition, n, st.Label)))
			if sw >= 22 {
				fmt.Fprintf(&b, `<text class="seg-value" x="%d" y="%d" text-anchor="middle">%d</text>`, x+sw/2, y+barH-6, n)
			}
			x += sw
		}
		fmt.Fprintf(&b, `<text class="value" x="%d" y="%d">%d</text>`, x+6, y+barH-5, p.Total)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
