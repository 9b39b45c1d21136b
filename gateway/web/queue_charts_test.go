package web

import (
	"encoding/xml"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestBucketWaits(t *testing.T) {
	tests := []struct {
		wait   time.Duration
		bucket string
	}{
		{0, "< 1 min"},
		{59*time.Second + 999*time.Millisecond, "< 1 min"},
		{time.Minute, "1–5 min"},
		{5*time.Minute - time.Second, "1–5 min"},
		{5 * time.Minute, "5–15 min"},
		{15 * time.Minute, "15–60 min"},
		{time.Hour - time.Second, "15–60 min"},
		{time.Hour, "1–4 h"},
		{4*time.Hour - time.Second, "1–4 h"},
		{4 * time.Hour, "> 4 h"},
		{72 * time.Hour, "> 4 h"},
	}
	for _, tt := range tests {
		var got []string
		for _, b := range bucketWaits([]time.Duration{tt.wait}) {
			if b.Count == 1 {
				got = append(got, b.Label)
			}
		}
		if !slices.Equal(got, []string{tt.bucket}) {
			t.Errorf("a wait of %v counts in %v, want %s", tt.wait, got, tt.bucket)
		}
	}
}

func TestNiceMax(t *testing.T) {
	for n, want := range map[int]int{0: 2, 1: 2, 2: 2, 3: 4, 7: 8, 10: 10, 11: 20, 45: 60, 81: 100, 101: 200, 9001: 10000} {
		if got := niceMax(n); got != want {
			t.Errorf("niceMax(%d) = %d, want %d", n, got, want)
		}
	}
}

// svgNode is an SVG element as encoding/xml reads it.
type svgNode struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Text    string     `xml:",chardata"`
	Nodes   []svgNode  `xml:",any"`
}

func (n svgNode) attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// walk calls f on n and every element under it.
func (n svgNode) walk(f func(svgNode)) {
	f(n)
	for _, c := range n.Nodes {
		c.walk(f)
	}
}

func parseSVG(t *testing.T, s string) svgNode {
	t.Helper()
	var root svgNode
	if err := xml.Unmarshal([]byte(s), &root); err != nil {
		t.Fatalf("the chart is not well-formed SVG: %v\n%s", err, s)
	}
	if root.XMLName.Local != "svg" || root.attr("role") != "img" || root.attr("aria-labelledby") == "" {
		t.Errorf("the chart is not an accessible image: %+v", root.Attrs)
	}
	return root
}

func TestWaitHistogramSVG(t *testing.T) {
	waits := []time.Duration{10 * time.Second, 2 * time.Minute, 3 * time.Minute, 4 * time.Minute, 20 * time.Minute, 5 * time.Hour}
	root := parseSVG(t, string(waitHistogramSVG("w", bucketWaits(waits), "24 hours")))
	var bars, values, title, desc []string
	root.walk(func(n svgNode) {
		switch {
		case n.XMLName.Local == "rect" && n.attr("class") == "bar":
			bars = append(bars, n.attr("data-count"))
		case n.XMLName.Local == "text" && n.attr("class") == "value":
			values = append(values, n.Text)
		case n.XMLName.Local == "title" && n.attr("id") == "w-title":
			title = append(title, n.Text)
		case n.XMLName.Local == "desc":
			desc = append(desc, n.Text)
		}
	})
	want := []string{"1", "3", "0", "1", "0", "1"}
	if !slices.Equal(bars, want) || !slices.Equal(values, want) {
		t.Errorf("bars %v with labels %v, want %v", bars, values, want)
	}
	if len(title) != 1 || title[0] != "Queue wait of hpcgate jobs that started in the last 24 hours (6 jobs)" {
		t.Errorf("title %q", title)
	}
	if len(desc) != 1 || !strings.Contains(desc[0], "1–5 min: 3; 5–15 min: 0") {
		t.Errorf("the description does not state the numbers: %q", desc)
	}
}

func TestStateBarsSVG(t *testing.T) {
	bars := []partitionBar{
		{Partition: "debug", Counts: map[string]int{"running": 3, "pending": 5}, Total: 8},
		{Partition: `a<b&"c"`, Counts: map[string]int{"other": 1}, Total: 1},
	}
	root := parseSVG(t, string(stateBarsSVG("s", bars)))
	got := map[string][]string{}
	var labels, totals []string
	patterns := map[string]bool{}
	root.walk(func(n svgNode) {
		switch {
		case n.XMLName.Local == "pattern":
			patterns["url(#"+n.attr("id")+")"] = true
		case n.XMLName.Local == "text" && n.attr("class") == "label":
			labels = append(labels, n.Text)
		case n.XMLName.Local == "text" && n.attr("class") == "value":
			totals = append(totals, n.Text)
		case n.XMLName.Local == "rect" && n.attr("class") == "seg":
			p := labels[len(labels)-1]
			got[p] = append(got[p], n.attr("data-state")+"="+n.attr("data-count"))
			if !patterns[n.attr("fill")] {
				t.Errorf("segment %s of %s is filled with %q, not one of the chart's patterns", n.attr("data-state"), p, n.attr("fill"))
			}
		}
	})
	if !slices.Equal(labels, []string{"debug", `a<b&"c"`}) || !slices.Equal(totals, []string{"8", "1"}) {
		t.Errorf("labels %q totals %q", labels, totals)
	}
	if !slices.Equal(got["debug"], []string{"running=3", "pending=5"}) || !slices.Equal(got[`a<b&"c"`], []string{"other=1"}) {
		t.Errorf("segments %v", got)
	}
	if len(patterns) != len(chartStates) {
		t.Errorf("%d patterns for %d states", len(patterns), len(chartStates))
	}
	// An empty queue still makes a valid chart that says so.
	empty := parseSVG(t, string(stateBarsSVG("e", nil)))
	found := false
	empty.walk(func(n svgNode) { found = found || (n.XMLName.Local == "desc" && n.Text == "No jobs in the queue.") })
	if !found {
		t.Error("the empty chart does not say the queue is empty")
	}
}
