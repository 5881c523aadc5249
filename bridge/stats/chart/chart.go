package chart

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/licbridge/licbridge/bridge/stats"
)

// Style selects the characters of bars and sparklines.
type Style struct {
	bar   string
	empty string
	// levels are the sparkline characters from the lowest non-zero level up;
	// zero is always a space.
	levels []string
}

var (
	// Unicode uses block elements, for terminals.
	Unicode = Style{bar: "█", empty: "░", levels: []string{"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"}}
	// ASCII uses plain characters, for pipes, files and dumb terminals.
	ASCII = Style{bar: "#", empty: ".", levels: []string{".", ":", "-", "=", "+", "*", "#", "@"}}
)

// BarWidth is the width of the daily bar at the report's peak.
const BarWidth = 20

// Write prints the reports one after the other.
func Write(w io.Writer, reps []stats.Report, st Style) error {
	var b strings.Builder
	for i, rep := range reps {
		if i > 0 {
			b.WriteByte('\n')
		}
		writeOne(&b, rep, st)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeOne(b *strings.Builder, rep stats.Report, st Style) {
	fmt.Fprintf(b, "%s: peak %d channels over %d days (%s)\n", rep.Product, rep.Peak, len(rep.Days), rep.Zone)
	if rep.Peak == 0 {
		b.WriteString("  no channels recorded in this period\n")
		return
	}
	byDay := map[string][]int{}
	for _, w := range rep.Windows {
		d := w.Start.Format("2006-01-02")
		byDay[d] = append(byDay[d], w.Peak)
	}
	fmt.Fprintf(b, "  %-10s  %5s  %-*s  %s\n", "day", "peak", BarWidth, "", "hourly peaks, 00 to 23")
	for _, d := range rep.Days {
		n := (d.Peak*BarWidth + rep.Peak - 1) / rep.Peak // round up: any use shows
		bar := strings.Repeat(st.bar, n) + strings.Repeat(st.empty, BarWidth-n)
		fmt.Fprintf(b, "  %-10s  %5d  %s  %s\n", d.Date, d.Peak, bar, spark(byDay[d.Date], rep.Peak, st))
	}
	if nodes := nodePeaks(rep); len(nodes) > 0 {
		b.WriteString("  per node, peak:")
		for i, n := range nodes {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(b, " %s %d", n.name, n.peak)
		}
		b.WriteByte('\n')
	}
}

// spark draws one character per hour, scaled to top.
func spark(peaks []int, top int, st Style) string {
	var b strings.Builder
	for _, p := range peaks {
		if p <= 0 {
			b.WriteByte(' ')
			continue
		}
		i := (p*len(st.levels) - 1) / top
		b.WriteString(st.levels[min(i, len(st.levels)-1)])
	}
	return b.String()
}

type nodePeak struct {
	name string
	peak int
}

func nodePeaks(rep stats.Report) []nodePeak {
	m := map[string]int{}
	for _, w := range rep.Windows {
		for n, v := range w.Nodes {
			m[n] = max(m[n], v)
		}
	}
	out := make([]nodePeak, 0, len(m))
	for n, v := range m {
		out = append(out, nodePeak{n, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}
