package sipmon

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteText prints the report for a person: totals, per product, per hour window.
func (r *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	p := func(format string, a ...any) { fmt.Fprintf(tw, format, a...) }

	sensors := map[string]bool{}
	for _, s := range r.sensors {
		sensors[s] = true
	}
	for _, l := range r.Legs { // a Report made by hand
		for _, s := range l.Sensors {
			sensors[s] = true
		}
	}
	p("SIP side monitor\n")
	if !r.First.IsZero() {
		p("  period\t%s .. %s\n", stamp(r.First), stamp(r.Last))
	}
	if len(sensors) > 1 || !sensors[""] && len(sensors) > 0 {
		names := make([]string, 0, len(sensors))
		for s := range sensors {
			if s == "" {
				s = "(unnamed)"
			}
			names = append(names, s)
		}
		sort.Strings(names)
		p("  sensors\t%s\n", strings.Join(names, ", "))
	}
	p("  SIP messages\t%d\t(malformed %d, duplicates %d, orphans %d, keep-alives %d)\n",
		r.SIPMessages, r.Malformed, r.DuplicateMessages, r.OrphanMessages, r.KeepAlives)
	p("\nLegs\n")
	p("  answered\t%d\n", r.LegsAnswered)
	p("  attempted\t%d\t(unanswered %d; INVITEs without any response, not legs: %d)\n", r.LegsAttempted, r.LegsUnanswered, r.UnansweredInvites)
	if r.PeakConcurrentLegs > 0 {
		p("  peak concurrent\t%d\tat %s\n", r.PeakConcurrentLegs, stamp(r.PeakAt))
	} else {
		p("  peak concurrent\t0\n")
	}
	p("  merged across sensors\t%d\n", r.DuplicatesMerged)
	p("  merged by correlation\t%d\n", r.CorrelatedMerged)
	if r.TimedOut > 0 || r.Evicted > 0 {
		p("  closed by timeout\t%d\t(evicted %d)\n", r.TimedOut, r.Evicted)
	}
	p("\nProduct\tlegs\tpeak concurrent\n")
	for _, name := range []string{ProductG729, ProductFax} {
		pc := r.ByProduct[name]
		p("  %s\t%d\t%d\n", name, pc.Legs, pc.PeakConcurrentLegs)
	}
	if len(r.Windows) > 0 {
		p("\nHour (UTC)\tpeak\tg729\tfax\n")
		for _, win := range r.Windows {
			p("  %s\t%d\t%d\t%d\n", win.Start.UTC().Format("2006-01-02 15:04"), win.PeakConcurrentLegs, win.ByProduct[ProductG729], win.ByProduct[ProductFax])
		}
	}
	return tw.Flush()
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000000Z") }
